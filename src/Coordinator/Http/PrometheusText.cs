using System.Globalization;
using System.Text;
using ReplayCluster.Coordinator.Statistics;

namespace ReplayCluster.Coordinator.Http;

/// <summary>The Prometheus text exposition format (version 0.0.4) of the cluster's statistics.</summary>
internal static class PrometheusText
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public static string Render(ClusterStatistics statistics)
    {
        ArgumentNullException.ThrowIfNull(statistics);
        var text = new StringBuilder();
        Gauge(text, "replaycluster_online_request_rate", "Requests per second captured on the online hosts.", statistics.OnlineRequestRate);
        Gauge(text, "replaycluster_replayed_request_rate", "Requests per second the target acknowledged.", statistics.ReplayedRequestRate);
        Gauge(text, "replaycluster_request_loss_ratio", "(captured - delivered) / captured over all capture nodes.", statistics.LossRatio);
        Gauge(text, "replaycluster_nodes", "Nodes reporting statistics.", statistics.Nodes.Count);

        // One family per counter name, one sample per node: a family's samples must stay together.
        foreach (var name in statistics.Nodes.SelectMany(n => n.Counters.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
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

    private static void Gauge(StringBuilder text, string name, string help, double value) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
            .Append("# TYPE ").Append(name).Append(" gauge\n")
            .Append(name).Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');

    private static string Escape(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
