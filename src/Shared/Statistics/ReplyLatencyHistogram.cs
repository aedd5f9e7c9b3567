namespace ReplayCluster.Statistics;

/// <summary>
/// Reply latencies of replayed requests in fixed, log-spaced buckets (1-2-5 per decade, 100 µs to
/// 10 s, then +Inf). Fixed buckets add up across nodes and subtract between two moments, which
/// percentile sketches do not; the price is a quantile accurate only to within its bucket.
/// </summary>
/// <remarks>
/// Written by every session actor of a capture node at once, so recording is lock-free
/// (<see cref="Interlocked"/>) and allocates nothing. Reported as cumulative counters named like
/// Prometheus buckets: <c>reply_latency_us_le_500</c> counts replies seen within 500 µs;
/// <c>reply_latency_us_count</c> counts all of them (the +Inf bucket) and <c>reply_latency_us_sum</c>
/// adds up their microseconds.
/// </remarks>
public sealed class ReplyLatencyHistogram
{
    /// <summary>Counter of all recorded latencies, the +Inf bucket.</summary>
    public const string CountCounter = "reply_latency_us_count";

    /// <summary>Counter of the recorded latencies' sum, in microseconds.</summary>
    public const string SumCounter = "reply_latency_us_sum";

    private const string BucketPrefix = "reply_latency_us_le_";

    private static readonly long[] Bounds =
    [
        100, 200, 500,
        1_000, 2_000, 5_000,
        10_000, 20_000, 50_000,
        100_000, 200_000, 500_000,
        1_000_000, 2_000_000, 5_000_000,
        10_000_000,
    ];

    private static readonly string[] BucketNames = [.. Bounds.Select(b => BucketPrefix + b.ToString(System.Globalization.CultureInfo.InvariantCulture))];

    // One slot per finite bound plus +Inf; not cumulative (cumulating is the reader's job).
    private readonly long[] _buckets = new long[Bounds.Length + 1];
    private long _sumMicroseconds;

    /// <summary>The finite buckets' upper bounds in microseconds, ascending; +Inf follows implicitly.</summary>
    public static IReadOnlyList<long> UpperBoundsMicroseconds => Bounds;

    /// <summary>The counter name of each finite bucket, in the order of <see cref="UpperBoundsMicroseconds"/>.</summary>
    public static IReadOnlyList<string> BucketCounterNames => BucketNames;

    /// <summary>True for every counter this histogram reports.</summary>
    public static bool IsHistogramCounter(string counter) =>
        counter.StartsWith("reply_latency_us_", StringComparison.Ordinal);

    /// <summary>Records one latency (negative ones, from a clock step, count as zero).</summary>
    public void Record(TimeSpan latency)
    {
        var microseconds = Math.Max(0, latency.Ticks / TimeSpan.TicksPerMicrosecond);
        Interlocked.Add(ref _sumMicroseconds, microseconds);
        Interlocked.Increment(ref _buckets[BucketOf(microseconds)]);
    }

    /// <summary>Writes the cumulative bucket counters, the count and the sum into <paramref name="counters"/>.</summary>
    public void WriteCounters(IDictionary<string, long> counters)
    {
        ArgumentNullException.ThrowIfNull(counters);

        // The count is the buckets' own total, not a separate field read at another instant: a
        // reader racing a writer then still sees le_10000000 <= count, as Prometheus requires.
        long cumulative = 0;
        for (var i = 0; i < Bounds.Length; i++)
        {
            cumulative += Interlocked.Read(ref _buckets[i]);
            counters[BucketNames[i]] = cumulative;
        }

        counters[CountCounter] = cumulative + Interlocked.Read(ref _buckets[Bounds.Length]);
        counters[SumCounter] = Interlocked.Read(ref _sumMicroseconds);
    }

    /// <summary>Index of the first bucket whose upper bound holds <paramref name="microseconds"/>; the last one is +Inf.</summary>
    internal static int BucketOf(long microseconds)
    {
        // 16 bounds: a linear scan is as fast as a binary search and obviously right.
        var i = 0;
        while (i < Bounds.Length && microseconds > Bounds[i])
        {
            i++;
        }

        return i;
    }
}
