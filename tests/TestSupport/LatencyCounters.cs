using ReplayCluster.Statistics;

namespace ReplayCluster.Tests.TestSupport;

/// <summary>Reply latency histogram counters as a capture node reports them, for percentile and aggregation tests.</summary>
internal static class LatencyCounters
{
    /// <summary>The counters a capture node reports after recording <c>count</c> replies of each latency.</summary>
    public static Dictionary<string, long> Histogram(params (TimeSpan Latency, int Count)[] samples)
    {
        var histogram = new ReplyLatencyHistogram();
        foreach (var (latency, count) in samples)
        {
            for (var n = 0; n < count; n++)
            {
                histogram.Record(latency);
            }
        }

        var counters = new Dictionary<string, long>();
        histogram.WriteCounters(counters);
        return counters;
    }
}
