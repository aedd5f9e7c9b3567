using ReplayCluster.Capture.Sessions;
using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Tests.Sessions.Replay;

public sealed class HandshakeRttsTests
{
    private static readonly SessionOptions Options = new() { InitialRto = TimeSpan.FromMilliseconds(200), SynRtoCeiling = TimeSpan.FromSeconds(1) };
    private static readonly SessionEndpoints ToA = new(0x0AC80005, 40_001, 0x0A000202, 80);
    private static readonly SessionEndpoints OtherClientToA = new(0x0AC80006, 50_000, 0x0A000202, 80);
    private static readonly SessionEndpoints ToB = new(0x0AC80005, 40_001, 0x0A000203, 80);

    [Fact]
    public void Without_a_sample_a_syn_waits_the_initial_rto()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(200), new HandshakeRtts().SynRto(ToA, Options));
    }

    [Fact]
    public void Handshakes_of_other_sessions_to_the_same_target_set_the_syn_timeout_per_rfc_6298()
    {
        var rtts = new HandshakeRtts();
        rtts.Sample(ToA, TimeSpan.FromMilliseconds(100));

        // SRTT = R, RTTVAR = R/2: 100 + 4 * 50; any client of the same target.
        Assert.Equal(TimeSpan.FromMilliseconds(300), rtts.SynRto(OtherClientToA, Options));

        // RTTVAR = 3/4 * 50 + 1/4 * |100 - 140| = 47.5, SRTT = 7/8 * 100 + 1/8 * 140 = 105.
        rtts.Sample(ToA, TimeSpan.FromMilliseconds(140));
        Assert.Equal(TimeSpan.FromMilliseconds(105 + (4 * 47.5)), rtts.SynRto(ToA, Options));

        // Another target has its own.
        Assert.Equal(TimeSpan.FromMilliseconds(200), rtts.SynRto(ToB, Options));
    }

    [Fact]
    public void The_timeout_stays_between_the_initial_rto_and_the_ceiling()
    {
        var rtts = new HandshakeRtts();
        rtts.Sample(ToA, TimeSpan.FromMilliseconds(0.3));
        Assert.Equal(TimeSpan.FromMilliseconds(200), rtts.SynRto(ToA, Options));

        for (var i = 0; i < 20; i++)
        {
            rtts.Sample(ToA, TimeSpan.FromSeconds(3));
        }

        Assert.Equal(TimeSpan.FromSeconds(1), rtts.SynRto(ToA, Options));

        // A quiet target again: the estimate follows it back down.
        for (var i = 0; i < 60; i++)
        {
            rtts.Sample(ToA, TimeSpan.FromMilliseconds(0.3));
        }

        Assert.Equal(TimeSpan.FromMilliseconds(200), rtts.SynRto(ToA, Options));
    }

    [Fact]
    public void Past_its_bound_on_targets_it_starts_over_rather_than_grow()
    {
        var rtts = new HandshakeRtts();
        rtts.Sample(ToA, TimeSpan.FromMilliseconds(500));
        for (uint i = 1; i < HandshakeRtts.MaxTargets; i++)
        {
            rtts.Sample(new SessionEndpoints(1, 1, 0x0B000000 + i, 80), TimeSpan.FromMilliseconds(500));
        }

        Assert.Equal(TimeSpan.FromSeconds(1), rtts.SynRto(ToA, Options));
        rtts.Sample(ToB, TimeSpan.FromMilliseconds(500));
        Assert.Equal(TimeSpan.FromMilliseconds(200), rtts.SynRto(ToA, Options));
        Assert.Equal(TimeSpan.FromSeconds(1), rtts.SynRto(ToB, Options));
    }

    [Fact]
    public void A_negative_sample_is_ignored()
    {
        var rtts = new HandshakeRtts();
        rtts.Sample(ToA, TimeSpan.FromMilliseconds(-5));
        Assert.Equal(TimeSpan.FromMilliseconds(200), rtts.SynRto(ToA, Options));
    }
}
