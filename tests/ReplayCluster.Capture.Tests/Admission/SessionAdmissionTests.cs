using Microsoft.Extensions.Time.Testing;
using ReplayCluster.Capture.Admission;
using ReplayCluster.Capture.Plans;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Capture.Tests.Sessions;
using ReplayCluster.Packets;

namespace ReplayCluster.Capture.Tests.Admission;

public sealed class SessionAdmissionTests
{
    private static readonly OnlineConnection Connection = new(0x0A0B0B02, 40_000, 0x0A0B0B01, 80);
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UnixEpoch);
    private readonly CaptureNodeStatistics _statistics = new();

    [Fact]
    public void A_pure_ack_or_reset_of_an_unknown_connection_is_not_replayable()
    {
        var admission = NewAdmission(out _);
        Assert.Equal(AdmissionVerdict.NotReplayable, admission.Decide(Connection, new CapturedSegment { Sequence = 5, Acknowledgment = 1, Flags = TcpFlags.Ack }, Plan(), out _));
        Assert.Equal(AdmissionVerdict.NotReplayable, admission.Decide(Connection, new CapturedSegment { Sequence = 5, Acknowledgment = 1, Flags = TcpFlags.Rst, Payload = new byte[1] }, Plan(), out _));
        Assert.Equal(2, _statistics.PacketsIgnored);
    }

    [Fact]
    public void A_connection_left_out_by_sampling_keeps_its_packets_out_until_a_new_syn_or_its_close()
    {
        var admission = NewAdmission(out _);
        var plan = Plan(samplePercent: 0.001);
        Assert.Equal(AdmissionVerdict.LeftOut, admission.Decide(Connection, CaptureNodeRig.Syn(1000), plan, out var isn));
        Assert.Equal(1000u, isn);

        Assert.True(admission.IsLeftOut(Connection, new CapturedSegment { Sequence = 1001, Acknowledgment = 1, Flags = TcpFlags.Ack, Payload = new byte[3] }));
        Assert.False(admission.IsLeftOut(Connection, CaptureNodeRig.Syn(77)));
        Assert.True(admission.IsLeftOut(Connection, new CapturedSegment { Sequence = 1004, Acknowledgment = 1, Flags = TcpFlags.Fin | TcpFlags.Ack }));
        Assert.Equal(0, admission.LeftOutCount);
    }

    [Fact]
    public void Left_out_connections_are_forgotten_after_two_silent_minutes()
    {
        var admission = NewAdmission(out _);
        admission.LeaveOut(Connection, 1000);
        _time.Advance(SessionAdmission.LeftOutMemory - TimeSpan.FromSeconds(1));
        admission.ForgetIdle();
        Assert.Equal(1, admission.LeftOutCount);
        _time.Advance(TimeSpan.FromSeconds(2));
        admission.ForgetIdle();
        Assert.Equal(0, admission.LeftOutCount);
    }

    [Fact]
    public void The_budget_refuses_new_connections_while_it_is_exhausted()
    {
        var admission = NewAdmission(out var limits, budget: 100);
        limits.Budget.Take(100);
        Assert.Equal(AdmissionVerdict.RefusedMemory, admission.Decide(Connection, CaptureNodeRig.Syn(1), Plan(), out _));
        limits.Budget.Give(1);
        Assert.Equal(AdmissionVerdict.Admit, admission.Decide(Connection, CaptureNodeRig.Syn(1), Plan(), out _));
        Assert.Equal(1, _statistics.SessionsRefusedMemory);
    }

    [Fact]
    public void The_rate_cap_gives_one_seconds_burst_then_its_rate_and_the_ceiling_bounds_live_sessions()
    {
        var admission = NewAdmission(out var limits, maxLive: 3);
        limits.SetRate(2);
        Assert.Equal([CopyVerdict.Admit, CopyVerdict.Admit, CopyVerdict.RateLimited], Enumerable.Range(0, 3).Select(_ => admission.DecideCopy()));
        _time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Equal(CopyVerdict.Admit, admission.DecideCopy());
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(CopyVerdict.RefusedCeiling, admission.DecideCopy());
        limits.ReleaseLive();
        Assert.Equal(CopyVerdict.Admit, admission.DecideCopy());
        Assert.Equal((1, 1, 3L), (_statistics.SessionsRateLimited, _statistics.SessionsRefusedCeiling, limits.LiveSessions));

        limits.SetRate(null);
        limits.ReleaseLive();
        Assert.All(Enumerable.Range(0, 1), _ => Assert.Equal(CopyVerdict.Admit, admission.DecideCopy()));
    }

    [Fact]
    public void A_connection_first_seen_with_data_is_left_out_unless_joining_mid_stream_is_on()
    {
        var data = new CapturedSegment { Sequence = 5000, Acknowledgment = 1, Flags = TcpFlags.Ack | TcpFlags.Psh, Payload = new byte[10] };
        var admission = NewAdmission(out _);
        Assert.Equal(AdmissionVerdict.LeftOut, admission.Decide(Connection, data, Plan(), out _));
        Assert.Equal(1, _statistics.SessionsNotJoinedMidStream);
        Assert.Equal(1, _statistics.ToCounters()["sessions_not_joined_mid_stream"]);
        Assert.True(admission.IsLeftOut(Connection, data with { Sequence = 5010 }), "the rest of the connection stays out");
        Assert.Equal(AdmissionVerdict.Admit, admission.Decide(Connection, CaptureNodeRig.Syn(1), Plan(), out _));

        var joining = NewAdmission(out _, joinMidStream: true);
        Assert.Equal(AdmissionVerdict.Admit, joining.Decide(Connection, data, Plan(), out var isn));
        Assert.Equal(4999u, isn);
        Assert.Equal(1, _statistics.SessionsNotJoinedMidStream);
    }

    [Fact]
    public void While_no_intercept_is_in_the_cluster_new_connections_are_left_out_and_counted()
    {
        var readiness = new CaptureReadiness();
        readiness.SetIntercepts(1, 1);
        var limits = new AdmissionLimits(1000, new BufferBudget(1 << 20), _time) { Readiness = readiness };
        var admission = new SessionAdmission(limits, _statistics, _time);
        Assert.Equal(AdmissionVerdict.Admit, admission.Decide(Connection, CaptureNodeRig.Syn(1), Plan(), out _));

        readiness.SetIntercepts(0, 0);
        var other = Connection with { ClientPort = 40_001 };
        Assert.Equal(AdmissionVerdict.LeftOut, admission.Decide(other, CaptureNodeRig.Syn(2), Plan(), out _));
        Assert.Equal(1, _statistics.ToCounters()["sessions_refused_no_intercept"]);
        Assert.True(admission.IsLeftOut(other, new CapturedSegment { Sequence = 3, Acknowledgment = 1, Flags = TcpFlags.Ack, Payload = new byte[5] }));

        readiness.SetIntercepts(1, 1);
        Assert.Equal(AdmissionVerdict.Admit, admission.Decide(other, CaptureNodeRig.Syn(100), Plan(), out _));
        Assert.Equal(1, _statistics.SessionsRefusedNoIntercept);
    }

    private SessionAdmission NewAdmission(out AdmissionLimits limits, long budget = 1 << 20, long maxLive = 1000, bool joinMidStream = false)
    {
        limits = new AdmissionLimits(maxLive, new BufferBudget(budget), _time) { JoinMidStream = joinMidStream };
        return new SessionAdmission(limits, _statistics, _time);
    }

    private static AppliedPlan Plan(double samplePercent = 100) =>
        AppliedPlan.Own(CaptureNodeRig.DefaultSettings(samplePercent: samplePercent));
}
