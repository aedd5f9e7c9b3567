using Microsoft.Extensions.Time.Testing;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Packets;
using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Tests.Sessions;

/// <summary>
/// A fake 4-tuple reused while the target still holds its previous connection: the SYN meets TIME_WAIT
/// or an ESTABLISHED connection and is answered with a plain ACK; the session resets that connection
/// and sends its SYN again at once.
/// </summary>
public sealed class ReplaySessionStaleConnectionTests
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(2);

    [Fact]
    public void A_syn_that_meets_time_wait_resets_it_and_connects_at_once()
    {
        var harness = new ReplayHarness();
        var start = harness.Time.GetUtcNow();
        harness.Target.EnterTimeWait(rcvNxt: 5_000_000, sndNxt: 9_000_000, until: start + TimeSpan.FromSeconds(60));
        new RecordedClient(isn: 100_000).Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).ServerSent(1000).Fin().CaptureInto(harness);

        harness.Run(Long);

        Assert.Equal(RecordedClient.HttpRequest(1), harness.Target.ReceivedText);
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
        Assert.Equal(1, harness.Target.TimeWaitAcks);
        Assert.Equal(1, harness.Session.Counters.StaleConnectionsReset);
        Assert.Equal(0, harness.Session.Counters.SynRetransmissions);
        Assert.Contains(harness.Sent, s => s.Spec.Flags == TcpFlags.Rst && s.Spec.Sequence == 5_000_000);
        Assert.Equal(2, harness.Sent.Count(s => s.Spec.Flags == TcpFlags.Syn));

        // Two round trips more than a fresh target, not a SYN retransmission timeout (200 ms).
        var firstData = harness.Sent.First(s => s.Payload.Length > 0).At;
        Assert.True(firstData - start < TimeSpan.FromMilliseconds(5), $"first data after {(firstData - start).TotalMilliseconds} ms");
    }

    [Fact]
    public void A_syn_newer_than_time_wait_is_taken_by_the_target_without_any_reset()
    {
        var harness = new ReplayHarness();
        harness.Target.EnterTimeWait(rcvNxt: 50_000, sndNxt: 9_000_000, until: harness.Time.GetUtcNow() + TimeSpan.FromSeconds(60));
        new RecordedClient(isn: 100_000).Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).ServerSent(1000).Fin().CaptureInto(harness);

        harness.Run(Long);

        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
        Assert.Equal(0, harness.Target.TimeWaitAcks);
        Assert.Equal(0, harness.Session.Counters.StaleConnectionsReset);
    }

    [Fact]
    public void A_syn_that_meets_an_established_connection_from_before_a_restart_resets_it_by_exact_match()
    {
        var harness = new ReplayHarness();
        harness.Target.HoldEstablished(rcvNxt: 7_777_777, sndNxt: 3_000_000);
        new RecordedClient(isn: 100_000).Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).ServerSent(1000).Fin().CaptureInto(harness);

        harness.Run(Long);

        Assert.Equal(RecordedClient.HttpRequest(1), harness.Target.ReceivedText);
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
        Assert.Equal(1, harness.Target.ChallengeAcks);
        Assert.Equal(1, harness.Target.ResetsAccepted);
        Assert.Equal(1, harness.Session.Counters.StaleConnectionsReset);
        Assert.Equal(2, harness.Target.Connections);
        Assert.Equal(0, harness.Session.Counters.SynRetransmissions);
    }

    [Fact]
    public void A_challenge_of_exactly_our_isn_plus_one_is_reset_at_the_next_syn_timeout_not_at_once()
    {
        // Our own connection from before, reconnected one below its first unacknowledged byte, answers
        // with exactly ISN+1, which a late ACK of it could also carry: the reset waits for one RTO.
        var harness = new ReplayHarness();
        harness.Target.HoldEstablished(rcvNxt: 100_001, sndNxt: 3_000_000);
        new RecordedClient(isn: 100_000).Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).ServerSent(1000).Fin().CaptureInto(harness);

        harness.Run(Long);

        Assert.Equal(RecordedClient.HttpRequest(1), harness.Target.ReceivedText);
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
        Assert.Equal(1, harness.Session.Counters.StaleConnectionsReset);
        Assert.Equal(1, harness.Session.Counters.SynRetransmissions);
        Assert.Equal(1, harness.Target.ResetsAccepted);
    }

    [Fact]
    public void Recovery_is_bounded_when_the_stale_connection_never_goes()
    {
        var options = new SessionOptions();
        var harness = new ReplayHarness(options);
        harness.Target.IgnoreResets = true;
        harness.Target.EnterTimeWait(rcvNxt: 5_000_000, sndNxt: 9_000_000, until: harness.Time.GetUtcNow() + TimeSpan.FromHours(1));
        new RecordedClient(isn: 100_000).Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).CaptureInto(harness);

        harness.Run(Long);

        Assert.Equal(SessionEndReason.SynTimeout, harness.Session.EndReason);
        Assert.InRange(harness.Session.Counters.StaleConnectionsReset, 1, options.MaxSynRetries);
        Assert.True(harness.Sent.Count(s => s.Spec.Flags == TcpFlags.Syn) <= 2 * (options.MaxSynRetries + 1));
        Assert.Empty(harness.Target.Received);
    }

    [Fact]
    public void After_a_reconnect_bytes_the_old_connection_received_unseen_are_not_sent_again()
    {
        var sent = new List<(TcpSegmentSpec Spec, byte[] Payload)>();
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var session = new ReplaySession(ReplayHarness.Endpoints, new SessionOptions { Pacing = PacingMode.NoWait }, new ListTransport(sent), time);
        var body = new byte[3000];
        foreach (var segment in new RecordedClient(isn: 100_000).Syn().HandshakeAck().Data(body, segmentSize: 1000).Segments)
        {
            session.OnCaptured(segment);
        }

        session.OnResponse(Reply(TcpFlags.Syn | TcpFlags.Ack, seq: 5000, ack: 100_001));
        Assert.Equal(3000, sent.Sum(s => s.Payload.Length));

        // The target acknowledged the first 1000 bytes, then closed with the rest pending: reconnect.
        session.OnResponse(Reply(TcpFlags.Ack, seq: 5001, ack: 101_001));
        sent.Clear();
        session.OnResponse(Reply(TcpFlags.Fin | TcpFlags.Ack, seq: 5001, ack: 101_001));
        Assert.Equal(TcpFlags.Syn, sent[^1].Spec.Flags);
        Assert.Equal(101_000u, sent[^1].Spec.Sequence);

        // Its old connection answers our SYN: it had 1000 bytes more than we saw acknowledged.
        sent.Clear();
        session.OnResponse(Reply(TcpFlags.Ack, seq: 5002, ack: 102_001));
        Assert.Equal([(TcpFlags.Rst, 102_001u), (TcpFlags.Syn, 102_000u)], sent.Select(s => (s.Spec.Flags, s.Spec.Sequence)));
        Assert.Equal(2000, session.Counters.BytesAcknowledged);

        sent.Clear();
        session.OnResponse(Reply(TcpFlags.Syn | TcpFlags.Ack, seq: 8000, ack: 102_001));
        var data = sent.Where(s => s.Payload.Length > 0).ToList();
        Assert.Equal(102_001u, data[0].Spec.Sequence);
        Assert.Equal(1000, data.Sum(s => s.Payload.Length));
        Assert.Equal(1, session.Counters.StaleConnectionsReset);
    }

    [Fact]
    public void A_closing_reset_the_target_challenges_is_answered_with_the_exact_sequence_once()
    {
        var sent = new List<(TcpSegmentSpec Spec, byte[] Payload)>();
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var session = new ReplaySession(ReplayHarness.Endpoints, new SessionOptions(), new ListTransport(sent), time);
        foreach (var segment in new RecordedClient(isn: 100_000).Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).Segments)
        {
            session.OnCaptured(segment);
        }

        session.OnResponse(Reply(TcpFlags.Syn | TcpFlags.Ack, seq: 5000, ack: 100_001));
        session.Abort();
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, sent[^1].Spec.Flags);

        // Our data never arrived, so the reset was in the window but not exact: the target challenges it.
        sent.Clear();
        session.OnResponse(Reply(TcpFlags.Ack, seq: 5001, ack: 100_001));
        session.OnResponse(Reply(TcpFlags.Ack, seq: 5001, ack: 100_001));
        Assert.Equal([(TcpFlags.Rst, 100_001u)], sent.Select(s => (s.Spec.Flags, s.Spec.Sequence)));
    }

    private static ResponseRecord Reply(TcpFlags flags, uint seq, uint ack) => new()
    {
        ClientAddress = ReplayHarness.Endpoints.ClientAddress,
        ClientPort = ReplayHarness.Endpoints.ClientPort,
        TargetAddress = ReplayHarness.Endpoints.TargetAddress,
        TargetPort = ReplayHarness.Endpoints.TargetPort,
        Sequence = seq,
        Acknowledgment = ack,
        Window = 65535,
        Flags = (byte)flags,
        PayloadLength = 0,
        Mss = (flags & TcpFlags.Syn) != 0 ? (ushort)1460 : (ushort)0,
        WindowScale = (flags & TcpFlags.Syn) != 0 ? (byte)7 : ResponseRecord.NoWindowScale,
    };

    private sealed class ListTransport(List<(TcpSegmentSpec Spec, byte[] Payload)> sent) : ISegmentTransport
    {
        public void Send(in TcpSegmentSpec segment, ReadOnlySpan<byte> payload) => sent.Add((segment, payload.ToArray()));
    }
}
