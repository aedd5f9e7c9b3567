using System.Globalization;

namespace ReplayCluster.Statistics;

/// <summary>
/// Latency percentiles in milliseconds, from histogram counters of one
/// <see cref="LatencyHistogramLayout"/> (reply latency unless told otherwise); null while nothing was timed.
/// </summary>
/// <remarks>
/// A percentile is interpolated linearly inside the bucket that holds its rank, as Prometheus's
/// <c>histogram_quantile</c> does: the samples of a bucket are assumed spread evenly between its lower
/// bound (the previous bucket's upper bound, 0 for the first) and its upper bound. A rank in the +Inf
/// bucket answers with the last finite bound (10 s for reply latency): all the histogram knows is "at least that".
/// </remarks>
/// <param name="Count">Replies timed.</param>
/// <param name="MeanMs">Their mean latency (exact: from the sum, not the buckets).</param>
/// <param name="P50Ms">Median.</param>
/// <param name="P90Ms">90th percentile.</param>
/// <param name="P99Ms">99th percentile.</param>
public sealed record LatencyPercentiles(long Count, double? MeanMs, double? P50Ms, double? P90Ms, double? P99Ms)
{
    public static readonly LatencyPercentiles Empty = new(0, null, null, null, null);

    private static readonly IReadOnlyDictionary<string, long> NoCounters = new Dictionary<string, long>();

    /// <summary>Percentiles of every latency of <paramref name="layout"/> (default: reply latency) counted in <paramref name="counters"/>.</summary>
    public static LatencyPercentiles From(IReadOnlyDictionary<string, long> counters, LatencyHistogramLayout? layout = null) => Between(NoCounters, counters, layout);

    /// <summary>Percentiles of the latencies counted between two snapshots of the same cumulative counters.</summary>
    public static LatencyPercentiles Between(IReadOnlyDictionary<string, long> start, IReadOnlyDictionary<string, long> end, LatencyHistogramLayout? layout = null)
    {
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(end);
        layout ??= LatencyHistogramLayout.ReplyLatency;
        long Delta(string counter) => end.GetValueOrDefault(counter) - start.GetValueOrDefault(counter);

        var count = Delta(layout.CountCounter);
        if (count <= 0)
        {
            return Empty;
        }

        var names = layout.BucketCounterNames;
        Span<long> cumulative = stackalloc long[names.Count];
        long floor = 0;
        for (var i = 0; i < names.Count; i++)
        {
            // Reports of different nodes arrive at different moments; keep the buckets a valid
            // cumulative histogram (non-decreasing, within the count) whatever the race left.
            floor = Math.Clamp(Delta(names[i]), floor, count);
            cumulative[i] = floor;
        }

        var bounds = layout.UpperBoundsMicroseconds;
        return new LatencyPercentiles(count, Delta(layout.SumCounter) / (double)count / 1000,
            QuantileMicroseconds(cumulative, bounds, count, 0.50) / 1000,
            QuantileMicroseconds(cumulative, bounds, count, 0.90) / 1000,
            QuantileMicroseconds(cumulative, bounds, count, 0.99) / 1000);
    }

    /// <summary>One line for people: <c>p50 1.234 ms  p90 ...  p99 ...  (n=10)</c>, or that nothing was timed.</summary>
    public string Describe() => Count == 0
        ? "no replies timed"
        : string.Create(CultureInfo.InvariantCulture, $"p50 {P50Ms:0.###} ms  p90 {P90Ms:0.###} ms  p99 {P99Ms:0.###} ms  mean {MeanMs:0.###} ms  (n={Count})");

    /// <summary>
    /// The <paramref name="quantile"/> (0 &lt; q &lt;= 1) of a cumulative histogram whose finite buckets are
    /// <paramref name="cumulative"/> with upper bounds <paramref name="bounds"/>, and <paramref name="count"/>
    /// samples in all (the +Inf bucket).
    /// </summary>
    internal static double QuantileMicroseconds(ReadOnlySpan<long> cumulative, IReadOnlyList<long> bounds, long count, double quantile)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(quantile);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quantile, 1);
        var rank = quantile * count;
        long below = 0;
        for (var i = 0; i < cumulative.Length; i++)
        {
            if (cumulative[i] >= rank)
            {
                double lower = i == 0 ? 0 : bounds[i - 1];
                return lower + ((bounds[i] - lower) * (rank - below) / (cumulative[i] - below));
            }

            below = cumulative[i];
        }

        return bounds[cumulative.Length - 1];
    }
}
