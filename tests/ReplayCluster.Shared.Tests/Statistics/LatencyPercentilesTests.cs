using ReplayCluster.Statistics;
using static ReplayCluster.Tests.TestSupport.LatencyCounters;

namespace ReplayCluster.Shared.Tests.Statistics;

public sealed class LatencyPercentilesTests
{
    [Fact]
    public void No_replies_give_no_percentiles()
    {
        Assert.Same(LatencyPercentiles.Empty, LatencyPercentiles.From(new Dictionary<string, long>()));
        Assert.Same(LatencyPercentiles.Empty, LatencyPercentiles.From(Histogram()));
        Assert.Null(LatencyPercentiles.Empty.P50Ms);
        Assert.Equal("no replies timed", LatencyPercentiles.Empty.Describe());
    }

    [Fact]
    public void Replies_all_in_one_bucket_spread_evenly_across_it()
    {
        // 100 replies between 5 and 10 ms: the median is halfway, p90 and p99 near the top.
        var latency = LatencyPercentiles.From(Histogram((TimeSpan.FromMilliseconds(6), 100)));

        Assert.Equal(100, latency.Count);
        Assert.Equal(6, latency.MeanMs!.Value, 6);
        Assert.Equal(7.5, latency.P50Ms!.Value, 6);
        Assert.Equal(9.5, latency.P90Ms!.Value, 6);
        Assert.Equal(9.95, latency.P99Ms!.Value, 6);
    }

    [Fact]
    public void The_first_bucket_starts_at_zero()
    {
        var latency = LatencyPercentiles.From(Histogram((TimeSpan.FromMicroseconds(30), 4)));

        Assert.Equal(0.05, latency.P50Ms!.Value, 6);
    }

    [Fact]
    public void A_rank_is_interpolated_inside_the_bucket_that_holds_it()
    {
        // 50 replies in (1, 2] ms and 50 in (20, 50] ms.
        var counters = Histogram((TimeSpan.FromMilliseconds(1.5), 50), (TimeSpan.FromMilliseconds(30), 50));
        var latency = LatencyPercentiles.From(counters);

        Assert.Equal(2, latency.P50Ms!.Value, 6);
        Assert.Equal(20 + (30 * 40 / 50.0), latency.P90Ms!.Value, 6);
        Assert.Equal(20 + (30 * 49 / 50.0), latency.P99Ms!.Value, 6);
    }

    [Fact]
    public void A_rank_in_the_inf_bucket_is_reported_as_the_last_finite_bound()
    {
        var latency = LatencyPercentiles.From(Histogram((TimeSpan.FromMilliseconds(1.5), 50), (TimeSpan.FromSeconds(30), 50)));

        Assert.Equal(2, latency.P50Ms!.Value, 6);
        Assert.Equal(10_000, latency.P90Ms!.Value, 6);
        Assert.Equal(10_000, latency.P99Ms!.Value, 6);
    }

    [Fact]
    public void Between_two_snapshots_only_the_replies_in_between_count()
    {
        var start = Histogram((TimeSpan.FromSeconds(3), 1000));
        var end = Histogram((TimeSpan.FromSeconds(3), 1000), (TimeSpan.FromMilliseconds(0.3), 10));

        var latency = LatencyPercentiles.Between(start, end);

        Assert.Equal(10, latency.Count);
        Assert.Equal(0.3, latency.MeanMs!.Value, 6);
        Assert.InRange(latency.P99Ms!.Value, 0.2, 0.5);
    }

    [Fact]
    public void An_inconsistent_histogram_is_clamped_into_a_valid_one()
    {
        // Buckets above the count (a torn read) and decreasing cumulative counts.
        var counters = new Dictionary<string, long>
        {
            ["reply_latency_us_count"] = 10,
            ["reply_latency_us_sum"] = 10_000,
            ["reply_latency_us_le_1000"] = 12,
            ["reply_latency_us_le_2000"] = 4,
        };

        var latency = LatencyPercentiles.From(counters);

        Assert.Equal(10, latency.Count);
        Assert.InRange(latency.P50Ms!.Value, 0.5, 1);
        Assert.InRange(latency.P99Ms!.Value, 0.5, 1);
    }

    [Fact]
    public void Quantile_math_rejects_what_has_no_answer()
    {
        long[] cumulative = [1];
        Assert.Throws<ArgumentOutOfRangeException>(() => LatencyPercentiles.QuantileMicroseconds(cumulative, [100], 0, 0.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => LatencyPercentiles.QuantileMicroseconds(cumulative, [100], 1, 0));
        Assert.Equal(100, LatencyPercentiles.QuantileMicroseconds(cumulative, [100], 1, 1));
    }
}
