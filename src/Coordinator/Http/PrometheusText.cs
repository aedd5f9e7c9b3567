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
        Histogram(text, "replaycluster_reply_latency_seconds",
            "Reply latency of replayed requests, last request byte first sent to first response byte seen, all capture nodes.",
            LatencyHistogramLayout.ReplyLatency, statistics.CaptureTotals);
        Histogram(text, "replaycluster_relay_latency_seconds",
            "Relay latency of reply records, captured at the intercept to received by the owning capture node (wall clocks of both hosts), all capture nodes.",
            LatencyHistogramLayout.RelayLatency, statistics.CaptureTotals);
        Histogram(text, "replaycluster_capture_latency_seconds",
            "Capture latency of client segments, kernel capture timestamp to handled by their session, all capture nodes (live capture only).",
            LatencyHistogramLayout.CaptureLatency, statistics.CaptureTotals);

        // One family per counter name, one sample per node: a family's samples must stay together.
        // The latency buckets are the histograms above, summed over the cluster, not node gauges.
        foreach (var name in statistics.Nodes.SelectMany(n => n.Counters.Keys)
                     .Where(n => !LatencyHistogramLayout.ReplyLatency.IsHistogramCounter(n) && !LatencyHistogramLayout.RelayLatency.IsHistogramCounter(n)
                         && !LatencyHistogramLayout.CaptureLatency.IsHistogramCounter(n))
                     .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            // A running total is a counter (..._total); a level (live sessions, bytes buffered) a gauge.
            var gauge = NodeCounterKinds.IsGauge(name);
            var metric = gauge ? $"replaycluster_node_{name}" : $"replaycluster_node_{name}_total";
            text.Append("# HELP ").Append(metric).Append(gauge ? " Node level " : " Node total ").Append(name).Append(".\n");
            text.Append("# TYPE ").Append(metric).Append(gauge ? " gauge\n" : " counter\n");
            foreach (var node in statistics.Nodes.Where(n => n.Counters.ContainsKey(name)))
            {
                text.Append(metric).Append("{node=\"").Append(Escape(node.Address)).Append("\",role=\"").Append(Escape(node.Role)).Append("\"} ")
                    .Append(node.Counters[name].ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
        }

        return text.ToString();
    }

    /// <summary>The capture nodes' latencies of one layout as one Prometheus histogram (departed nodes included, so it only grows).</summary>
    private static void Histogram(StringBuilder text, string name, string help, LatencyHistogramLayout layout, IReadOnlyDictionary<string, long> totals)
    {
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
            .Append("# TYPE ").Append(name).Append(" histogram\n");
        var bounds = layout.UpperBoundsMicroseconds;
        for (var i = 0; i < bounds.Count; i++)
        {
            text.Append(name).Append("_bucket{le=\"").Append((bounds[i] / 1e6).ToString("R", CultureInfo.InvariantCulture)).Append("\"} ")
                .Append(totals.GetValueOrDefault(layout.BucketCounterNames[i]).ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        var count = totals.GetValueOrDefault(layout.CountCounter).ToString(CultureInfo.InvariantCulture);
        text.Append(name).Append("_bucket{le=\"+Inf\"} ").Append(count).Append('\n')
            .Append(name).Append("_sum ").Append((totals.GetValueOrDefault(layout.SumCounter) / 1e6).ToString("R", CultureInfo.InvariantCulture)).Append('\n')
            .Append(name).Append("_count ").Append(count).Append('\n');
    }

    private static void Gauge(StringBuilder text, string name, string help, double value) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
            .Append("# TYPE ").Append(name).Append(" gauge\n")
            .Append(name).Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');

    private static string Escape(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
