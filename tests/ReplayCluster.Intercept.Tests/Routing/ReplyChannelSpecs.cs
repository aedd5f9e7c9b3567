using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using ReplayCluster.Configuration;
using ReplayCluster.Intercept.Routing;
using ReplayCluster.Membership;
using ReplayCluster.Protocol;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Intercept.Tests.Routing;

/// <summary>
/// The intercept's use of a capture node's reply channel, against a real loopback listener that speaks the capture
/// side of the protocol: batches go through the channel, and through remoting before it is up and after it broke.
/// </summary>
public sealed class ReplyChannelSpecs() : Akka.TestKit.Xunit.TestKit(ConfigurationFactory.ParseString("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0"))
{
    private static readonly SessionEndpoints Session = new(0x0AC80001, 40000, 0x0A000202, 80);

    // The capture node: on the loopback address, so the offer's host is its cluster host as the router requires.
    private static readonly Address CaptureNode = new("akka.tcp", "replaycluster", "127.0.0.1", 4999);

    private readonly InterceptStatistics _statistics = new();
    private readonly SpecMembers _members = new(NodeRoles.Intercept);

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public void Replies_go_through_the_offered_channel_to_the_shard_it_names_and_through_remoting_once_it_breaks()
    {
        using var rig = StartWithOpenChannel();
        var (listener, owner, router, capture, shards) = rig;
        router.Tell(new RouteClaims(shards[1], [Session], []), shards[1]);
        AwaitAssert(() => Assert.Equal(1, _statistics.Routes), cancellationToken: Cancellation);

        capture.Capture(TestReplies.For(Session, 1), TestReplies.For(Session, 2));

        // One connection per shard of the offer; the frame goes on its shard's connection.
        Assert.Equal(2, listener.Connections);
        var (connection, shard, records) = listener.Take();
        Assert.Equal((1, 1), (connection, shard));
        Assert.Equal([1u, 2u], records.Select(r => r.Sequence));
        owner.ExpectNoMsg(TimeSpan.FromMilliseconds(100), Cancellation);
        Assert.Equal(1, _statistics.BatchesByChannel);

        // The capture node goes away: the channel closes as its connections do (or at the first send that fails), and
        // replies travel through remoting again (a record written into a dying connection is lost as a packet is; the
        // session's retransmission covers it). A node that closes its channel is not a channel failure.
        listener.Dispose();
        ResponseBatch? viaRemoting = null;
        for (uint sequence = 3; viaRemoting is null && sequence < 100; sequence++)
        {
            capture.Capture(TestReplies.For(Session, sequence));
            viaRemoting = owner.ReceiveOne(TimeSpan.FromMilliseconds(100), Cancellation) as ResponseBatch;
        }

        Assert.NotNull(viaRemoting);
        Assert.Equal(0, _statistics.ReplyChannels);
        Assert.InRange(_statistics.ReplyChannelFailures, 0, 1);
    }

    [Fact]
    public void Claims_that_come_through_the_channel_route_the_replies_of_the_shard_they_name()
    {
        using var rig = StartWithOpenChannel();
        var (listener, owner, router, capture, shards) = rig;

        listener.Claim(1, [Session], []);
        AwaitAssert(() => Assert.Equal(1, _statistics.Routes), cancellationToken: Cancellation);
        capture.Capture(TestReplies.For(Session, 7));

        var (connection, shard, records) = listener.Take();
        Assert.Equal((1, 1, 7u), (connection, shard, records[0].Sequence));
        listener.Claim(1, [], [Session]);
        AwaitAssert(() => Assert.Equal(0, _statistics.Routes), cancellationToken: Cancellation);
        Assert.Equal(0, _statistics.Refusals.Total);
    }

    [Fact]
    public void Claims_frames_cut_anywhere_by_the_stream_apply_once_whole_and_in_order()
    {
        using var rig = StartWithOpenChannel();
        var (listener, owner, router, capture, shards) = rig;
        var other = new SessionEndpoints(0x0AC80002, 40001, 0x0A000202, 80);

        // Three frames in one stream (claim, claim, release of the first), sent in pieces of 5 bytes with pauses, so
        // the reader sees headers and bodies cut in the middle and frames that share a read.
        var stream = listener.ClaimsFrames(1, ([Session], []), ([other], []), ([], [Session]));
        for (var offset = 0; offset < stream.Length; offset += 5)
        {
            listener.SendRaw(1, stream.AsSpan(offset, Math.Min(5, stream.Length - offset)));
            Thread.Sleep(2);
        }

        AwaitAssert(() => Assert.Equal(1, _statistics.Routes), cancellationToken: Cancellation);
        capture.Capture(TestReplies.For(other, 3));
        var (_, shard, records) = listener.Take();
        Assert.Equal((1, 3u), (shard, records.Single().Sequence));
        Assert.Equal(0, _statistics.Refusals.Total);
        Assert.Equal(1, _statistics.ReplyChannels);
    }

    [Fact]
    public void A_claims_frame_with_a_wrong_mac_is_refused_and_ends_the_channel()
    {
        using var rig = StartWithOpenChannel();
        var (listener, owner, router, capture, shards) = rig;

        var frame = listener.ClaimsFrames(0, ([Session], []));
        frame[^1] ^= 0xFF;
        listener.SendRaw(0, frame);

        AwaitAssert(() => Assert.Equal(1, _statistics.Refusals.ByReason.GetValueOrDefault(RefusalReasons.BadFrame)), cancellationToken: Cancellation);
        AwaitAssert(() => Assert.Equal(0, _statistics.ReplyChannels), cancellationToken: Cancellation);
        Assert.Equal(0, _statistics.Routes);
        Assert.Equal(1, _statistics.ReplyChannelFailures);
    }

    [Fact]
    public void A_connection_the_capture_node_closes_ends_the_channel_at_once_without_a_send_or_a_failure()
    {
        using var rig = StartWithOpenChannel();
        var (listener, owner, router, capture, shards) = rig;

        listener.Close(1);

        // Not a failure (a capture node that stops closes it); replies go through remoting until a new channel opens.
        AwaitAssert(() => Assert.Equal(0, _statistics.ReplyChannels), cancellationToken: Cancellation);
        Assert.Equal(0, _statistics.ReplyChannelFailures);
        Assert.Equal(0, _statistics.Refusals.Total);
        router.Tell(new RouteClaims(shards[0], [Session], []), shards[0]);
        AwaitAssert(() => Assert.Equal(1, _statistics.Routes), cancellationToken: Cancellation);
        capture.Capture(TestReplies.For(Session, 5));
        Assert.Equal(5u, owner.ExpectMsg<ResponseBatch>(cancellationToken: Cancellation).Records[0].Sequence);
    }

    [Fact]
    public void Each_shards_replies_and_claims_travel_on_that_shards_own_connection()
    {
        using var rig = StartWithOpenChannel();
        var (listener, owner, router, capture, shards) = rig;
        var other = new SessionEndpoints(0x0AC80002, 40001, 0x0A000202, 80);
        Assert.Equal(2, listener.Connections);

        listener.Claim(0, [Session], []);
        listener.Claim(1, [other], []);
        AwaitAssert(() => Assert.Equal(2, _statistics.Routes), cancellationToken: Cancellation);
        capture.Capture(TestReplies.For(Session, 1));
        var first = listener.Take();
        capture.Capture(TestReplies.For(other, 2));
        var second = listener.Take();

        Assert.Equal((0, 0, 1u), (first.Connection, first.Shard, first.Records.Single().Sequence));
        Assert.Equal((1, 1, 2u), (second.Connection, second.Shard, second.Records.Single().Sequence));
        owner.ExpectNoMsg(TimeSpan.FromMilliseconds(100), Cancellation);
        Assert.Equal(0, _statistics.Refusals.Total);
    }

    [Fact]
    public void An_offer_that_cannot_be_connected_leaves_replies_on_remoting()
    {
        var owner = CreateTestProbe();
        var (router, capture, shards) = Start(owner);
        using var _ = capture;
        using var closed = new Socket(SocketType.Stream, ProtocolType.Tcp);
        closed.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)closed.LocalEndPoint!).Port; // bound, never listening: connections are refused

        router.Tell(new ReplyChannelOffer("127.0.0.1", port, ReplyChannelProtocol.NewKey(), shards), shards[0]);
        AwaitCondition(() => _statistics.ReplyChannelFailures == 1, TimeSpan.FromSeconds(5), cancellationToken: Cancellation);
        router.Tell(new RouteClaims(shards[0], [Session], []), shards[0]);
        capture.Capture(TestReplies.For(Session, 1));

        Assert.Equal(1u, owner.ExpectMsg<ResponseBatch>(cancellationToken: Cancellation).Records[0].Sequence);
    }

    [Fact]
    public async Task A_node_that_accepts_the_connection_but_never_greets_fails_the_connect_within_its_timeout()
    {
        using var silent = new Socket(SocketType.Stream, ProtocolType.Tcp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        silent.Listen(4);
        var offer = new ReplyChannelOffer("127.0.0.1", ((IPEndPoint)silent.LocalEndPoint!).Port, ReplyChannelProtocol.NewKey(), [TestActor, TestActor]);

        var started = System.Diagnostics.Stopwatch.StartNew();
        var error = await Assert.ThrowsAnyAsync<Exception>(() => ReplyChannel.ConnectAsync(offer, 16, TimeSpan.FromMilliseconds(300)));

        Assert.True(error is TimeoutException or SocketException { SocketErrorCode: SocketError.TimedOut }, error.ToString());
        Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(3));
    }

    [Fact]
    public void Offers_that_name_another_nodes_shards_or_another_host_are_refused()
    {
        var owner = CreateTestProbe();
        var (router, capture, shards) = Start(owner);
        using var _ = capture;
        var elsewhere = RemoteStandIn.For(Sys, SpecMembers.Node(9), owner.Ref, "sessions-0");

        router.Tell(new ReplyChannelOffer("127.0.0.1", 4000, ReplyChannelProtocol.NewKey(), [elsewhere]), shards[0]);
        router.Tell(new ReplyChannelOffer("10.9.9.9", 4000, ReplyChannelProtocol.NewKey(), shards), shards[0]);

        AwaitAssert(() => Assert.Equal(2, _statistics.Refusals.ByReason.GetValueOrDefault(RefusalReasons.Impersonation)), cancellationToken: Cancellation);
        Assert.Equal(0, _statistics.ReplyChannelFailures);
    }

    /// <summary><see cref="Start"/> with a capture side listening and its channel offered and open.</summary>
    private ChannelRig StartWithOpenChannel()
    {
        var listener = new CaptureSide();
        var owner = CreateTestProbe();
        var (router, capture, shards) = Start(owner);
        router.Tell(new ReplyChannelOffer("127.0.0.1", listener.Port, listener.Key, shards), shards[0]);
        AwaitCondition(() => _statistics.ReplyChannels == 1, TimeSpan.FromSeconds(5), cancellationToken: Cancellation);
        return new ChannelRig(listener, owner, router, capture, shards);
    }

    private sealed record ChannelRig(CaptureSide Listener, Akka.TestKit.TestProbe Owner, IActorRef Router, SimulatedCaptureThread Capture, IActorRef[] Shards)
        : IDisposable
    {
        public void Dispose()
        {
            Capture.Dispose();
            Listener.Dispose();
        }
    }

    private (IActorRef Router, SimulatedCaptureThread Capture, IActorRef[] Shards) Start(Akka.TestKit.TestProbe owner)
    {
        _members.Join(CaptureNode, NodeRoles.Capture);
        var settings = new InterceptNodeSettings { Interface = "test0", Filter = "tcp" };
        var forwarder = new ReplyForwarder(settings, _statistics, TimeProvider.System, NullLogger<ReplyForwarder>.Instance);
        var router = Sys.ActorOf(ReplyRouter.Props(settings, _statistics, forwarder, TimeProvider.System, NullLogger.Instance, _members.Senders));
        IActorRef[] shards = [RemoteStandIn.For(Sys, CaptureNode, owner.Ref, "sessions-0"), RemoteStandIn.For(Sys, CaptureNode, owner.Ref, "sessions-1")];
        return (router, new SimulatedCaptureThread(forwarder, router), shards);
    }

    /// <summary>
    /// The capture node's side of the protocol: greet each connection, check its hello (which names its shard), read
    /// its frames; what arrived is taken with the shard of the connection it came on.
    /// </summary>
    private sealed class CaptureSide : IDisposable
    {
        private readonly Socket _listener = new(SocketType.Stream, ProtocolType.Tcp);
        private readonly BlockingCollection<(int Connection, int Shard, ResponseRecord[] Records)> _frames = [];
        private readonly ConcurrentDictionary<int, (Socket Socket, ReplyChannelProtocol.FrameMac Claims)> _connections = new();
        private readonly ConcurrentBag<Socket> _accepted = [];

        public CaptureSide()
        {
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen(8);
            new Thread(Accept) { IsBackground = true }.Start();
        }

        public byte[] Key { get; } = ReplyChannelProtocol.NewKey();

        public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

        /// <summary>Shards whose connection is open.</summary>
        public int Connections => _connections.Count;

        /// <summary>Writes a claims frame for <paramref name="shard"/> on its connection, as the capture node's shard would.</summary>
        public void Claim(int shard, SessionEndpoints[] claimed, SessionEndpoints[] released)
        {
            var (socket, claims) = _connections[shard];
            var frame = new byte[ReplyChannelProtocol.ClaimsFrameSize(claimed.Length + released.Length)];
            socket.Send(frame.AsSpan(0, claims.SealClaims(frame, shard, claimed, released)));
        }

        /// <summary>Claims frames for <paramref name="shard"/> as its connection would carry them, back to back.</summary>
        public byte[] ClaimsFrames(int shard, params (SessionEndpoints[] Claimed, SessionEndpoints[] Released)[] frames)
        {
            var (_, claims) = _connections[shard];
            var stream = new List<byte>();
            foreach (var (claimed, released) in frames)
            {
                var frame = new byte[ReplyChannelProtocol.ClaimsFrameSize(claimed.Length + released.Length)];
                stream.AddRange(frame.AsSpan(0, claims.SealClaims(frame, shard, claimed, released)).ToArray());
            }

            return [.. stream];
        }

        /// <summary>Writes bytes as they are on <paramref name="shard"/>'s connection.</summary>
        public void SendRaw(int shard, ReadOnlySpan<byte> bytes) => _connections[shard].Socket.Send(bytes);

        /// <summary>Closes <paramref name="shard"/>'s connection, as a capture node that stops does.</summary>
        public void Close(int shard) => _connections[shard].Socket.Dispose();

        /// <summary>The next frame: the shard of the connection it came on, the shard it names, its records.</summary>
        public (int Connection, int Shard, ResponseRecord[] Records) Take() =>
            _frames.TryTake(out var frame, TimeSpan.FromSeconds(5)) ? frame : throw new TimeoutException("no frame within 5 s");

        public void Dispose()
        {
            _listener.Dispose();
            foreach (var socket in _accepted)
            {
                socket.Dispose();
            }
        }

        private void Accept()
        {
            try
            {
                while (true)
                {
                    var connection = _listener.Accept();
                    _accepted.Add(connection);
                    new Thread(() => Serve(connection)) { IsBackground = true }.Start();
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Disposed by the test.
            }
        }

        private void Serve(Socket connection)
        {
            try
            {
                var greeting = new byte[ReplyChannelProtocol.GreetingSize];
                ReplyChannelProtocol.WriteGreeting(greeting);
                connection.Send(greeting);
                var hello = new byte[ReplyChannelProtocol.HelloSize];
                Read(connection, hello);
                var keys = ReplyChannelProtocol.CheckHello(Key, greeting, hello) ?? throw new InvalidOperationException("bad hello");
                using var mac = new ReplyChannelProtocol.FrameMac(keys.Replies);
                _connections[keys.Shard] = (connection, new ReplyChannelProtocol.FrameMac(keys.Claims));
                connection.Send([ReplyChannelProtocol.Accepted]);
                var header = new byte[ReplyChannelProtocol.HeaderSize];
                while (true)
                {
                    Read(connection, header);
                    Assert.True(ReplyChannelProtocol.TryReadHeader(header, 2, out var count, out var shard, out var problem), problem);
                    var frame = new byte[ReplyChannelProtocol.FrameSize(count)];
                    header.CopyTo(frame, 0);
                    Read(connection, frame.AsSpan(ReplyChannelProtocol.HeaderSize));
                    var records = new List<ResponseRecord>(count);
                    _frames.Add((keys.Shard, shard, mac.TryOpen(frame, count, records) ? [.. records] : throw new InvalidOperationException("bad MAC")));
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or EndOfStreamException)
            {
                // Disposed by the test.
            }
        }

        private static void Read(Socket connection, Span<byte> into)
        {
            while (into.Length > 0)
            {
                var read = connection.Receive(into);
                if (read == 0)
                {
                    throw new EndOfStreamException();
                }

                into = into[read..];
            }
        }
    }
}
