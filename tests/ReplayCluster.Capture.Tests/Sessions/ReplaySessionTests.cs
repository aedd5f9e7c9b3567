using System.Text;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Packets;

namespace ReplayCluster.Capture.Tests.Sessions;

public sealed class ReplaySessionTests
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(2);

    [Fact]
    public void A_short_connection_is_replayed_byte_for_byte_and_closed_cleanly()
    {
        var harness = new ReplayHarness();
        var client = new RecordedClient().Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).ServerSent(1000).Fin();
        client.CaptureInto(harness, TimeSpan.FromMilliseconds(1));

        harness.Run(Long);

        Assert.Equal(RecordedClient.HttpRequest(1), harness.Target.ReceivedText);
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
        Assert.Equal(1, harness.Target.Connections);
        Assert.Equal(0, harness.Target.ResetsSeen);
        Assert.Equal(1, harness.Session.Counters.RequestsCaptured);
        Assert.Equal(1, harness.Session.Counters.RequestsDelivered);
        Assert.Equal(0, harness.Session.Counters.Retransmissions);
        var syn = harness.Sent[0].Spec;
        Assert.Equal(TcpFlags.Syn, syn.Flags);
        Assert.Equal(client.Isn, syn.Sequence);
        Assert.Equal(ReplayHarness.Endpoints.TargetAddress, syn.DestinationAddress);
        Assert.Equal(ReplayHarness.Endpoints.ClientAddress, syn.SourceAddress);
    }

    [Fact]
    public void Counters_taken_hold_what_was_counted_and_the_session_keeps_none_until_it_counts_again()
    {
        var harness = new ReplayHarness();
        new RecordedClient().Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).ServerSent(1000).CaptureInto(harness, TimeSpan.FromMilliseconds(1));
        harness.Run(TimeSpan.FromSeconds(5));

        var taken = harness.Session.TakeCounters();

        Assert.NotNull(taken);
        Assert.Equal((1L, 1L), (taken.RequestsCaptured, taken.RequestsDelivered));
        Assert.True(taken.SegmentsSent >= 2);
        Assert.Null(harness.Session.TakeCounters());

        // The next count (the client's FIN, and what it sends) starts new counters, from zero.
        new RecordedClient().Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).ServerSent(1000).Fin().CaptureInto(harness, TimeSpan.FromMilliseconds(1));
        harness.Run(Long);
        var next = harness.Session.TakeCounters();
        Assert.NotNull(next);
        Assert.NotSame(taken, next);
        Assert.Equal(0, next.RequestsCaptured);
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
    }

    [Fact]
    public void Keep_alive_requests_wait_for_the_targets_previous_response()
    {
        var harness = new ReplayHarness();
        var client = RecordedClient.KeepAlive(requests: 5, responseSize: 1000);
        // Captured all at once (as if the capture delivered a burst): pacing alone must space them.
        client.Fin().CaptureInto(harness);
        harness.Run(Long);

        Assert.Equal(RecordedClient.HttpRequests(5), harness.Target.ReceivedText);
        Assert.Equal(5, harness.Target.RequestsAnswered);
        for (var i = 1; i < 5; i++)
        {
            Assert.True(harness.Target.RequestStarts[i] >= harness.Target.ResponseEnds[i - 1],
                $"request {i} arrived before the target answered request {i - 1}");
        }

        Assert.Equal(5, harness.Session.Counters.RequestsDelivered);
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
        Assert.Equal(0, harness.Session.Counters.ResponseWaitsExpired);
    }

    [Fact]
    public void A_response_shorter_than_online_releases_the_next_request_after_silence()
    {
        var harness = new ReplayHarness();
        harness.Target.ResponseSize = 300;
        new RecordedClient().Syn().HandshakeAck()
            .Request(RecordedClient.HttpRequest(0)).ServerSent(5000)
            .Request(RecordedClient.HttpRequest(1)).ServerSent(5000).Fin()
            .CaptureInto(harness);

        harness.Run(Long);

        Assert.Equal(2, harness.Target.RequestsAnswered);
        var gap = harness.Target.RequestStarts[1] - harness.Target.ResponseEnds[0];
        Assert.InRange(gap, TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(60));
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
    }

    [Fact]
    public void No_wait_pacing_sends_requests_as_captured()
    {
        var harness = new ReplayHarness(new SessionOptions { Pacing = PacingMode.NoWait });
        var client = new RecordedClient().Syn().HandshakeAck();
        for (var i = 0; i < 4; i++)
        {
            client.Request(RecordedClient.HttpRequest(i)).ServerSent(1000);
        }

        client.Fin().CaptureInto(harness);
        harness.Run(Long);

        Assert.Equal(4, harness.Target.RequestsAnswered);
        Assert.True(harness.Target.RequestStarts[3] < harness.Target.ResponseEnds[0] + TimeSpan.FromMilliseconds(1));
    }

    [Fact]
    public void Pipelined_requests_go_back_to_back()
    {
        var harness = new ReplayHarness();
        var client = new RecordedClient().Syn().HandshakeAck();
        for (var i = 0; i < 3; i++)
        {
            client.Request(RecordedClient.HttpRequest(i));
        }

        client.ServerSent(3000).Fin().CaptureInto(harness);
        harness.Run(Long);

        Assert.Equal(3, harness.Target.RequestsAnswered);
        Assert.Equal(harness.Target.RequestStarts[0], harness.Target.RequestStarts[2]);
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
    }

    [Fact]
    public void A_session_first_seen_mid_stream_gets_a_synthesized_handshake()
    {
        var harness = new ReplayHarness();
        var client = new RecordedClient().Request(RecordedClient.HttpRequest(7)).ServerSent(1000).Fin();
        client.CaptureInto(harness);

        harness.Run(Long);

        Assert.Equal(RecordedClient.HttpRequest(7), harness.Target.ReceivedText);
        var syn = harness.Sent[0].Spec;
        Assert.Equal(TcpFlags.Syn, syn.Flags);
        Assert.Equal(client.Isn, syn.Sequence);
        Assert.NotNull(syn.Mss);
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
    }

    [Fact]
    public void A_server_first_protocol_waits_for_the_targets_greeting()
    {
        var harness = new ReplayHarness();
        harness.Target.Greeting = 120;
        new RecordedClient().Syn().HandshakeAck().ServerSent(120)
            .Request("LOGIN user\r\n\r\n").ServerSent(1000).Fin()
            .CaptureInto(harness);

        harness.Run(Long);

        Assert.Equal("LOGIN user\r\n\r\n", harness.Target.ReceivedText);
        Assert.Equal(120 + 1000, harness.Session.Counters.ResponseBytes);
        Assert.Equal(0, harness.Session.Counters.ResponseWaitsExpired);
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
    }

    [Fact]
    public void A_large_upload_arrives_intact_in_mss_sized_segments()
    {
        var harness = new ReplayHarness();
        var body = new byte[3 * 1024 * 1024];
        new Random(7).NextBytes(body);
        body.AsSpan().Replace((byte)'\r', (byte)'x');
        var header = Encoding.ASCII.GetBytes($"POST /upload HTTP/1.1\r\nContent-Length: {body.Length}\r\n\r\n");
        new RecordedClient().Syn().HandshakeAck().Data(header).Data(body, segmentSize: 65_000).ServerSent(1000).Fin()
            .CaptureInto(harness);

        harness.Run(Long);

        Assert.Equal([.. header, .. body], harness.Target.Received);
        Assert.All(harness.Sent, s => Assert.True(s.Payload.Length <= 1460));
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
        Assert.Equal(0, harness.Session.BufferedBytes);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Random_loss_in_both_directions_loses_no_request(int seed)
    {
        var harness = new ReplayHarness(seed: seed) { LossToTarget = 0.05, LossFromTarget = 0.05 };
        harness.Target.ResponseSize = 6000;
        var client = new RecordedClient().Syn().HandshakeAck();
        var expected = new StringBuilder();
        for (var i = 0; i < 20; i++)
        {
            var request = RecordedClient.HttpRequest(i, "POST", new string((char)('a' + (i % 26)), 3000));
            expected.Append(request);
            client.Request(request).ServerSent(6000);
        }

        client.Fin().CaptureInto(harness, TimeSpan.FromMilliseconds(2));
        harness.Run(TimeSpan.FromMinutes(10));

        Assert.Equal(expected.ToString(), harness.Target.ReceivedText);
        Assert.Equal(20, harness.Target.RequestsAnswered);
        Assert.Equal(20, harness.Session.Counters.RequestsDelivered);
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
        Assert.True(harness.Session.Counters.Retransmissions > 0);
    }

    [Fact]
    public void A_lost_syn_is_retransmitted_with_backoff()
    {
        var harness = new ReplayHarness { DropNextToTarget = 3 };
        new RecordedClient().Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).ServerSent(1000).Fin().CaptureInto(harness);

        harness.Run(Long);

        var syns = harness.Sent.Where(s => s.Spec.Flags == TcpFlags.Syn).Select(s => s.At).ToList();
        Assert.Equal(4, syns.Count);
        Assert.Equal(TimeSpan.FromMilliseconds(200), syns[1] - syns[0]);
        Assert.Equal(TimeSpan.FromMilliseconds(400), syns[2] - syns[1]);
        Assert.Equal(TimeSpan.FromMilliseconds(800), syns[3] - syns[2]);
        Assert.Equal(RecordedClient.HttpRequest(1), harness.Target.ReceivedText);
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
    }

    [Fact]
    public void A_target_that_never_answers_the_syn_loses_the_session_by_name()
    {
        var harness = new ReplayHarness { LossToTarget = 1.0 };
        new RecordedClient().Syn().Request(RecordedClient.HttpRequest(1)).CaptureInto(harness);

        harness.Run(Long);

        Assert.Equal(SessionEndReason.SynTimeout, harness.Session.EndReason);
        Assert.Equal(6, harness.Session.Counters.SynRetransmissions);
    }

    [Fact]
    public void A_refused_connection_is_counted_as_refused()
    {
        var harness = new ReplayHarness();
        harness.Target.Refuse = true;
        new RecordedClient().Syn().Request(RecordedClient.HttpRequest(1)).CaptureInto(harness);

        harness.Run(Long);

        Assert.Equal(SessionEndReason.TargetRefused, harness.Session.EndReason);
    }

    [Fact]
    public void When_the_target_closes_with_requests_pending_the_session_reconnects_and_goes_on()
    {
        var harness = new ReplayHarness();
        harness.Target.CloseAfterRequests = 2;
        var client = RecordedClient.KeepAlive(requests: 5, responseSize: 1000);
        client.Fin().CaptureInto(harness);
        harness.Run(Long);

        Assert.Equal(RecordedClient.HttpRequests(5), harness.Target.ReceivedText);
        Assert.Equal(3, harness.Target.Connections);
        Assert.Equal(2, harness.Session.Counters.Reconnects);
        Assert.Equal(5, harness.Session.Counters.RequestsDelivered);
    }

    [Fact]
    public void Reordered_duplicated_and_overlapping_capture_still_yields_the_exact_stream()
    {
        var harness = new ReplayHarness();
        var text = RecordedClient.HttpRequest(1, "POST", new string('z', 5000));
        var client = new RecordedClient().Syn().HandshakeAck().Request(text, segmentSize: 700).ServerSent(1000).Fin();
        var segments = client.Segments;
        var data = segments.Where(s => !s.Payload.IsEmpty).ToList();
        var messy = new List<CapturedSegment> { segments[0], segments[1] };
        messy.AddRange(data.AsEnumerable().Reverse());
        messy.Add(data[2]);
        messy.Add(data[3] with { Sequence = data[3].Sequence + 100, Payload = data[3].Payload[100..] });
        var overlap = Encoding.ASCII.GetBytes(text).AsMemory(500, 1000);
        messy.Add(data[0] with { Sequence = data[0].Sequence + 500, Payload = overlap });
        messy.Add(segments[^1]);
        foreach (var segment in messy)
        {
            harness.Capture(segment);
        }

        harness.Run(Long);

        Assert.Equal(text, harness.Target.ReceivedText);
        Assert.True(harness.Session.Counters.ClientDuplicateBytes > 0);
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
    }

    [Fact]
    public void A_capture_gap_is_waited_for_then_skipped_on_a_new_connection()
    {
        var harness = new ReplayHarness();
        var client = new RecordedClient().Syn().HandshakeAck()
            .Request(RecordedClient.HttpRequest(1)).ServerSent(1000)
            .Lose(300)
            .Request(RecordedClient.HttpRequest(3)).ServerSent(1000).Fin();
        client.CaptureInto(harness);

        harness.Run(Long);

        Assert.Equal(300, harness.Session.Counters.GapBytesSkipped);
        Assert.Equal(RecordedClient.HttpRequest(1) + RecordedClient.HttpRequest(3), harness.Target.ReceivedText);
        Assert.Equal(2, harness.Target.Connections);
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
    }

    [Fact]
    public void A_zero_window_is_probed_until_the_target_opens_it()
    {
        var harness = new ReplayHarness();
        harness.Target.Window = 0;
        new RecordedClient().Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).ServerSent(1000).Fin().CaptureInto(harness);
        harness.Run(TimeSpan.FromSeconds(2));
        Assert.True(harness.Session.Counters.ZeroWindowProbes >= 2);
        Assert.Empty(harness.Target.Received);

        harness.Target.Window = 65535;
        harness.Run(Long);

        Assert.Equal(RecordedClient.HttpRequest(1), harness.Target.ReceivedText);
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
    }

    [Fact]
    public void Timestamp_echoes_carry_the_targets_latest_tsval()
    {
        var harness = new ReplayHarness();
        new RecordedClient().Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).ServerSent(1000).Fin().CaptureInto(harness);

        harness.Run(Long);

        Assert.NotEmpty(harness.Target.EchoesSeen);
        Assert.All(harness.Target.EchoesSeen, echo => Assert.Contains(echo, harness.Target.TsValsSent));
        var tsVals = harness.Sent.Where(s => s.Spec.Timestamp.HasValue).Select(s => s.Spec.Timestamp!.Value.TsVal).ToList();
        Assert.Equal(tsVals.Order(), tsVals);
    }

    [Fact]
    public void An_idle_session_with_pending_data_is_reset_and_counted()
    {
        var harness = new ReplayHarness(new SessionOptions { IdleTimeout = TimeSpan.FromSeconds(5), MaxRetries = 1000, MaxRto = TimeSpan.FromSeconds(10) });
        new RecordedClient().Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).CaptureInto(harness);
        harness.Run(TimeSpan.FromMilliseconds(100));
        harness.LossToTarget = 1.0;
        harness.Capture(new RecordedClient().Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).Request("more\r\n\r\n").Segments[^1]);

        harness.Run(Long);

        Assert.Equal(SessionEndReason.IdleTimeout, harness.Session.EndReason);
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, harness.Sent[^1].Spec.Flags);
    }

    [Fact]
    public void A_reused_client_port_starts_a_new_connection_without_losing_it()
    {
        var harness = new ReplayHarness();
        new RecordedClient(isn: 100_000).Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).ServerSent(1000).CaptureInto(harness);
        harness.Run(TimeSpan.FromSeconds(1));

        new RecordedClient(isn: 900_000).Syn().HandshakeAck().Request(RecordedClient.HttpRequest(2)).ServerSent(1000).Fin().CaptureInto(harness);
        harness.Run(Long);

        Assert.Equal(RecordedClient.HttpRequest(1) + RecordedClient.HttpRequest(2), harness.Target.ReceivedText);
        Assert.Equal(1, harness.Session.Counters.PortReuses);
        Assert.Equal(1, harness.Target.ResetsSeen);
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
    }

    [Fact]
    public void Late_packets_after_the_end_are_absorbed_and_the_session_finishes_after_linger()
    {
        var harness = new ReplayHarness();
        var client = new RecordedClient().Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).ServerSent(1000).Fin();
        client.CaptureInto(harness);
        harness.Run(TimeSpan.FromSeconds(1));
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
        Assert.False(harness.Session.IsFinished);

        var sentBefore = harness.Sent.Count;
        var absorbedBefore = harness.Session.Counters.LatePacketsAbsorbed;
        harness.Capture(client.Segments[2]);
        harness.Run(Long);

        Assert.Equal(sentBefore, harness.Sent.Count);
        Assert.Equal(absorbedBefore + 1, harness.Session.Counters.LatePacketsAbsorbed);
        Assert.True(harness.Session.IsFinished);
    }

    [Fact]
    public void A_newer_syn_ack_replaces_a_handshake_the_target_never_took()
    {
        var sent = new List<(TcpSegmentSpec Spec, byte[] Payload)>();
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var session = new ReplaySession(ReplayHarness.Endpoints, new SessionOptions(), new ListTransport(sent), time);
        foreach (var segment in new RecordedClient().Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).Segments)
        {
            session.OnCaptured(segment);
        }

        // The first SYN got a (stateless) cookie SYN-ACK; we complete with it and send the request.
        session.OnResponse(SynAck(client: 100_000, seq: 5000));
        Assert.Contains(sent, s => s.Payload.Length > 0 && s.Spec.Acknowledgment == 5001);

        // The SYN's retransmission got a real handshake the target keeps repeating: adopt it and resend.
        sent.Clear();
        session.OnResponse(SynAck(client: 100_000, seq: 9000));
        Assert.Contains(sent, s => s.Payload.Length == 0 && s.Spec.Flags == TcpFlags.Ack && s.Spec.Acknowledgment == 9001);
        Assert.Contains(sent, s => s.Payload.Length > 0 && s.Spec.Acknowledgment == 9001 && s.Spec.Sequence == 100_001);
        Assert.Equal(1, session.Counters.HandshakesAdopted);

        // The same SYN-ACK again (our ACK was lost) is only acknowledged.
        sent.Clear();
        session.OnResponse(SynAck(client: 100_000, seq: 9000));
        Assert.Equal([(TcpFlags.Ack, 9001u)], sent.Select(s => (s.Spec.Flags, s.Spec.Acknowledgment)));
        Assert.Equal(1, session.Counters.HandshakesAdopted);
    }

    private static ReplayCluster.Protocol.ResponseRecord SynAck(uint client, uint seq) => new()
    {
        ClientAddress = ReplayHarness.Endpoints.ClientAddress,
        ClientPort = ReplayHarness.Endpoints.ClientPort,
        TargetAddress = ReplayHarness.Endpoints.TargetAddress,
        TargetPort = ReplayHarness.Endpoints.TargetPort,
        Sequence = seq,
        Acknowledgment = client + 1,
        Window = 65535,
        Flags = (byte)(TcpFlags.Syn | TcpFlags.Ack),
        PayloadLength = 0,
        Mss = 1460,
        WindowScale = 7,
    };

    private sealed class ListTransport(List<(TcpSegmentSpec Spec, byte[] Payload)> sent) : ISegmentTransport
    {
        public void Send(in TcpSegmentSpec segment, ReadOnlySpan<byte> payload) => sent.Add((segment, payload.ToArray()));
    }

    [Fact]
    public void Buffered_bytes_are_accounted_in_the_node_budget_and_all_given_back()
    {
        var budget = new BufferBudget(long.MaxValue);
        var harness = new ReplayHarness(budget: budget);
        harness.Target.Window = 0;
        new RecordedClient().Syn().HandshakeAck().Data(new byte[50_000]).ServerSent(1000).Fin().CaptureInto(harness);
        harness.Run(TimeSpan.FromSeconds(1));
        Assert.Equal(50_000, budget.Used);

        harness.Target.Window = 65535;
        harness.Run(Long);

        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
        Assert.Equal(0, budget.Used);
    }

    [Fact]
    public void Buffering_beyond_the_cap_ends_the_session_as_overflow()
    {
        var harness = new ReplayHarness(new SessionOptions { MaxBufferedBytes = 10_000 });
        harness.Target.Window = 0;
        new RecordedClient().Syn().HandshakeAck().Data(new byte[20_000]).CaptureInto(harness);

        harness.Run(Long);

        Assert.Equal(SessionEndReason.BufferOverflow, harness.Session.EndReason);
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, harness.Sent[^1].Spec.Flags);
    }
}
