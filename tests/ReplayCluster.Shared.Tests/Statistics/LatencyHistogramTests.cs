using ReplayCluster.Protocol;
using ReplayCluster.Statistics;

namespace ReplayCluster.Shared.Tests.Statistics;

public sealed class LatencyHistogramTests
{
    [Theory]
    [InlineData(0, "relay_latency_us_le_10")]
    [InlineData(10, "relay_latency_us_le_10")]
    [InlineData(11, "relay_latency_us_le_20")]
    [InlineData(250, "relay_latency_us_le_500")]
    [InlineData(1_000_000, "relay_latency_us_le_1000000")]
    public void The_relay_layout_has_fine_buckets_from_10_microseconds(long microseconds, string bucket)
    {
        var histogram = new LatencyHistogram(LatencyHistogramLayout.RelayLatency);
        histogram.RecordMicroseconds(microseconds);
        var counters = Counters(histogram);

        var names = LatencyHistogramLayout.RelayLatency.BucketCounterNames;
        var index = names.ToList().IndexOf(bucket);
        Assert.True(index >= 0, bucket);
        for (var i = 0; i < names.Count; i++)
        {
            Assert.Equal(i < index ? 0 : 1, counters[names[i]]);
        }

        Assert.Equal(1, counters["relay_latency_us_count"]);
        Assert.Equal(microseconds, counters["relay_latency_us_sum"]);
        Assert.Equal(1, histogram.Count);
    }

    [Fact]
    public void Layouts_name_only_their_own_counters()
    {
        var relay = Counters(new LatencyHistogram(LatencyHistogramLayout.RelayLatency));
        var reply = Counters(new LatencyHistogram(LatencyHistogramLayout.ReplyLatency));

        Assert.All(relay.Keys, k => Assert.True(LatencyHistogramLayout.RelayLatency.IsHistogramCounter(k) && !ReplyLatencyHistogram.IsHistogramCounter(k), k));
        Assert.All(reply.Keys, k => Assert.True(ReplyLatencyHistogram.IsHistogramCounter(k) && !LatencyHistogramLayout.RelayLatency.IsHistogramCounter(k), k));
        Assert.Equal(18, relay.Count);
    }

    [Fact]
    public void A_layout_refuses_bounds_that_are_not_ascending()
    {
        Assert.Throws<ArgumentException>(() => new LatencyHistogramLayout("x_us", [10, 10]));
        Assert.Throws<ArgumentException>(() => new LatencyHistogramLayout("x_us", [0, 10]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LatencyHistogramLayout("x_us", []));
    }

    [Fact]
    public void A_batch_records_each_records_time_since_its_capture()
    {
        var now = new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero);
        var nowNanos = (now - DateTimeOffset.UnixEpoch).Ticks * 100;
        ResponseRecord Captured(long nanosAgo) => new()
        {
            ClientAddress = 1, ClientPort = 2, TargetAddress = 3, TargetPort = 4, Sequence = 5, Acknowledgment = 6, Window = 7, Flags = 0x10, PayloadLength = 0,
            CapturedAtNanos = nowNanos - nanosAgo,
        };
        var batch = new ResponseBatch([Captured(15_000), Captured(150_000), Captured(-3_000)]);
        var histogram = new LatencyHistogram(LatencyHistogramLayout.RelayLatency);

        batch.RecordRelayLatency(histogram, now);
        var counters = Counters(histogram);

        // 15 µs, 150 µs, and a record from "the future" (clock offset between hosts) as 0.
        Assert.Equal(3, counters["relay_latency_us_count"]);
        Assert.Equal(165, counters["relay_latency_us_sum"]);
        Assert.Equal(1, counters["relay_latency_us_le_10"]);
        Assert.Equal(2, counters["relay_latency_us_le_20"]);
        Assert.Equal(2, counters["relay_latency_us_le_100"]);
        Assert.Equal(3, counters["relay_latency_us_le_200"]);
    }

    private static Dictionary<string, long> Counters(LatencyHistogram histogram)
    {
        var counters = new Dictionary<string, long>();
        histogram.WriteCounters(counters);
        return counters;
    }
}
