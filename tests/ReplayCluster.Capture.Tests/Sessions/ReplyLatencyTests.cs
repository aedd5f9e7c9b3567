using ReplayCluster.Capture.Sessions;

namespace ReplayCluster.Capture.Tests.Sessions;

/// <summary>
/// Reply latency as the session measures it: last request byte first sent to first response byte
/// seen, against a simulated target whose only delay is the harness's one-way latency.
/// </summary>
public sealed class ReplyLatencyTests
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(2);

    [Fact]
    public void Each_keep_alive_request_records_one_round_trip_in_its_bucket()
    {
        // 3 ms each way and a target that answers at once: every reply comes 6 ms after its request.
        var harness = new ReplayHarness { Latency = TimeSpan.FromMilliseconds(3) };
        RecordedClient.KeepAlive(requests: 5, responseSize: 1000).Fin().CaptureInto(harness);

        harness.Run(Long);

        var counters = harness.ReplyLatencyCounters();
        Assert.Equal(5, harness.Session.Counters.RequestsDelivered);
        Assert.Equal(5, counters["reply_latency_us_count"]);
        Assert.Equal(5 * 6_000, counters["reply_latency_us_sum"]);
        Assert.Equal(0, counters["reply_latency_us_le_5000"]);
        Assert.Equal(5, counters["reply_latency_us_le_10000"]);
        Assert.Equal(5, counters["reply_latency_us_le_10000000"]);
    }

    [Fact]
    public void A_request_captured_in_pieces_is_timed_from_its_last_byte()
    {
        var harness = new ReplayHarness { Latency = TimeSpan.FromMilliseconds(3) };
        // Ten pieces captured 20 ms apart: timing from the first byte would say about 186 ms.
        new RecordedClient().Syn().HandshakeAck()
            .Request(RecordedClient.HttpRequest(0), segmentSize: 6).ServerSent(1000).Fin()
            .CaptureInto(harness, TimeSpan.FromMilliseconds(20));

        harness.Run(Long);

        var counters = harness.ReplyLatencyCounters();
        Assert.Equal(1, counters["reply_latency_us_count"]);
        Assert.Equal(6_000, counters["reply_latency_us_sum"]);
    }

    [Fact]
    public void A_retransmitted_request_is_timed_from_its_first_send()
    {
        var harness = new ReplayHarness { Latency = TimeSpan.FromMilliseconds(3) };
        var client = new RecordedClient().Syn().HandshakeAck();
        harness.Capture(client.Segments[0]);
        harness.Capture(client.Segments[1]);
        harness.Run(TimeSpan.FromSeconds(1));
        Assert.True(harness.Session.IsEstablished);

        // The request's first copy is lost; the minimum RTO (30 ms) resends it.
        harness.DropNextToTarget = 1;
        var request = new RecordedClient().Syn().HandshakeAck().Request(RecordedClient.HttpRequest(0)).ServerSent(1000).Fin();
        harness.Capture(request.Segments[2]);
        harness.Capture(request.Segments[3]);
        harness.Run(Long);

        var counters = harness.ReplyLatencyCounters();
        Assert.Equal(1, harness.Session.Counters.Retransmissions);
        Assert.Equal(1, counters["reply_latency_us_count"]);
        Assert.Equal(36_000, counters["reply_latency_us_sum"]);
        Assert.Equal(0, counters["reply_latency_us_le_20000"]);
        Assert.Equal(1, counters["reply_latency_us_le_50000"]);
    }

    [Fact]
    public void Under_random_loss_every_delivered_request_has_one_sample()
    {
        var harness = new ReplayHarness(seed: 3) { LossToTarget = 0.05, LossFromTarget = 0.05 };
        harness.Target.ResponseSize = 6000;
        var client = new RecordedClient().Syn().HandshakeAck();
        for (var i = 0; i < 20; i++)
        {
            client.Request(RecordedClient.HttpRequest(i, "POST", new string('x', 3000))).ServerSent(6000);
        }

        client.Fin().CaptureInto(harness, TimeSpan.FromMilliseconds(2));
        harness.Run(TimeSpan.FromMinutes(10));

        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
        Assert.Equal(20, harness.Session.Counters.RequestsDelivered);
        Assert.Equal(20, harness.ReplyLatencyCounters()["reply_latency_us_count"]);
    }

    [Fact]
    public void Pipelined_requests_that_count_as_one_record_one_sample()
    {
        var harness = new ReplayHarness();
        var client = new RecordedClient().Syn().HandshakeAck();
        for (var i = 0; i < 3; i++)
        {
            client.Request(RecordedClient.HttpRequest(i));
        }

        client.ServerSent(3000).Fin().CaptureInto(harness);
        harness.Run(Long);

        Assert.Equal(1, harness.Session.Counters.RequestsCaptured);
        Assert.Equal(1, harness.ReplyLatencyCounters()["reply_latency_us_count"]);
    }

    [Fact]
    public void A_greeting_before_any_request_is_not_a_reply()
    {
        var harness = new ReplayHarness { Latency = TimeSpan.FromMilliseconds(3) };
        harness.Target.Greeting = 100;
        new RecordedClient().Syn().HandshakeAck().ServerSent(100)
            .Request(RecordedClient.HttpRequest(0)).ServerSent(1000).Fin()
            .CaptureInto(harness);

        harness.Run(Long);

        var counters = harness.ReplyLatencyCounters();
        Assert.Equal(1, counters["reply_latency_us_count"]);
        Assert.Equal(6_000, counters["reply_latency_us_sum"]);
    }
}
