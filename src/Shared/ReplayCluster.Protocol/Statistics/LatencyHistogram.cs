using System.Globalization;

namespace ReplayCluster.Statistics;

/// <summary>
/// The shape of a <see cref="LatencyHistogram"/>: its counter names' prefix and its buckets' upper
/// bounds. Fixed buckets add up across nodes and subtract between two moments, which percentile
/// sketches do not; the price is a quantile accurate only to within its bucket, so each histogram
/// gets the bounds its range needs.
/// </summary>
/// <remarks>
/// Counters are named like Prometheus buckets: <c>{prefix}_le_500</c> counts latencies within 500 µs,
/// <c>{prefix}_count</c> all of them (the +Inf bucket) and <c>{prefix}_sum</c> adds up their microseconds.
/// </remarks>
public sealed class LatencyHistogramLayout
{
    private readonly long[] _bounds;
    private readonly string[] _bucketNames;
    private readonly string _prefixWithSeparator;

    /// <summary>Creates a layout; <paramref name="boundsMicroseconds"/> must be positive and strictly ascending.</summary>
    public LatencyHistogramLayout(string prefix, IReadOnlyList<long> boundsMicroseconds)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(prefix);
        ArgumentNullException.ThrowIfNull(boundsMicroseconds);
        ArgumentOutOfRangeException.ThrowIfZero(boundsMicroseconds.Count);
        for (var i = 0; i < boundsMicroseconds.Count; i++)
        {
            if (boundsMicroseconds[i] <= 0 || (i > 0 && boundsMicroseconds[i] <= boundsMicroseconds[i - 1]))
            {
                throw new ArgumentException($"bounds must be positive and strictly ascending; bound {i} is {boundsMicroseconds[i]}", nameof(boundsMicroseconds));
            }
        }

        Prefix = prefix;
        _prefixWithSeparator = prefix + "_";
        _bounds = [.. boundsMicroseconds];
        _bucketNames = [.. _bounds.Select(b => $"{prefix}_le_{b.ToString(CultureInfo.InvariantCulture)}")];
        CountCounter = prefix + "_count";
        SumCounter = prefix + "_sum";
    }

    /// <summary>
    /// Reply latency of replayed requests (last request byte sent to first reply byte seen): 1-2-5 per
    /// decade from 100 µs to 10 s.
    /// </summary>
    public static LatencyHistogramLayout ReplyLatency { get; } = new("reply_latency_us",
        [100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000]);

    /// <summary>
    /// Relay latency of reply records (captured at the intercept to received by the owning capture
    /// node): 1-2-5 per decade from 10 µs to 1 s, fine where the relay's target (p99 ≤ 300 µs) lies.
    /// </summary>
    public static LatencyHistogramLayout RelayLatency { get; } = new("relay_latency_us",
        [10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000]);

    /// <summary>
    /// Capture latency of client segments on a capture node: the kernel's capture timestamp to the moment
    /// the segment's session handles it (and sends it, when its pacing lets it go): ring, pump, shard
    /// queue and mailbox. Same buckets as the relay.
    /// </summary>
    public static LatencyHistogramLayout CaptureLatency { get; } = new("capture_latency_us",
        [10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000]);

    /// <summary>Counter names start with this, then <c>_le_</c>, <c>_count</c> or <c>_sum</c>.</summary>
    public string Prefix { get; }

    /// <summary>Counter of all recorded latencies, the +Inf bucket.</summary>
    public string CountCounter { get; }

    /// <summary>Counter of the recorded latencies' sum, in microseconds.</summary>
    public string SumCounter { get; }

    /// <summary>The finite buckets' upper bounds in microseconds, ascending; +Inf follows implicitly.</summary>
    public IReadOnlyList<long> UpperBoundsMicroseconds => _bounds;

    /// <summary>The counter name of each finite bucket, in the order of <see cref="UpperBoundsMicroseconds"/>.</summary>
    public IReadOnlyList<string> BucketCounterNames => _bucketNames;

    /// <summary>True for every counter a histogram of this layout reports.</summary>
    public bool IsHistogramCounter(string counter)
    {
        ArgumentNullException.ThrowIfNull(counter);
        return counter.StartsWith(_prefixWithSeparator, StringComparison.Ordinal);
    }

    /// <summary>Index of the first bucket whose upper bound holds <paramref name="microseconds"/>; <c>Bounds.Count</c> is +Inf.</summary>
    internal int BucketOf(long microseconds)
    {
        // 16 bounds: a linear scan is as fast as a binary search and obviously right.
        var bounds = _bounds;
        var i = 0;
        while (i < bounds.Length && microseconds > bounds[i])
        {
            i++;
        }

        return i;
    }
}

/// <summary>
/// Latencies in the fixed buckets of a <see cref="LatencyHistogramLayout"/>, reported as cumulative
/// counters (see the layout for their names).
/// </summary>
/// <remarks>
/// Written by many actors at once, so recording is lock-free (<see cref="Interlocked"/>) and allocates nothing.
/// </remarks>
public sealed class LatencyHistogram
{
    // One slot per finite bound plus +Inf; not cumulative (cumulating is the reader's job).
    private readonly long[] _buckets;
    private long _sumMicroseconds;

    // The same records for an exporter (NodeMetrics.Histogram); one check per record while none listens.
    private System.Diagnostics.Metrics.Histogram<double>? _published;

    public LatencyHistogram(LatencyHistogramLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        Layout = layout;
        _buckets = new long[layout.UpperBoundsMicroseconds.Count + 1];
    }

    /// <summary>Names and bounds of this histogram's counters.</summary>
    public LatencyHistogramLayout Layout { get; }

    /// <summary>Latencies recorded so far.</summary>
    public long Count
    {
        get
        {
            long count = 0;
            for (var i = 0; i < _buckets.Length; i++)
            {
                count += Interlocked.Read(ref _buckets[i]);
            }

            return count;
        }
    }

    /// <summary>Records one latency (negative ones, from a clock step, count as zero).</summary>
    public void Record(TimeSpan latency) => RecordMicroseconds(latency.Ticks / TimeSpan.TicksPerMicrosecond);

    /// <summary>Records one latency in microseconds (negative ones, from a clock step, count as zero).</summary>
    public void RecordMicroseconds(long microseconds)
    {
        microseconds = Math.Max(0, microseconds);
        Interlocked.Add(ref _sumMicroseconds, microseconds);
        Interlocked.Increment(ref _buckets[Layout.BucketOf(microseconds)]);
        if (_published is { Enabled: true } published)
        {
            published.Record(microseconds / 1e6);
        }
    }

    /// <summary>
    /// Also records every latency, in seconds, into a histogram instrument named <paramref name="name"/> on
    /// <paramref name="meter"/>, with this layout's bucket bounds as its advice (so an exporter shows the same buckets).
    /// </summary>
    public void PublishTo(System.Diagnostics.Metrics.Meter meter, string name, string description)
    {
        ArgumentNullException.ThrowIfNull(meter);
        _published = meter.CreateHistogram(name, "s", description, tags: null, advice: new System.Diagnostics.Metrics.InstrumentAdvice<double>
        {
            HistogramBucketBoundaries = [.. Layout.UpperBoundsMicroseconds.Select(b => b / 1e6)],
        });
    }

    /// <summary>Writes the cumulative bucket counters, the count and the sum into <paramref name="counters"/>.</summary>
    public void WriteCounters(IDictionary<string, long> counters)
    {
        ArgumentNullException.ThrowIfNull(counters);

        // The count is the buckets' own total, not a separate field read at another instant: a
        // reader racing a writer then still sees the last bucket <= count, as Prometheus requires.
        var names = Layout.BucketCounterNames;
        long cumulative = 0;
        for (var i = 0; i < names.Count; i++)
        {
            cumulative += Interlocked.Read(ref _buckets[i]);
            counters[names[i]] = cumulative;
        }

        counters[Layout.CountCounter] = cumulative + Interlocked.Read(ref _buckets[names.Count]);
        counters[Layout.SumCounter] = Interlocked.Read(ref _sumMicroseconds);
    }
}
