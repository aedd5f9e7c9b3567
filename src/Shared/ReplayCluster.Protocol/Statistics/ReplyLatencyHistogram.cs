namespace ReplayCluster.Statistics;

/// <summary>
/// Reply latencies of replayed requests: a <see cref="LatencyHistogram"/> of layout
/// <see cref="LatencyHistogramLayout.ReplyLatency"/> (1-2-5 per decade, 100 µs to 10 s, then +Inf),
/// reported as <c>reply_latency_us_le_500</c>, ..., <c>reply_latency_us_count</c> and <c>reply_latency_us_sum</c>.
/// </summary>
/// <remarks>Written by every session actor of a capture node at once: lock-free and allocation-free.</remarks>
public sealed class ReplyLatencyHistogram
{
    private readonly LatencyHistogram _histogram = new(Layout);

    /// <summary>The layout every reply latency histogram shares.</summary>
    public static LatencyHistogramLayout Layout => LatencyHistogramLayout.ReplyLatency;

    /// <summary>Counter of all recorded latencies, the +Inf bucket.</summary>
    public static string CountCounter => Layout.CountCounter;

    /// <summary>Counter of the recorded latencies' sum, in microseconds.</summary>
    public static string SumCounter => Layout.SumCounter;

    /// <summary>The finite buckets' upper bounds in microseconds, ascending; +Inf follows implicitly.</summary>
    public static IReadOnlyList<long> UpperBoundsMicroseconds => Layout.UpperBoundsMicroseconds;

    /// <summary>The counter name of each finite bucket, in the order of <see cref="UpperBoundsMicroseconds"/>.</summary>
    public static IReadOnlyList<string> BucketCounterNames => Layout.BucketCounterNames;

    /// <summary>True for every counter this histogram reports.</summary>
    public static bool IsHistogramCounter(string counter) => Layout.IsHistogramCounter(counter);

    /// <summary>Records one latency (negative ones, from a clock step, count as zero).</summary>
    public void Record(TimeSpan latency) => _histogram.Record(latency);

    /// <summary>The histogram itself (what a node's catalogue publishes).</summary>
    public LatencyHistogram Histogram => _histogram;

    /// <summary>Writes the cumulative bucket counters, the count and the sum into <paramref name="counters"/>.</summary>
    public void WriteCounters(IDictionary<string, long> counters) => _histogram.WriteCounters(counters);

    /// <summary>Index of the first bucket whose upper bound holds <paramref name="microseconds"/>; the last one is +Inf.</summary>
    internal static int BucketOf(long microseconds) => Layout.BucketOf(microseconds);
}
