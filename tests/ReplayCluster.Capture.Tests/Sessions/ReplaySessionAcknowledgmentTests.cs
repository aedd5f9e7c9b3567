using ReplayCluster.Capture.Sessions;
using ReplayCluster.Packets;
using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Tests.Sessions;

/// <summary>
/// The acknowledgments the session sends the target: carried by its own segments where a client's kernel would carry
/// them, sent alone only when nothing of ours leaves (every second segment, a FIN, a repeat at once; a lone segment
/// after <see cref="SessionOptions.DelayedAck"/>). Each pure ACK is a packet the target takes for nothing.
/// </summary>
public sealed class ReplaySessionAcknowledgmentTests
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(2);

    // The simulated target's first byte on its first connection (its SYN-ACK's sequence + 1).
    private const uint TargetFirstByte = 7_000_002;

    [Fact]
    public void Keep_alive_responses_are_acknowledged_by_the_next_request_not_by_acks_of_their_own()
    {
        var harness = new ReplayHarness { BatchReplies = true };
        harness.Target.ResponseSize = 2000; // two segments per response, as nginx's header and body
        RecordedClient.KeepAlive(requests: 5, responseSize: 2000).Fin().CaptureInto(harness);

        harness.Run(Long);

        Assert.Equal(RecordedClient.HttpRequests(5), harness.Target.ReceivedText);
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
        // The one pure ACK is the last word: the target's FIN came after ours, and nothing of ours follows to carry it.
        var pure = PureAcks(harness);
        var last = Assert.Single(pure);
        Assert.Equal(harness.Sent[^1].Spec, last.Spec);
    }

    [Fact]
    public void A_response_and_the_targets_fin_in_one_batch_are_acknowledged_by_our_fin_alone()
    {
        var harness = new ReplayHarness { BatchReplies = true };
        harness.Target.ResponseSize = 2000;
        harness.Target.CloseAfterRequests = 1;
        new RecordedClient().Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).ServerSent(2000).Fin().CaptureInto(harness);

        harness.Run(Long);

        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
        Assert.Equal(0, harness.Target.ResetsSeen);
        // SYN, the request carrying the handshake's ACK, then one FIN acknowledging the response and the target's FIN
        // (one reply at a time it was an ACK, a FIN and another ACK).
        Assert.Equal([TcpFlags.Syn, TcpFlags.Ack | TcpFlags.Psh, TcpFlags.Fin | TcpFlags.Ack], harness.Sent.Select(s => s.Spec.Flags));
        var fin = harness.Sent[^1].Spec;
        Assert.Equal(TargetFirstByte + 2000 + 1, fin.Acknowledgment);
    }

    [Fact]
    public void A_lone_segment_is_acknowledged_after_the_delayed_ack_time_and_every_second_one_at_once()
    {
        var options = new SessionOptions();
        var harness = new ReplayHarness(options);
        harness.Target.ResponseSize = 3000; // 1460 + 1460 + 80, sent at one moment, taken one at a time
        var client = new RecordedClient().At(TimeSpan.Zero).Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).ServerSent(3000);
        client.At(TimeSpan.FromSeconds(1)).Fin().CaptureLive(harness);

        harness.Run(Long);

        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
        var responseSeen = harness.Target.ResponseEnds[0] + harness.Latency;
        var acks = PureAcks(harness).Where(s => s.At < responseSeen + TimeSpan.FromMilliseconds(500)).ToList();
        Assert.Equal(2, acks.Count);
        Assert.Equal((TargetFirstByte + 2920, responseSeen), (acks[0].Spec.Acknowledgment, acks[0].At));
        Assert.Equal((TargetFirstByte + 3000, responseSeen + options.DelayedAck), (acks[1].Spec.Acknowledgment, acks[1].At));
    }

    [Fact]
    public void A_repeated_segment_is_acknowledged_at_once()
    {
        var harness = new ReplayHarness();
        harness.Target.ResponseSize = 500;
        var client = new RecordedClient().At(TimeSpan.Zero).Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).ServerSent(500);
        client.At(TimeSpan.FromSeconds(1)).Fin().CaptureLive(harness);
        harness.Run(TimeSpan.FromMilliseconds(100));
        var (first, _, ackedAt) = Assert.Single(PureAcks(harness));

        // The target repeats its segment (its ACK was lost): the answer leaves with no delay.
        var response = new ResponseRecord
        {
            ClientAddress = ReplayHarness.Endpoints.ClientAddress,
            ClientPort = ReplayHarness.Endpoints.ClientPort,
            TargetAddress = ReplayHarness.Endpoints.TargetAddress,
            TargetPort = ReplayHarness.Endpoints.TargetPort,
            Sequence = first.Acknowledgment - 500,
            Acknowledgment = harness.Sent[^1].Spec.Sequence,
            Flags = (byte)(TcpFlags.Ack | TcpFlags.Psh),
            PayloadLength = 500,
            Window = 65535,
        };
        var before = PureAcks(harness).Count;
        harness.Session.OnResponse(response);

        var again = PureAcks(harness);
        Assert.Equal(before + 1, again.Count);
        Assert.Equal(harness.Time.GetUtcNow(), again[^1].At);
        Assert.True(again[^1].At > ackedAt);
    }

    private static List<(TcpSegmentSpec Spec, byte[] Payload, DateTimeOffset At)> PureAcks(ReplayHarness harness) =>
        [.. harness.Sent.Where(s => s.Spec.Flags == TcpFlags.Ack && s.Payload.Length == 0)];
}
