using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using ReplayCluster.Capture.Routing;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Membership;
using ReplayCluster.Replay;

namespace ReplayCluster.Capture.Tests.Routing;

/// <summary>
/// The capture node's reply channel listener on a real loopback socket, with a hand-written intercept speaking
/// the protocol: frames reach the shard they name; every kind of bad peer is refused, counted and cut off alone.
/// </summary>
public sealed class ReplyChannelListenerSpecs : Akka.TestKit.Xunit.TestKit
{
    private readonly CaptureNodeStatistics _statistics = new();
    private readonly Akka.TestKit.TestProbe[] _shards;
    private readonly ReplyChannelListener _listener;

    public ReplyChannelListenerSpecs()
    {
        _shards = [CreateTestProbe(), CreateTestProbe()];
        var shards = new SessionShards(_shards.Length, 1024);
        shards.Attach([.. _shards.Select(p => p.Ref)]);
        _listener = ReplyChannelListener.Start("127.0.0.1", 0, "127.0.0.1", shards, _statistics, NullLogger.Instance);
    }

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public void An_intercept_with_the_key_gets_its_frames_to_the_shards_they_name_in_order()
    {
        var offer = _listener.Offer();
        Assert.Equal(2, offer.Shards.Count);
        using var intercept = Intercept.Connect(_listener.Port, [.. offer.Key]);

        intercept.Send(1, Records(1, 2, 3));
        intercept.Send(0, Records(4));
        intercept.Send(1, Records(5));

        Assert.Equal([1u, 2u, 3u], Sequences(_shards[1].ExpectMsg<ResponseBatch>(cancellationToken: Cancellation)));
        Assert.Equal([5u], Sequences(_shards[1].ExpectMsg<ResponseBatch>(cancellationToken: Cancellation)));
        Assert.Equal([4u], Sequences(_shards[0].ExpectMsg<ResponseBatch>(cancellationToken: Cancellation)));
        Assert.Equal(5, _statistics.ResponsesByChannel);
        Assert.Equal(1, _statistics.ReplyChannels);
        Assert.Equal(0, _statistics.Refusals.Total);
    }

    [Fact]
    public void A_peer_without_the_key_is_refused_and_delivers_nothing()
    {
        using var intercept = Intercept.Connect(_listener.Port, ReplyChannelProtocol.NewKey(), expectAccepted: false);

        AwaitAssert(() => Assert.Equal(1, _statistics.Refusals.ByReason.GetValueOrDefault(RefusalReasons.BadHandshake)), cancellationToken: Cancellation);
        Assert.True(intercept.IsClosedByPeer());
        _shards[0].ExpectNoMsg(TimeSpan.FromMilliseconds(100), Cancellation);
    }

    [Fact]
    public void A_silent_peer_is_refused_when_the_handshake_time_is_up()
    {
        using var silent = new Socket(SocketType.Stream, ProtocolType.Tcp);
        silent.Connect(IPAddress.Loopback, _listener.Port);

        AwaitAssert(() => Assert.Equal(1, _statistics.Refusals.ByReason.GetValueOrDefault(RefusalReasons.BadHandshake)), TimeSpan.FromSeconds(6), cancellationToken: Cancellation);
    }

    [Fact]
    public void A_forged_frame_ends_only_its_own_connection()
    {
        var key = _listener.Offer().Key.ToArray();
        using var good = Intercept.Connect(_listener.Port, key);
        using var forger = Intercept.Connect(_listener.Port, key);

        forger.SendAltered(0, Records(9));
        good.Send(0, Records(1));

        AwaitAssert(() => Assert.Equal(1, _statistics.Refusals.ByReason.GetValueOrDefault(RefusalReasons.BadFrame)), cancellationToken: Cancellation);
        Assert.True(forger.IsClosedByPeer());
        Assert.Equal([1u], Sequences(_shards[0].ExpectMsg<ResponseBatch>(cancellationToken: Cancellation)));
        good.Send(0, Records(2));
        Assert.Equal([2u], Sequences(_shards[0].ExpectMsg<ResponseBatch>(cancellationToken: Cancellation)));
        _shards[0].ExpectNoMsg(TimeSpan.FromMilliseconds(100), Cancellation);
    }

    [Fact]
    public void A_frame_for_a_shard_the_node_does_not_have_is_refused()
    {
        using var intercept = Intercept.Connect(_listener.Port, [.. _listener.Offer().Key]);

        intercept.Send(7, Records(1));

        AwaitAssert(() => Assert.Equal(1, _statistics.Refusals.ByReason.GetValueOrDefault(RefusalReasons.BadFrame)), cancellationToken: Cancellation);
        Assert.True(intercept.IsClosedByPeer());
    }

    [Fact]
    public void Connections_beyond_the_limit_are_refused()
    {
        var sockets = Enumerable.Range(0, ReplyChannelListener.MaxConnections + 1).Select(_ =>
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            socket.Connect(IPAddress.Loopback, _listener.Port);
            return socket;
        }).ToList();
        try
        {
            AwaitAssert(() => Assert.Equal(1, _statistics.Refusals.ByReason.GetValueOrDefault(RefusalReasons.TooManyConnections)), cancellationToken: Cancellation);
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
    }

    protected override void AfterAll()
    {
        _listener.Dispose();
        base.AfterAll();
    }

    private static ResponseRecord[] Records(params uint[] sequences) => [.. sequences.Select(s => new ResponseRecord
    {
        ClientAddress = 0x0AC80001,
        ClientPort = 40000,
        TargetAddress = 0x0A000202,
        TargetPort = 80,
        Sequence = s,
        Acknowledgment = 1,
        Window = 512,
        Flags = 0x10,
        PayloadLength = 0,
    })];

    private static uint[] Sequences(ResponseBatch batch) => [.. batch.Records.ToArray().Select(r => r.Sequence)];

    /// <summary>The intercept's side of the protocol, written out by hand against the listener.</summary>
    private sealed class Intercept : IDisposable
    {
        private readonly Socket _socket;
        private readonly ReplyChannelProtocol.FrameMac? _mac;

        private Intercept(Socket socket, ReplyChannelProtocol.FrameMac? mac)
        {
            _socket = socket;
            _mac = mac;
        }

        public static Intercept Connect(int port, byte[] key, bool expectAccepted = true)
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 5000 };
            socket.Connect(IPAddress.Loopback, port);
            var greeting = new byte[ReplyChannelProtocol.GreetingSize];
            Read(socket, greeting);
            var hello = new byte[ReplyChannelProtocol.HelloSize];
            var frameKey = ReplyChannelProtocol.AnswerGreeting(key, greeting, hello)!;
            socket.Send(hello);
            if (expectAccepted)
            {
                var answer = new byte[1];
                Read(socket, answer);
                Assert.Equal(ReplyChannelProtocol.Accepted, answer[0]);
            }

            return new Intercept(socket, new ReplyChannelProtocol.FrameMac(frameKey));
        }

        public void Send(int shard, ResponseRecord[] records)
        {
            var frame = new byte[ReplyChannelProtocol.FrameSize(records.Length)];
            _socket.Send(frame.AsSpan(0, _mac!.Seal(frame, shard, records)));
        }

        public void SendAltered(int shard, ResponseRecord[] records)
        {
            var frame = new byte[ReplyChannelProtocol.FrameSize(records.Length)];
            var length = _mac!.Seal(frame, shard, records);
            frame[ReplyChannelProtocol.HeaderSize + 12] ^= 0x01; // the sequence number
            _socket.Send(frame.AsSpan(0, length));
        }

        /// <summary>True once the listener closed the connection (a read returns end of stream).</summary>
        public bool IsClosedByPeer()
        {
            var buffer = new byte[16];
            try
            {
                while (true)
                {
                    if (_socket.Receive(buffer) == 0)
                    {
                        return true;
                    }
                }
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
            {
                return true;
            }
        }

        public void Dispose()
        {
            _socket.Dispose();
            _mac?.Dispose();
        }

        private static void Read(Socket socket, Span<byte> into)
        {
            while (into.Length > 0)
            {
                var read = socket.Receive(into);
                Assert.NotEqual(0, read);
                into = into[read..];
            }
        }
    }
}
