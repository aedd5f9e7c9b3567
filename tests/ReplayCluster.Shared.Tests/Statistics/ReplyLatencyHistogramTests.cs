using ReplayCluster.Statistics;

namespace ReplayCluster.Shared.Tests.Statistics;

public sealed class ReplyLatencyHistogramTests
{
    [Fact]
    public void An_empty_histogram_reports_every_counter_as_zero()
    {
        var counters = Counters(new ReplyLatencyHistogram());

        Assert.Equal(ReplyLatencyHistogram.UpperBoundsMicroseconds.Count + 2, counters.Count);
        Assert.All(counters.Values, v => Assert.Equal(0, v));
        Assert.All(counters.Keys, k => Assert.True(ReplyLatencyHistogram.IsHistogramCounter(k), k));
    }

    [Theory]
    [InlineData(0, "reply_latency_us_le_100")]
    [InlineData(100, "reply_latency_us_le_100")]
    [InlineData(101, "reply_latency_us_le_200")]
    [InlineData(1_000, "reply_latency_us_le_1000")]
    [InlineData(7_500, "reply_latency_us_le_10000")]
    [InlineData(10_000_000, "reply_latency_us_le_10000000")]
    public void A_latency_lands_in_the_first_bucket_whose_bound_holds_it(long microseconds, string bucket)
    {
        var histogram = new ReplyLatencyHistogram();
        histogram.Record(TimeSpan.FromMicroseconds(microseconds));
        var counters = Counters(histogram);

        var index = ReplyLatencyHistogram.BucketCounterNames.ToList().IndexOf(bucket);
        Assert.True(index >= 0);
        for (var i = 0; i < ReplyLatencyHistogram.BucketCounterNames.Count; i++)
        {
            // Cumulative: zero below the bucket, one from it on.
            Assert.Equal(i < index ? 0 : 1, counters[ReplyLatencyHistogram.BucketCounterNames[i]]);
        }

        Assert.Equal(1, counters[ReplyLatencyHistogram.CountCounter]);
        Assert.Equal(microseconds, counters[ReplyLatencyHistogram.SumCounter]);
    }

    [Fact]
    public void Latencies_beyond_the_last_bound_count_only_in_the_total()
    {
        var histogram = new ReplyLatencyHistogram();
        histogram.Record(TimeSpan.FromSeconds(30));
        histogram.Record(TimeSpan.FromMilliseconds(-5));
        var counters = Counters(histogram);

        Assert.Equal(1, counters["reply_latency_us_le_10000000"]);
        Assert.Equal(2, counters[ReplyLatencyHistogram.CountCounter]);
        Assert.Equal(30_000_000, counters[ReplyLatencyHistogram.SumCounter]);
    }

    [Fact]
    public void Concurrent_writers_lose_no_sample()
    {
        var histogram = new ReplyLatencyHistogram();
        Parallel.For(0, 8, worker =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                histogram.Record(TimeSpan.FromMicroseconds(i % 3 == 0 ? 150 : 3_000));
            }
        });

        var counters = Counters(histogram);
        Assert.Equal(80_000, counters[ReplyLatencyHistogram.CountCounter]);
        Assert.Equal(8 * 3_334, counters["reply_latency_us_le_200"]);
        Assert.Equal(80_000, counters["reply_latency_us_le_5000"]);
    }

    private static Dictionary<string, long> Counters(ReplyLatencyHistogram histogram)
    {
        var counters = new Dictionary<string, long>();
        histogram.WriteCounters(counters);
        return counters;
    }
}
