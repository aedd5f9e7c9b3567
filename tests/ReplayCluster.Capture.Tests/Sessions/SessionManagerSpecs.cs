using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using ReplayCluster.Capture.Plans;
using ReplayCluster.Capture.Replay;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Packets;
using ReplayCluster.Plans;
using ReplayCluster.Replay;

namespace ReplayCluster.Capture.Tests.Sessions;

public sealed class SessionManagerSpecs() : Akka.TestKit.Xunit.TestKit(ConfigurationFactory.ParseString("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0"))
{
    private static readonly OnlineConnection Connection = new(0x0A0B0B02, 40_000, 0x0A0B0B01, 80);
    private static readonly uint Target = Ipv4Address.Parse("10.251.21.2");

    private readonly RecordingTransport _transport = new();
    private readonly CaptureNodeStatistics _statistics = new();

    [Fact]
    public void A_new_connection_gets_a_session_whose_syn_goes_to_the_target_from_a_fake_address()
    {
        var manager = NewManager();
        manager.Tell(new CapturedPacket(Connection, Syn(1000)));

        var syn = AwaitSegment(s => s.Flags == TcpFlags.Syn);
        Assert.Equal(Target, syn.DestinationAddress);
        Assert.Equal(80, syn.DestinationPort);
        Assert.Equal(1000u, syn.Sequence);
        Assert.Equal(0x0AC8_0000u, syn.SourceAddress & 0xFFFF_0000u);
        AwaitAssert(() => Assert.Equal(1, _statistics.SessionsStarted), cancellationToken: TestContext.Current.CancellationToken);
    }

    [Fact]
    public void A_client_port_reused_while_its_previous_session_runs_gets_a_second_session_and_identity()
    {
        var manager = NewManager();
        manager.Tell(new CapturedPacket(Connection, Syn(1000)));
        manager.Tell(new CapturedPacket(Connection, Syn(1000)));
        manager.Tell(new CapturedPacket(Connection, Syn(9_000_000)));

        var first = AwaitSegment(s => s.Flags == TcpFlags.Syn && s.Sequence == 1000);
        var second = AwaitSegment(s => s.Flags == TcpFlags.Syn && s.Sequence == 9_000_000);
        Assert.NotEqual((first.SourceAddress, first.SourcePort), (second.SourceAddress, second.SourcePort));
        AwaitAssert(() => Assert.Equal(2, _statistics.SessionsStarted), cancellationToken: TestContext.Current.CancellationToken);
        Assert.DoesNotContain(_transport.Segments, s => (s.Flags & TcpFlags.Rst) != 0);
    }

    [Fact]
    public void Replies_reach_the_session_that_owns_their_endpoints()
    {
        var manager = NewManager();
        manager.Tell(new CapturedPacket(Connection, Syn(1000)));
        var syn = AwaitSegment(s => s.Flags == TcpFlags.Syn);

        manager.Tell(new ResponseBatch([new ResponseRecord
        {
            ClientAddress = syn.SourceAddress, ClientPort = syn.SourcePort, TargetAddress = Target, TargetPort = 80,
            Sequence = 5000, Acknowledgment = 1001, Window = 65535, Flags = (byte)(TcpFlags.Syn | TcpFlags.Ack), PayloadLength = 0, Mss = 1460,
        }]));

        var ack = AwaitSegment(s => s.Flags == TcpFlags.Ack && s.Acknowledgment == 5001);
        Assert.Equal(1001u, ack.Sequence);
        Assert.Equal(0, _statistics.ResponsesUnmatched);
    }

    [Fact]
    public void New_sessions_are_refused_while_the_node_buffer_budget_is_exhausted()
    {
        var manager = NewManager(maxNodeBufferedBytes: 1 << 20);
        var body = new byte[1 << 20];
        manager.Tell(new CapturedPacket(Connection, new CapturedSegment { Sequence = 1000, Acknowledgment = 1, Flags = TcpFlags.Ack, Payload = body }));
        AwaitAssert(() => Assert.Equal(1 << 20, _statistics.Budget!.Used), cancellationToken: TestContext.Current.CancellationToken);

        manager.Tell(new CapturedPacket(Connection with { ClientPort = 40_001 }, Syn(2000)));

        AwaitAssert(() => Assert.Equal(1, _statistics.SessionsRefusedMemory), cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(1, _statistics.SessionsStarted);
    }

    [Fact]
    public void A_failing_session_is_stopped_and_counted_and_the_others_go_on()
    {
        _transport.FailForSourcePort = 40_000;
        var manager = NewManager();
        manager.Tell(new CapturedPacket(Connection, Syn(1000)));
        AwaitAssert(() => Assert.Equal(1, _statistics.SessionsFailed), cancellationToken: TestContext.Current.CancellationToken);
        AwaitAssert(() => Assert.Equal(1, _statistics.EndedByReason.GetValueOrDefault(SessionEndReason.Aborted)),
            cancellationToken: TestContext.Current.CancellationToken);

        manager.Tell(new CapturedPacket(Connection with { ClientPort = 40_001 }, Syn(2000)));
        AwaitSegment(s => s.Flags == TcpFlags.Syn && s.Sequence == 2000);

        // Stopped, not restarted (a restart would send the failed session's SYN again), and its
        // connection at the target reset on the way out.
        var failed = _transport.Segments.Where(s => s.SourcePort == 40_000).ToList();
        Assert.DoesNotContain(failed, s => s.Flags == TcpFlags.Syn);
        Assert.Contains(failed, s => (s.Flags & TcpFlags.Rst) != 0);
        AwaitAssert(() => Assert.Equal(1, _statistics.LiveSessions), cancellationToken: TestContext.Current.CancellationToken);
    }

    [Fact]
    public void Every_copy_of_a_session_goes_out_from_its_own_identity_and_gets_every_segment()
    {
        var manager = NewManager(copies: 3);
        manager.Tell(new CapturedPacket(Connection, Syn(1000)));

        // Nobody answers, so SYNs are retransmitted: count identities, not SYNs.
        AwaitCondition(() => _transport.Segments.Count(s => s.Flags == TcpFlags.Syn) >= 3, TimeSpan.FromSeconds(5), cancellationToken: TestContext.Current.CancellationToken);
        var identities = _transport.Segments.Where(s => s.Flags == TcpFlags.Syn).Select(s => (s.SourceAddress, s.SourcePort)).ToList();
        Assert.Equal(3, identities.Distinct().Count());
        Assert.All(_transport.Segments.Where(s => s.Flags == TcpFlags.Syn), s => Assert.Equal(1000u, s.Sequence));
        Assert.Equal(3, _statistics.SessionsStarted);
    }

    [Fact]
    public void Sessions_left_out_by_sampling_stay_out_with_all_their_packets()
    {
        var manager = NewManager(samplePercent: 0.001);
        manager.Tell(new CapturedPacket(Connection, Syn(1000)));
        manager.Tell(new CapturedPacket(Connection, new CapturedSegment { Sequence = 1001, Acknowledgment = 5, Flags = TcpFlags.Ack, Payload = new byte[10] }));

        AwaitAssert(() => Assert.Equal(1, _statistics.SessionsSkipped), cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(0, _statistics.SessionsStarted);
        Assert.Empty(_transport.Segments);
    }

    [Fact]
    public void A_plan_change_applies_to_sessions_started_after_it_without_a_restart()
    {
        var plan = new PlanInEffect(AppliedPlan.Own(Settings()));
        var manager = Sys.ActorOf(SessionManager.Props(Settings(), plan, _transport, TimeProvider.System, _statistics, NullLogger.Instance));
        manager.Tell(new CapturedPacket(Connection, Syn(1000)));
        AwaitAssert(() => Assert.Equal(1, _statistics.SessionsStarted), cancellationToken: TestContext.Current.CancellationToken);

        manager.Tell(new ReplayPlanAssigned(2, new ReplayPlan { Copies = 3, IdleTimeout = TimeSpan.FromSeconds(7) }, null));
        manager.Tell(new CapturedPacket(Connection with { ClientPort = 40_001 }, Syn(2000)));

        AwaitAssert(() => Assert.Equal(4, _statistics.SessionsStarted), cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(3, _transport.Segments.Count(s => s.Flags == TcpFlags.Syn && s.Sequence == 2000));
        Assert.Equal(2, _statistics.PlanVersion);
        Assert.Equal((3, TimeSpan.FromSeconds(7)), (plan.Current.Copies, plan.Current.Session.IdleTimeout));
        Assert.Equal(Settings().Session.KeepAliveTimeout, plan.Current.Session.KeepAliveTimeout);
    }

    [Fact]
    public void Over_the_rate_cap_whole_sessions_are_left_out_and_counted()
    {
        var manager = NewManager();
        manager.Tell(new ReplayPlanAssigned(2, new ReplayPlan { RateCap = 1 }, RateCapShare: 1));
        for (ushort port = 41_000; port < 41_010; port++)
        {
            manager.Tell(new CapturedPacket(Connection with { ClientPort = port }, Syn(port)));
            manager.Tell(new CapturedPacket(Connection with { ClientPort = port }, new CapturedSegment { Sequence = port + 1u, Acknowledgment = 5, Flags = TcpFlags.Ack, Payload = new byte[10] }));
        }

        AwaitAssert(() => Assert.Equal(10, _statistics.SessionsStarted + _statistics.SessionsRateLimited), cancellationToken: TestContext.Current.CancellationToken);

        // One token to start with, one more a second: the burst of ten gets one or two sessions.
        Assert.InRange(_statistics.SessionsStarted, 1, 2);
        Assert.Equal(0, _statistics.SessionsWithoutIdentity);
    }

    [Fact]
    public void Without_targets_of_its_own_the_node_is_not_ready_until_the_plan_names_them()
    {
        var settings = Settings() with { Targets = null, ExplicitFilter = null };
        var plan = new PlanInEffect(AppliedPlan.Own(settings));
        var manager = Sys.ActorOf(SessionManager.Props(settings, plan, _transport, TimeProvider.System, _statistics, NullLogger.Instance));
        manager.Tell(SessionManager.ReadinessQuery.Instance, TestActor);
        Assert.False(ExpectMsg<SessionManager.Readiness>(cancellationToken: TestContext.Current.CancellationToken).PlanSettled);
        Assert.Null(plan.Current.Filter);

        manager.Tell(new ReplayPlanAssigned(3, new ReplayPlan { Targets = ["8080-10.251.21.2:80"] }, null));
        manager.Tell(SessionManager.ReadinessQuery.Instance, TestActor);

        Assert.True(ExpectMsg<SessionManager.Readiness>(cancellationToken: TestContext.Current.CancellationToken).PlanSettled);
        Assert.Equal("tcp and ((dst port 8080))", plan.Current.Filter);
        manager.Tell(new CapturedPacket(Connection with { ServerPort = 8080 }, Syn(1000)));
        AwaitSegment(s => s.Flags == TcpFlags.Syn && s.DestinationPort == 80);
    }

    private IActorRef NewManager(long maxNodeBufferedBytes = 1L << 30, int copies = 1, double samplePercent = 100)
    {
        var settings = Settings(maxNodeBufferedBytes, copies, samplePercent);
        return Sys.ActorOf(SessionManager.Props(settings, new PlanInEffect(AppliedPlan.Own(settings)), _transport, TimeProvider.System, _statistics, NullLogger.Instance));
    }

    private static CaptureNodeSettings Settings(long maxNodeBufferedBytes = 1L << 30, int copies = 1, double samplePercent = 100) =>
        new CaptureNodeSettings
        {
            MaxNodeBufferedBytes = maxNodeBufferedBytes,
            Copies = copies,
            SamplePercent = samplePercent,
            Interface = "test0",
            ExplicitFilter = "tcp",
            Targets = TargetMapping.Parse(["80-10.251.21.2:80"], "test"),
            FakeClientRange = "10.200.0.0/16",
            Session = new SessionOptions(),
        };

    private TcpSegmentSpec AwaitSegment(Func<TcpSegmentSpec, bool> match)
    {
        TcpSegmentSpec found = default;
        AwaitCondition(() => _transport.Segments.Any(s => match(s) && (found = s) == s), TimeSpan.FromSeconds(5),
            cancellationToken: TestContext.Current.CancellationToken);
        return found;
    }

    private static CapturedSegment Syn(uint isn) =>
        new() { Sequence = isn, Acknowledgment = 0, Flags = TcpFlags.Syn, Mss = 1460 };

    private sealed class RecordingTransport : ISegmentTransport
    {
        private int _attempts;

        public ConcurrentQueue<TcpSegmentSpec> Segments { get; } = new();

        /// <summary>Sends from this client port throw once, like a transport that broke.</summary>
        public ushort? FailForSourcePort { get; set; }

        public void Send(in TcpSegmentSpec segment, ReadOnlySpan<byte> payload)
        {
            if (segment.SourcePort == FailForSourcePort && Interlocked.Increment(ref _attempts) == 1)
            {
                throw new InvalidOperationException("transport broke");
            }

            Segments.Enqueue(segment);
        }
    }
}
