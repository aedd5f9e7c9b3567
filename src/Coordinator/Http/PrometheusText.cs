using System.Globalization;
using System.Text;
using ReplayCluster.Coordinator.Statistics;
using ReplayCluster.Statistics;

namespace ReplayCluster.Coordinator.Http;

/// <summary>The Prometheus text exposition format (version 0.0.4) of the cluster's statistics.</summary>
internal static class PrometheusText
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public static string Render(ClusterStatistics statistics)
    {
        ArgumentNullException.ThrowIfNull(statistics);
        var text = new StringBuilder();
        Gauge(text, "replaycluster_online_request_rate", "Online requests per second, each counted once however many copies replay it.", statistics.OnlineRequestRate);
        Gauge(text, "replaycluster_replayed_request_rate", "Requests per second the target acknowledged.", statistics.ReplayedRequestRate);
        Gauge(text, "replaycluster_request_loss_ratio", "lost / captured over all capture nodes (requests in flight are not lost).", statistics.LossRatio);
        Gauge(text, "replaycluster_amplification", "Replayed / online request rate (the copies at work).", statistics.Amplification);
        Gauge(text, "replaycluster_nodes", "Nodes reporting statistics.", statistics.Nodes.Count(n => n.State != NodeStates.Removed));
        ReplyLatency(text, statistics.CaptureTotals);

        // One family per counter name, one sample per node: a family's samples must stay together.
        // The reply latency buckets are the histogram above, summed over the cluster, not node gauges.
        foreach (var name in statistics.Nodes.SelectMany(n => n.Counters.Keys).Where(n => !ReplyLatencyHistogram.IsHistogramCounter(n))
                     .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            var metric = $"replaycluster_node_{name}";
            text.Append("# HELP ").Append(metric).Append(" Node counter ").Append(name).Append(".\n");
            text.Append("# TYPE ").Append(metric).Append(" gauge\n");
            foreach (var node in statistics.Nodes.Where(n => n.Counters.ContainsKey(name)))
            {
                text.Append(metric).Append("{node=\"").Append(Escape(node.Address)).Append("\",role=\"").Append(Escape(node.Role)).Append("\"} ")
                    .Append(node.Counters[name].ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
        }

        return text.ToString();
    }

    /// <summary>The capture nodes' reply latencies as one Prometheus histogram (departed nodes included, so it only grows).</summary>
    private static void ReplyLatency(StringBuilder text, IReadOnlyDictionary<string, long> totals)
    {
        const string name = "replaycluster_reply_latency_seconds";
        text.Append("# HELP ").Append(name).Append(" Reply latency of replayed requests, last request byte first sent to first response byte seen, all capture nodes.\n")
            .Append("# TYPE ").Append(name).Append(" histogram\n");
        var bounds = ReplyLatencyHistogram.UpperBoundsMicroseconds;
        for (var i = 0; i < bounds.Count; i++)
        {
            text.Append(name).Append("_bucket{le=\"").Append((bounds[i] / 1e6).ToString("R", CultureInfo.InvariantCulture)).Append("\"} ")
                .Append(totals.GetValueOrDefault(ReplyLatencyHistogram.BucketCounterNames[i]).ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        var count = totals.GetValueOrDefault(ReplyLatencyHistogram.CountCounter).ToString(CultureInfo.InvariantCulture);
        text.Append(name).Append("_bucket{le=\"+Inf\"} ").Append(count).Append('\n')
            .Append(name).Append("_sum ").Append((totals.GetValueOrDefault(ReplyLatencyHistogram.SumCounter) / 1e6).ToString("R", CultureInfo.InvariantCulture)).Append('\n')
            .Append(name).Append("_count ").Append(count).Append('\n');
    }

    private static void Gauge(StringBuilder text, string name, string help, double value) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
            .Append("# TYPE ").Append(name).Append(" gauge\n")
            .Append(name).Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');

    private static string Escape(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
