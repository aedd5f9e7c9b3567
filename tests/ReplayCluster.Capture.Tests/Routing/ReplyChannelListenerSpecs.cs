using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using ReplayCluster.Capture.Routing;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Membership;
using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Tests.Routing;

/// <summary>
/// The capture node's reply channel listener on a real loopback socket, with a hand-written intercept speaking
/// the protocol (a connection per shard): frames reach the shard of their connection; every kind of bad peer is
/// refused, counted and cut off alone. The shards here are probes, so the listener's own polling threads read.
/// </summary>
public sealed class ReplyChannelListenerSpecs : Akka.TestKit.Xunit.TestKit
{
    private static readonly Akka.Actor.Address InterceptNode = new("akka.tcp", "replaycluster", "10.0.0.9", 4053);

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
    public void Frames_for_each_shard_reach_that_shard_over_its_own_connection_in_order()
    {
        var offer = _listener.Offer(InterceptNode);
        Assert.Equal(2, offer.Shards.Count);
        using var shard0 = Intercept.Connect(_listener.Port, [.. offer.Key], shard: 0);
        using var shard1 = Intercept.Connect(_listener.Port, [.. offer.Key], shard: 1);

        shard1.Send(1, Records(1, 2, 3));
        shard0.Send(0, Records(4));
        shard1.Send(1, Records(5));

        // Frames that arrive together may share a batch: the records per shard, in order, are what counts.
        Assert.Equal([1u, 2u, 3u, 5u], ReceiveSequences(_shards[1], 4));
        Assert.Equal([4u], ReceiveSequences(_shards[0], 1));
        Assert.Equal(5, _statistics.ResponsesByChannel);
        Assert.Equal(2, _statistics.ReplyChannels);
        Assert.Equal(0, _statistics.Refusals.Total);
    }

    [Fact]
    public void The_shards_claims_go_back_on_their_own_connections_and_on_remoting_without_one()
    {
        var other = new Akka.Actor.Address("akka.tcp", "replaycluster", "10.0.0.10", 4053);
        SessionEndpoints[] claimed = [new(0x0AC80001, 40000, 0x0A000202, 80)];
        SessionEndpoints[] released = [new(0x0AC80002, 40001, 0x0A000202, 80), new(0x0AC80003, 40002, 0x0A000202, 80)];
        Assert.False(_listener.TrySendClaims(InterceptNode, 1, claimed, released));

        var key = _listener.Offer(InterceptNode).Key.ToArray();
        using var shard1 = Intercept.Connect(_listener.Port, key, shard: 1);
        AwaitCondition(() => _listener.IsOpen(InterceptNode, 1), cancellationToken: Cancellation);

        // Shard 0 has no connection yet: its claims take remoting.
        Assert.False(_listener.TrySendClaims(InterceptNode, 0, claimed, released));
        Assert.True(_listener.TrySendClaims(InterceptNode, 1, claimed, released));
        Assert.False(_listener.TrySendClaims(other, 1, claimed, released));
        var (shard, claimedBack, releasedBack) = shard1.ReadClaims();
        Assert.Equal(1, shard);
        Assert.Equal(claimed, claimedBack);
        Assert.Equal(released, releasedBack);
        Assert.Equal(3, _statistics.ClaimsByChannel);

        // Large sets go in several frames, on the shard's own connection.
        using var shard0 = Intercept.Connect(_listener.Port, key, shard: 0);
        AwaitCondition(() => _listener.IsOpen(InterceptNode, 0), cancellationToken: Cancellation);
        SessionEndpoints[] many = [.. Enumerable.Range(0, 10_000).Select(i => new SessionEndpoints(0x0AC90000 + (uint)i, 40000, 0x0A000202, 80))];
        Assert.True(_listener.TrySendClaims(InterceptNode, 0, many, []));
        var received = new List<SessionEndpoints>();
        while (received.Count < many.Length)
        {
            var frame = shard0.ReadClaims();
            Assert.Equal(0, frame.Shard);
            received.AddRange(frame.Claimed);
        }

        Assert.Equal(many, received);
    }

    [Fact]
    public void A_connection_naming_a_shard_the_node_does_not_have_is_refused_and_counted()
    {
        var key = _listener.Offer(InterceptNode).Key.ToArray();

        using var beyond = Intercept.Connect(_listener.Port, key, shard: 2, expectAccepted: false);
        using var far = Intercept.Connect(_listener.Port, key, shard: 700, expectAccepted: false);

        AwaitAssert(() => Assert.Equal(2, _statistics.Refusals.ByReason.GetValueOrDefault(RefusalReasons.BadHandshake)), cancellationToken: Cancellation);
        Assert.True(beyond.IsClosedByPeer());
        Assert.True(far.IsClosedByPeer());
        Assert.Equal(0, _statistics.ReplyChannels);

        // The intercept's good connections are unaffected.
        using var good = Intercept.Connect(_listener.Port, key, shard: 1);
        good.Send(1, Records(1));
        Assert.Equal([1u], Sequences(_shards[1].ExpectMsg<ResponseBatch>(cancellationToken: Cancellation)));
    }

    [Fact]
    public void A_frame_naming_another_shard_than_its_connections_is_refused_and_ends_that_connection()
    {
        var key = _listener.Offer(InterceptNode).Key.ToArray();
        using var shard0 = Intercept.Connect(_listener.Port, key, shard: 0);
        using var shard1 = Intercept.Connect(_listener.Port, key, shard: 1);

        shard0.Send(1, Records(1));

        AwaitAssert(() => Assert.Equal(1, _statistics.Refusals.ByReason.GetValueOrDefault(RefusalReasons.BadFrame)), cancellationToken: Cancellation);
        Assert.True(shard0.IsClosedByPeer());
        _shards[1].ExpectNoMsg(TimeSpan.FromMilliseconds(100), Cancellation);
        shard1.Send(1, Records(2));
        Assert.Equal([2u], Sequences(_shards[1].ExpectMsg<ResponseBatch>(cancellationToken: Cancellation)));
        AwaitAssert(() => Assert.Equal(1, _statistics.ReplyChannels), cancellationToken: Cancellation);
    }

    [Fact]
    public void A_key_offered_to_another_intercept_or_forgotten_opens_nothing()
    {
        var key = _listener.Offer(InterceptNode).Key.ToArray();
        _listener.Forget(InterceptNode);

        using var intercept = Intercept.Connect(_listener.Port, key, expectAccepted: false);

        AwaitAssert(() => Assert.Equal(1, _statistics.Refusals.ByReason.GetValueOrDefault(RefusalReasons.BadHandshake)), cancellationToken: Cancellation);
        Assert.False(_listener.IsOpen(InterceptNode, 0));
    }

    [Fact]
    public void An_intercept_that_leaves_has_its_connections_closed()
    {
        var key = _listener.Offer(InterceptNode).Key.ToArray();
        using var shard0 = Intercept.Connect(_listener.Port, key, shard: 0);
        using var shard1 = Intercept.Connect(_listener.Port, key, shard: 1);
        AwaitCondition(() => _listener.IsOpen(InterceptNode, 0) && _listener.IsOpen(InterceptNode, 1), cancellationToken: Cancellation);

        _listener.Forget(InterceptNode);

        Assert.True(shard0.IsClosedByPeer());
        Assert.True(shard1.IsClosedByPeer());
        AwaitAssert(() => Assert.Equal(0, _statistics.ReplyChannels), cancellationToken: Cancellation);
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
    public void Frames_that_arrive_together_reach_the_shard_as_one_batch_and_a_frame_split_across_receives_is_whole()
    {
        var key = _listener.Offer(InterceptNode).Key.ToArray();
        using var shard1 = Intercept.Connect(_listener.Port, key, shard: 1);
        using var shard0 = Intercept.Connect(_listener.Port, key, shard: 0);

        // Four frames in one write, as a loaded intercept's burst reaches the socket: one receive, one batch.
        shard1.SendTogether((1, Records(1, 2)), (1, Records(4)), (1, Records(7)), (1, Records(11)));
        Assert.Equal([1u, 2u, 4u, 7u, 11u], Sequences(_shards[1].ExpectMsg<ResponseBatch>(cancellationToken: Cancellation)));

        // A frame in three pieces (inside the header, inside the records): delivered once it is whole.
        shard0.SendInPieces(0, Records(8, 9, 10), [3, 40]);
        Assert.Equal([8u, 9u, 10u], Sequences(_shards[0].ExpectMsg<ResponseBatch>(cancellationToken: Cancellation)));
        Assert.Equal(8, _statistics.ResponsesByChannel);
        Assert.Equal(0, _statistics.Refusals.Total);
        _shards[0].ExpectNoMsg(TimeSpan.FromMilliseconds(100), Cancellation);
        _shards[1].ExpectNoMsg(TimeSpan.Zero, Cancellation);
    }

    [Fact]
    public void A_forged_frame_ends_only_its_own_connection()
    {
        // Two intercepts, each with its own key; one of them sends a frame altered on the way.
        using var good = Intercept.Connect(_listener.Port, [.. _listener.Offer(InterceptNode).Key]);
        using var forger = Intercept.Connect(_listener.Port, [.. _listener.Offer(new Akka.Actor.Address("akka.tcp", "replaycluster", "10.0.0.10", 4053)).Key]);

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
        using var intercept = Intercept.Connect(_listener.Port, [.. _listener.Offer(InterceptNode).Key]);

        intercept.Send(7, Records(1));

        AwaitAssert(() => Assert.Equal(1, _statistics.Refusals.ByReason.GetValueOrDefault(RefusalReasons.BadFrame)), cancellationToken: Cancellation);
        Assert.True(intercept.IsClosedByPeer());
    }

    [Fact]
    public void Connections_beyond_the_limit_are_refused()
    {
        // Silent connections count until their handshake time is up: with the default 2 s, a machine slow to accept all
        // of them (the other unit projects and the lab nodes' publish beside, tests/run.sh) saw the first ones refused
        // for silence before the last was accepted, and nothing over the limit (2026-12-03). Here they may stay silent.
        var shards = new SessionShards(_shards.Length, 1024);
        shards.Attach([.. _shards.Select(p => p.Ref)]);
        using var listener = ReplyChannelListener.Start("127.0.0.1", 0, "127.0.0.1", shards, _statistics, NullLogger.Instance, handshakeTimeout: TimeSpan.FromMinutes(1));
        Assert.Equal(ReplyChannelListener.MaxIntercepts * 2, listener.MaxConnections);
        var sockets = Enumerable.Range(0, listener.MaxConnections + 1).Select(_ =>
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            socket.Connect(IPAddress.Loopback, listener.Port);
            return socket;
        }).ToList();
        try
        {
            AwaitAssert(() => Assert.Equal(1, _statistics.Refusals.ByReason.GetValueOrDefault(RefusalReasons.TooManyConnections)), TimeSpan.FromSeconds(30),
                cancellationToken: Cancellation);
            Assert.Equal(0, _statistics.Refusals.ByReason.GetValueOrDefault(RefusalReasons.BadHandshake));
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

    internal static ResponseRecord[] Records(params uint[] sequences) => [.. sequences.Select(s => new ResponseRecord
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

    // Batches until `count` records came; their sequence numbers in arrival order.
    private uint[] ReceiveSequences(Akka.TestKit.TestProbe shard, int count)
    {
        var sequences = new List<uint>();
        while (sequences.Count < count)
        {
            sequences.AddRange(Sequences(shard.ExpectMsg<ResponseBatch>(cancellationToken: Cancellation)));
        }

        return [.. sequences];
    }

    internal static uint[] Sequences(ResponseBatch batch) => [.. batch.Records.ToArray().Select(r => r.Sequence)];

    /// <summary>The intercept's side of the protocol, written out by hand against the listener.</summary>
    internal sealed class Intercept : IDisposable
    {
        private readonly Socket _socket;
        private readonly ReplyChannelProtocol.FrameMac? _mac;
        private readonly ReplyChannelProtocol.FrameMac _claims;

        private Intercept(Socket socket, ReplyChannelProtocol.FrameMac? mac, ReplyChannelProtocol.FrameMac claims)
        {
            _socket = socket;
            _mac = mac;
            _claims = claims;
        }

        /// <summary>Reads one claims frame the listener wrote: (shard, claimed, released).</summary>
        public (int Shard, SessionEndpoints[] Claimed, SessionEndpoints[] Released) ReadClaims()
        {
            var header = new byte[ReplyChannelProtocol.ClaimsHeaderSize];
            Read(_socket, header);
            Assert.True(ReplyChannelProtocol.TryReadClaimsHeader(header, 2, out var claimed, out var released, out var shard, out var problem), problem);
            var frame = new byte[ReplyChannelProtocol.ClaimsFrameSize(claimed + released)];
            header.CopyTo(frame, 0);
            Read(_socket, frame.AsSpan(ReplyChannelProtocol.ClaimsHeaderSize));
            Assert.True(_claims.OpenClaims(frame, claimed, released, out var claimedEndpoints, out var releasedEndpoints));
            return (shard, claimedEndpoints, releasedEndpoints);
        }

        public static Intercept Connect(int port, byte[] key, int shard = 0, bool expectAccepted = true)
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 5000 };
            socket.Connect(IPAddress.Loopback, port);
            var greeting = new byte[ReplyChannelProtocol.GreetingSize];
            Read(socket, greeting);
            var hello = new byte[ReplyChannelProtocol.HelloSize];
            var keys = ReplyChannelProtocol.AnswerGreeting(key, greeting, shard, hello)!;
            socket.Send(hello);
            if (expectAccepted)
            {
                var answer = new byte[1];
                Read(socket, answer);
                Assert.Equal(ReplyChannelProtocol.Accepted, answer[0]);
            }

            return new Intercept(socket, new ReplyChannelProtocol.FrameMac(keys.Replies), new ReplyChannelProtocol.FrameMac(keys.Claims));
        }

        public void Send(int shard, ResponseRecord[] records)
        {
            var frame = new byte[ReplyChannelProtocol.FrameSize(records.Length)];
            _socket.Send(frame.AsSpan(0, _mac!.Seal(frame, shard, records)));
        }

        public void SendTogether(params (int Shard, ResponseRecord[] Records)[] frames)
        {
            var all = new List<byte>();
            foreach (var (shard, records) in frames)
            {
                var frame = new byte[ReplyChannelProtocol.FrameSize(records.Length)];
                all.AddRange(frame.AsSpan(0, _mac!.Seal(frame, shard, records)).ToArray());
            }

            _socket.Send(all.ToArray());
        }

        /// <summary>One frame in pieces cut at <paramref name="cuts"/>, a pause after each so that each is its own receive.</summary>
        public void SendInPieces(int shard, ResponseRecord[] records, int[] cuts)
        {
            var frame = new byte[ReplyChannelProtocol.FrameSize(records.Length)];
            var length = _mac!.Seal(frame, shard, records);
            var from = 0;
            foreach (var cut in cuts.Append(length))
            {
                _socket.Send(frame.AsSpan(from, cut - from));
                from = cut;
                Thread.Sleep(50);
            }
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
            _claims.Dispose();
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
