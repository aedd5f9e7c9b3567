using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Akka.Actor;
using Akka.Configuration;
using Akka.Remote.Transport;
using Google.Protobuf;
using ReplayCluster.Cluster.Remoting;
using ReplayCluster.Configuration;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Tests.Cluster.Remoting;

/// <summary>
/// The cluster transport on loopback: frames arrive whole and in order, a closing association writes what it holds,
/// bad frames and failed handshakes cost one connection and are counted, and a peer that hangs up in the middle of
/// the TLS handshake leaves the node running (Akka's own transport stops the whole actor system then: exit 79).
/// </summary>
public sealed class ClusterTcpTransportSpecs : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly ActorSystem _system = ActorSystem.Create("transport-specs", "akka.loglevel = WARNING");
    private readonly List<ClusterTcpTransport> _transports = [];

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        foreach (var transport in _transports)
        {
            await transport.Shutdown();
        }

        await _system.Terminate();
    }

    [Fact]
    public async Task Frames_of_every_size_arrive_whole_and_in_order()
    {
        var (_, _, outbound, received) = await ConnectAsync();

        // Empty, small, one larger than a send batch, one of 1 MB, then a burst of small ones queued behind it.
        int[] sizes = [0, 1, 100, ClusterTcpConnection.BatchBytes + 10, 1_000_000, .. Enumerable.Repeat(37, 2_000)];
        var sent = sizes.Select((size, i) => Payload(size, i)).ToList();
        foreach (var payload in sent)
        {
            Assert.True(outbound.Write(payload));
        }

        await received.WaitForPayloadsAsync(sent.Count);
        Assert.Equal(sent.Select(p => p.ToBase64()), received.Payloads.Select(p => p.ToBase64()));
    }

    [Fact]
    public async Task A_closing_association_writes_what_it_holds_then_the_peer_hears_it_end()
    {
        // Small socket buffers and a receiver that reads only after the close: 4 MB cannot all be in the kernel when
        // Disassociate is called, so what arrives was written by the closing connection's own write loop.
        var (a, b, outbound, received) = await ConnectAsync(small: true);

        for (var i = 0; i < 200; i++)
        {
            Assert.True(outbound.Write(Payload(20_000, i)));
        }

        outbound.Disassociate("test", _system.Log);
        received.Start();

        await received.Disassociated.WaitAsync(Patience, TestContext.Current.CancellationToken);
        Assert.Equal(200, received.Payloads.Count);
        Assert.False(outbound.Write(Payload(1, 0)), "a write after Disassociate must be refused (Akka then knows it was dropped)");
        await WaitUntilAsync(() => (a.OpenConnections, b.OpenConnections) == (0, 0));
        Assert.Equal((0, 0), (a.OpenConnections, b.OpenConnections));
    }

    [Fact]
    public async Task A_frame_longer_than_the_maximum_ends_that_connection_and_is_counted()
    {
        var (b, bInbound) = await ListenAsync();
        using var rogue = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await rogue.ConnectAsync(IPAddress.Loopback, b.LocalAddress!.Port!.Value, TestContext.Current.CancellationToken);
        var inbound = await bInbound.NextAsync();
        var received = new Recorder();
        inbound.ReadHandlerSource.SetResult(received);

        var length = new byte[4];
        b.Settings.WriteLength(length, b.Settings.MaximumFrameSize + 1);
        await rogue.SendAsync(length, TestContext.Current.CancellationToken);

        await received.Disassociated.WaitAsync(Patience, TestContext.Current.CancellationToken);
        Assert.Equal(1, b.RefusedFrames);
        Assert.Empty(received.Payloads);
        Assert.Contains(ClusterConnectionFailures.ByReason, p => p.Key == "frame_too_large" && p.Value >= 1);
    }

    [Fact]
    public async Task A_stopped_transport_refuses_new_connections_at_once()
    {
        var (a, _) = await ListenAsync();
        var (b, _) = await ListenAsync();
        var address = b.LocalAddress!;
        await b.Shutdown();

        var failure = await Assert.ThrowsAsync<InvalidAssociationException>(() => a.Associate(address).WaitAsync(Patience, TestContext.Current.CancellationToken));
        Assert.Contains("connect failed", failure.Message, StringComparison.Ordinal);
        Assert.Equal(1, a.FailedOutbound);
    }

    [Fact]
    public async Task A_peer_that_hangs_up_in_the_tls_handshake_fails_one_association_and_the_node_keeps_running()
    {
        await using var node = await InProcessNode.StartAsync(NodeRoles.Coordinator, new NodeConfigOverrides { Port = "0" });
        // What a capture node that stops, crashes or exits on a bad argument looks like to a peer connecting to it
        // at that moment: the TCP connection is accepted, then closed before the TLS handshake ends.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var hangUps = 0;
        var server = Task.Run(async () =>
        {
            while (true)
            {
                using var socket = await listener.AcceptSocketAsync(TestContext.Current.CancellationToken);
                var hello = new byte[512];
                await socket.ReceiveAsync(hello, TestContext.Current.CancellationToken); // the client's hello
                Interlocked.Increment(ref hangUps);
            }
        }, TestContext.Current.CancellationToken);

        var outboundBefore = ClusterConnectionFailures.ByReason.Single(p => p.Key == "outbound").Value;
        var gone = node.System.ActorSelection($"akka.ssl.tcp://{node.System.Name}@127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/user/nobody");
        var deadline = DateTime.UtcNow + Patience;
        while (Volatile.Read(ref hangUps) < 3 && DateTime.UtcNow < deadline)
        {
            gone.Tell("hello"); // each attempt after the previous one's gate (retry-gate-closed-for) connects again
            await Task.Delay(300, TestContext.Current.CancellationToken);
        }

        await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);
        Assert.False(node.System.WhenTerminated.IsCompleted, $"the node stopped after a peer hung up mid-handshake ({hangUps} times)");
        Assert.True(Volatile.Read(ref hangUps) >= 3, $"the node connected {hangUps} times");
        Assert.Equal(Akka.Cluster.MemberStatus.Up, node.Cluster.SelfMember.Status);
        Assert.True(ClusterConnectionFailures.ByReason.Single(p => p.Key == "outbound").Value - outboundBefore >= 3, "the failed associations are counted");
        Assert.DoesNotContain(node.Logs.Lines, l => l.Contains("Node stopping", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_peer_that_does_not_speak_tls_is_refused_and_counted_and_the_node_keeps_running()
    {
        await using var node = await InProcessNode.StartAsync(NodeRoles.Coordinator, new NodeConfigOverrides { Port = "0" });
        var before = ClusterConnectionFailures.ByReason.Single(p => p.Key == "inbound_handshake").Value;
        using (var plain = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await plain.ConnectAsync(IPAddress.Loopback, node.Cluster.SelfAddress.Port!.Value, TestContext.Current.CancellationToken);
            await plain.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray(), TestContext.Current.CancellationToken);
            var buffer = new byte[256];
            try
            {
                while (await plain.ReceiveAsync(buffer, TestContext.Current.CancellationToken) > 0)
                {
                    // until the node closes it
                }
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
            {
                // closed with our request unread: the kernel answers with a reset
            }
        }

        var refusal = await node.Logs.WaitForAsync(l => l.Contains("Refused a cluster connection from", StringComparison.Ordinal), Patience);
        Assert.Contains("not a TLS record", refusal, StringComparison.Ordinal);
        Assert.True(ClusterConnectionFailures.ByReason.Single(p => p.Key == "inbound_handshake").Value > before);
        Assert.False(node.System.WhenTerminated.IsCompleted);
    }

    // Two listening transports, an association from the first to the second, and what the second reads from it.
    // With small, the receiving side reads only once the test calls Received.Start().
    private async Task<(ClusterTcpTransport A, ClusterTcpTransport B, AssociationHandle Outbound, RecorderHandle Received)> ConnectAsync(bool small = false)
    {
        var (a, _) = await ListenAsync(small);
        var (b, bInbound) = await ListenAsync(small);
        var outbound = await a.Associate(b.LocalAddress!);
        var inbound = await bInbound.NextAsync();
        var received = new RecorderHandle(inbound);
        if (!small)
        {
            received.Start();
        }

        outbound.ReadHandlerSource.SetResult(new Recorder());
        return (a, b, outbound, received);
    }

    private async Task<(ClusterTcpTransport Transport, InboundListener Inbound)> ListenAsync(bool smallBuffers = false)
    {
        var buffers = smallBuffers ? "\nsend-buffer-size = 32 KiB\nreceive-buffer-size = 32 KiB" : string.Empty;
        var config = ConfigurationFactory.ParseString("hostname = 127.0.0.1\nport = 0\nenable-ssl = off\nmaximum-frame-size = 2 MiB" + buffers);
        var transport = new ClusterTcpTransport(_system, config);
        _transports.Add(transport);
        var (_, listener) = await transport.Listen();
        var inbound = new InboundListener();
        listener.SetResult(inbound);
        return (transport, inbound);
    }

    // Polls until condition holds or Patience is up; the caller asserts what it waited for.
    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }

    private static ByteString Payload(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return ByteString.CopyFrom(bytes);
    }

    private sealed class InboundListener : IAssociationEventListener
    {
        private readonly Channel<AssociationHandle> _handles = Channel.CreateUnbounded<AssociationHandle>();

        public void Notify(IAssociationEvent ev)
        {
            if (ev is InboundAssociation inbound)
            {
                _handles.Writer.TryWrite(inbound.Association);
            }
        }

        public async Task<AssociationHandle> NextAsync() =>
            await _handles.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(Patience);
    }

    // What one inbound association delivered, its reader registered when Start is called.
    private sealed class RecorderHandle(AssociationHandle handle)
    {
        private readonly Recorder _recorder = new();

        public IReadOnlyCollection<ByteString> Payloads => _recorder.Payloads;

        public Task Disassociated => _recorder.Disassociated;

        public void Start() => handle.ReadHandlerSource.SetResult(_recorder);

        public Task WaitForPayloadsAsync(int count) => _recorder.WaitForPayloadsAsync(count);
    }

    private sealed class Recorder : IHandleEventListener
    {
        private readonly ConcurrentQueue<ByteString> _payloads = new();
        private readonly TaskCompletionSource _disassociated = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public IReadOnlyCollection<ByteString> Payloads => _payloads;

        public Task Disassociated => _disassociated.Task;

        public void Notify(IHandleEvent ev)
        {
            switch (ev)
            {
                case InboundPayload payload:
                    _payloads.Enqueue(payload.Payload);
                    break;
                case Akka.Remote.Transport.Disassociated:
                    _disassociated.TrySetResult();
                    break;
            }
        }

        public async Task WaitForPayloadsAsync(int count)
        {
            await WaitUntilAsync(() => _payloads.Count >= count);
            Assert.Equal(count, _payloads.Count);
        }
    }
}
