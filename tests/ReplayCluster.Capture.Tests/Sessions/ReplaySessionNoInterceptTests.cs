using ReplayCluster.Capture.Sessions;
using ReplayCluster.Packets;

namespace ReplayCluster.Capture.Tests.Sessions;

/// <summary>
/// While no intercept is in the cluster nothing relays the target's answers: a session's retransmission timeouts hold at
/// the longest backoff without spending its retries (<see cref="RelayLag.NoIntercept"/>), so a keep-alive session outlives
/// an intercept restart, and it retransmits as before once an intercept is back.
/// </summary>
public sealed class ReplaySessionNoInterceptTests
{
    private static readonly TimeSpan Second = TimeSpan.FromSeconds(1);

    [Fact]
    public void A_session_holds_through_40_s_without_an_intercept_and_delivers_everything_once_one_is_back()
    {
        var (harness, down) = Replay(withDirectory: true, outage: 40 * Second);

        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
        Assert.Equal(RecordedClient.HttpRequest(1) + RecordedClient.HttpRequest(2), harness.Target.ReceivedText);
        // Nothing was sent while no intercept could relay an answer: the hold sends nothing and counts no retry.
        Assert.DoesNotContain(harness.Sent, s => s.At > down.From + Second && s.At < down.To);
        Assert.True(harness.Session.Counters.RetransmitTimeoutsDeferred >= 7, $"{harness.Session.Counters.RetransmitTimeoutsDeferred} timeouts held"); // one per longest backoff (5 s)
        // Back: request 2, lost on its way to the target, goes again within one longest backoff.
        var resent = harness.Sent.First(s => s.At >= down.To && s.Payload.Length > 0).At;
        Assert.InRange(resent - down.To, TimeSpan.Zero, new SessionOptions().MaxRto);
        Assert.Equal(1, harness.Session.Counters.Retransmissions);
    }

    [Fact]
    public void Without_knowing_that_no_intercept_is_up_the_same_session_spends_its_retries_and_is_lost()
    {
        var (harness, _) = Replay(withDirectory: false, outage: 40 * Second);

        Assert.Equal(SessionEndReason.RetransmitLimit, harness.Session.EndReason);
        Assert.True(harness.Session.Counters.Retransmissions >= new SessionOptions().MaxRetries);
    }

    [Fact]
    public void A_hold_ends_where_any_silence_with_data_pending_ends()
    {
        // No intercept for two minutes: the session is not held forever, it is lost after the idle timeout (60 s).
        var (harness, _) = Replay(withDirectory: true, outage: TimeSpan.FromMinutes(2));

        Assert.Equal(SessionEndReason.IdleTimeout, harness.Session.EndReason);
        Assert.Equal(0, harness.Session.Counters.Retransmissions);
    }

    [Fact]
    public void A_session_in_its_handshake_holds_its_syn_too()
    {
        var noIntercept = true;
        var harness = new ReplayHarness(relayLag: new RelayLag(() => noIntercept)) { DropReply = _ => noIntercept };
        harness.At(30 * Second, () => noIntercept = false);
        new RecordedClient().Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).ServerSent(1000).Fin().CaptureInto(harness);
        harness.Run(TimeSpan.FromMinutes(2));

        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
        Assert.Equal(RecordedClient.HttpRequest(1), harness.Target.ReceivedText);
        // The SYN went once before and once after the outage, never in between.
        Assert.Equal(1, harness.Session.Counters.SynRetransmissions);
        Assert.DoesNotContain(harness.Sent, s => s.Spec.Flags == TcpFlags.Syn && s.At > harness.Sent[0].At && s.At < harness.Sent[0].At + (30 * Second));
    }

    // A keep-alive session: request 1 answered, then the intercept dies (replies dropped) and request 2 is captured (and
    // lost on its way to the target, so only a retransmission delivers it), and after `outage` the intercept is back.
    // With the directory the session knows there is no intercept; without it, it does not.
    private static (ReplayHarness Harness, (DateTimeOffset From, DateTimeOffset To) Down) Replay(bool withDirectory, TimeSpan outage)
    {
        var noIntercept = false;
        var harness = new ReplayHarness(relayLag: withDirectory ? new RelayLag(() => noIntercept) : null) { DropReply = _ => noIntercept };
        var start = harness.Time.GetUtcNow();
        var from = start + Second;
        var to = from + outage;
        harness.At(Second, () => noIntercept = true);
        harness.At(Second + outage, () => noIntercept = false);
        harness.At(1.5 * Second, () => harness.DropNextToTarget = 1);
        new RecordedClient()
            .Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).ServerSent(1000)
            .At(2 * Second).Request(RecordedClient.HttpRequest(2)).ServerSent(1000)
            .At(90 * Second).Fin()
            .CaptureLive(harness);
        harness.Run(TimeSpan.FromMinutes(3));
        return (harness, (from, to));
    }
}
