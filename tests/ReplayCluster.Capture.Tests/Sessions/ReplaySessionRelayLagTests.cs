using ReplayCluster.Capture.Sessions;
using ReplayCluster.Packets;

namespace ReplayCluster.Capture.Tests.Sessions;

/// <summary>
/// A retransmission timeout gives the reply relay a round trip plus its lag (<see cref="RelayLag"/>): while the relay is
/// behind, a SYN the target answered is not sent again, and a SYN that was lost is sent again once the relay had that
/// long to bring its answer, within <see cref="SessionOptions.RelayWaitCeiling"/>.
/// </summary>
public sealed class ReplaySessionRelayLagTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);

    [Fact]
    public void Behind_a_relay_that_is_behind_the_syn_the_target_answered_is_not_sent_again()
    {
        var harness = Replay(relayDelay: 700 * Ms, backlog: 700 * Ms, relayLag: new RelayLag());

        Assert.Equal(0, harness.Session.Counters.SynRetransmissions);
        Assert.Equal(1, harness.Session.Counters.RetransmitTimeoutsDeferred);
        Assert.Equal(RecordedClient.HttpRequest(1), harness.Target.ReceivedText);
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
    }

    [Fact]
    public void Without_the_relays_lag_the_same_session_sends_its_syn_again()
    {
        var harness = Replay(relayDelay: 700 * Ms, backlog: 700 * Ms, relayLag: null);

        Assert.True(harness.Session.Counters.SynRetransmissions >= 1);
        Assert.Equal(0, harness.Session.Counters.RetransmitTimeoutsDeferred);
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
    }

    [Fact]
    public void A_lost_syn_is_sent_again_once_the_relay_had_a_round_trip_and_its_lag_to_bring_the_answer()
    {
        var harness = Replay(relayDelay: 300 * Ms, backlog: 300 * Ms, relayLag: new RelayLag(), dropFirstSyn: true);

        // The timeout was due 200 ms after the SYN; with the relay 300 ms behind, an answer could have come 30 ms (MinRto,
        // a round trip) + 300 ms after the SYN at the earliest: the SYN goes again then, not 200 ms later.
        var syns = Syns(harness);
        Assert.Equal(2, syns.Count);
        Assert.InRange(syns[1] - syns[0], 325 * Ms, 340 * Ms);
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
    }

    [Fact]
    public void A_relay_far_behind_puts_a_timeout_off_no_longer_than_the_ceiling()
    {
        var harness = Replay(relayDelay: 0.5 * Ms, backlog: TimeSpan.FromSeconds(10), relayLag: new RelayLag(), dropFirstSyn: true);

        var syns = Syns(harness);
        Assert.Equal(200 * Ms + new SessionOptions().RelayWaitCeiling, syns[1] - syns[0]);
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
    }

    [Fact]
    public void A_relay_that_stopped_delivering_holds_nothing_back()
    {
        // The relay was 600 ms behind until 20 ms into the run and has delivered nothing since; the session starts at 400 ms.
        var harness = Replay(relayDelay: 0.5 * Ms, backlog: 600 * Ms, relayLag: new RelayLag(), dropFirstSyn: true, backlogFor: 20 * Ms,
            startAfter: 400 * Ms);

        var syns = Syns(harness);
        Assert.Equal(200 * Ms, syns[1] - syns[0]);
        Assert.Equal(0, harness.Session.Counters.RetransmitTimeoutsDeferred);
    }

    private static List<DateTimeOffset> Syns(ReplayHarness harness) =>
        [.. harness.Sent.Where(s => s.Spec.Flags == TcpFlags.Syn).Select(s => s.At)];

    // Other sessions' replies reach the shard every 10 ms, first from an idle relay (0.5 ms), then `backlog` late
    // (for `backlogFor`, default the whole run): the relay's lag. This session's own replies take `relayDelay`.
    private static ReplayHarness Replay(TimeSpan relayDelay, TimeSpan backlog, RelayLag? relayLag, bool dropFirstSyn = false, TimeSpan? backlogFor = null,
        TimeSpan startAfter = default)
    {
        var harness = new ReplayHarness(relayLag: relayLag) { RelayDelay = relayDelay, DropNextToTarget = dropFirstSyn ? 1 : 0 };
        if (relayLag is not null)
        {
            var start = harness.Time.GetUtcNow();
            relayLag.Observe(ReplayHarness.Intercept, Nanos(start - (0.5 * Ms)), start);
            var until = backlogFor ?? TimeSpan.FromSeconds(5);
            for (var after = 10 * Ms; after <= until; after += 10 * Ms)
            {
                harness.At(after, () => relayLag.Observe(ReplayHarness.Intercept, Nanos(harness.Time.GetUtcNow() - backlog - (0.5 * Ms)), harness.Time.GetUtcNow()));
            }
        }

        var client = new RecordedClient().Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).ServerSent(1000).Fin();
        harness.At(startAfter, () => client.CaptureInto(harness));
        harness.Run(Long);
        return harness;
    }

    private static long Nanos(DateTimeOffset moment) => (moment.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;
}
