using ReplayCluster.Statistics;

namespace ReplayCluster.Tests.TestSupport;

/// <summary>Latency histogram counters as a capture node reports them, for percentile and aggregation tests.</summary>
internal static class LatencyCounters
{
    /// <summary>The counters a capture node reports after recording <c>count</c> replies of each latency.</summary>
    public static Dictionary<string, long> Histogram(params (TimeSpan Latency, int Count)[] samples) =>
        Histogram(LatencyHistogramLayout.ReplyLatency, [.. samples.Select(s => (s.Latency.Ticks / TimeSpan.TicksPerMicrosecond, s.Count))]);

    /// <summary>The counters of a <paramref name="layout"/> histogram after <c>count</c> samples of each latency (µs).</summary>
    public static Dictionary<string, long> Histogram(LatencyHistogramLayout layout, params (long Microseconds, int Count)[] samples)
    {
        var histogram = new LatencyHistogram(layout);
        foreach (var (microseconds, count) in samples)
        {
            for (var n = 0; n < count; n++)
            {
                histogram.RecordMicroseconds(microseconds);
            }
        }

        var counters = new Dictionary<string, long>();
        histogram.WriteCounters(counters);
        return counters;
    }
}
