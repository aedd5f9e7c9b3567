using ReplayCluster.Capture.Sessions;
using ReplayCluster.Packets;

namespace ReplayCluster.Capture.Tests.Sessions;

/// <summary>
/// A new session's first SYN waits what handshakes of earlier sessions to the same target took (<see cref="HandshakeRtts"/>):
/// behind a slow reply relay it is not retransmitted into a target that has it, and on a quick path a lost one is
/// recovered as soon as before.
/// </summary>
public sealed class ReplaySessionHandshakeRttTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(30);

    [Fact]
    public void Behind_a_slow_relay_the_next_session_does_not_retransmit_a_syn_the_target_has()
    {
        var rtts = new HandshakeRtts();
        var first = Replay(rtts, relayDelay: TimeSpan.FromMilliseconds(450));

        // The first SYN-ACK came back after 200 ms: the first session retransmitted, and the target's echo of the SYN
        // it answered still timed the round trip (450 ms + 2 x 0.25 ms, on a millisecond clock).
        Assert.Equal(1, first.Session.Counters.SynRetransmissions);
        Assert.Equal(TimeSpan.FromSeconds(1), rtts.SynRto(ReplayHarness.Endpoints, new SessionOptions()));

        var next = Replay(rtts, relayDelay: TimeSpan.FromMilliseconds(450));
        Assert.Equal(0, next.Session.Counters.SynRetransmissions);
        Assert.Equal(RecordedClient.HttpRequest(1), next.Target.ReceivedText);
        Assert.Equal(SessionEndReason.Completed, next.Session.EndReason);
    }

    [Fact]
    public void Without_timestamps_a_handshake_after_a_retransmitted_syn_teaches_nothing()
    {
        var rtts = new HandshakeRtts();
        var first = Replay(rtts, relayDelay: TimeSpan.FromMilliseconds(450), tsVal: null);

        Assert.Equal(1, first.Session.Counters.SynRetransmissions);
        Assert.Equal(TimeSpan.FromMilliseconds(200), rtts.SynRto(ReplayHarness.Endpoints, new SessionOptions()));
        Assert.Equal(SessionEndReason.Completed, first.Session.EndReason);
    }

    [Fact]
    public void On_a_quick_path_a_lost_syn_is_retransmitted_after_the_initial_rto_as_before()
    {
        var rtts = new HandshakeRtts();
        Replay(rtts, relayDelay: TimeSpan.Zero);

        var lossy = Replay(rtts, relayDelay: TimeSpan.Zero, dropFirstSyn: true);
        var syns = lossy.Sent.Where(s => s.Spec.Flags == TcpFlags.Syn).Select(s => s.At).ToList();
        Assert.Equal(2, syns.Count);
        Assert.Equal(TimeSpan.FromMilliseconds(200), syns[1] - syns[0]);
        Assert.Equal(SessionEndReason.Completed, lossy.Session.EndReason);
    }

    private static ReplayHarness Replay(HandshakeRtts rtts, TimeSpan relayDelay, uint? tsVal = 5000, bool dropFirstSyn = false)
    {
        var harness = new ReplayHarness(handshakes: rtts) { RelayDelay = relayDelay, DropNextToTarget = dropFirstSyn ? 1 : 0 };
        new RecordedClient(tsVal: tsVal).Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).ServerSent(1000).Fin().CaptureInto(harness);
        harness.Run(Long);
        return harness;
    }
}
