using System.Globalization;
using System.Text;
using Akka.Actor;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ReplayCluster.Comparison;
using ReplayCluster.Coordinator.Plans;

namespace ReplayCluster.Coordinator.Comparison;

/// <summary>
/// <c>GET /api/diff[?endpoint=E]</c>: the run's comparison report as JSON (the report of <see cref="ComparisonReport"/>,
/// with the run it covers), under the running plan's noise rules; and the per-endpoint counters in <c>/metrics</c>.
/// </summary>
internal static class DiffRoutes
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(3);

    public static void MapDiffRoutes(this WebApplication app, IActorRef keeper, IActorRef planKeeper)
    {
        app.MapGet("/api/diff", async (HttpRequest request) =>
        {
            var answer = await AskAsync(keeper, planKeeper);
            var report = answer.Report;
            if (request.Query.TryGetValue("endpoint", out var endpoint) && endpoint.ToString() is { Length: > 0 } wanted)
            {
                report = report with { Endpoints = [.. report.Endpoints.Where(e => e.Endpoint.Equals(wanted, StringComparison.OrdinalIgnoreCase))] };
            }

            return Results.Text(ToJson(answer, report), "application/json");
        });
    }

    public static async Task<DiffAnswer> AskAsync(IActorRef keeper, IActorRef planKeeper)
    {
        var plan = await planKeeper.Ask<CurrentPlan>(GetReplayPlan.Instance, AskTimeout);
        return await keeper.Ask<DiffAnswer>(new GetDiff(ComparisonPlan.Options(plan.Plan).Noise), AskTimeout);
    }

    /// <summary>The report's JSON with the run it covers and the share compared in front.</summary>
    internal static string ToJson(DiffAnswer answer, ComparisonReport report)
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(report.ToJson())!.AsObject();
        json.Insert(0, "run", answer.Run);
        json.Insert(1, "since", answer.Since.ToString("O", CultureInfo.InvariantCulture));
        json.Insert(2, "captureNodes", answer.Nodes);
        return json.ToJsonString();
    }

    /// <summary>Prometheus counters per endpoint (<c>replaycluster_diff_*</c>), and the drops by reason.</summary>
    public static void AppendPrometheus(StringBuilder text, DiffAnswer answer)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(answer);
        var report = answer.Report;
        text.Append("# HELP replaycluster_diff_sessions_total Compared sessions completed in this run.\n# TYPE replaycluster_diff_sessions_total counter\n")
            .Append(CultureInfo.InvariantCulture, $"replaycluster_diff_sessions_total {report.Sessions}\n");
        text.Append("# HELP replaycluster_diff_compared_total Response pairs compared, by endpoint.\n# TYPE replaycluster_diff_compared_total counter\n");
        foreach (var endpoint in report.Endpoints)
        {
            text.Append(CultureInfo.InvariantCulture, $"replaycluster_diff_compared_total{{endpoint=\"{Label(endpoint.Endpoint)}\"}} {endpoint.Compared}\n");
        }

        text.Append("# HELP replaycluster_diff_differing_total Response pairs that differ beyond noise, by endpoint.\n# TYPE replaycluster_diff_differing_total counter\n");
        foreach (var endpoint in report.Endpoints)
        {
            text.Append(CultureInfo.InvariantCulture, $"replaycluster_diff_differing_total{{endpoint=\"{Label(endpoint.Endpoint)}\"}} {endpoint.Differing}\n");
        }

        text.Append("# HELP replaycluster_diff_dropped_total Comparison work left out, by reason (bounded and counted).\n# TYPE replaycluster_diff_dropped_total counter\n");
        foreach (var (reason, count) in report.Counters.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            text.Append(CultureInfo.InvariantCulture, $"replaycluster_diff_dropped_total{{reason=\"{Label(reason)}\"}} {count}\n");
        }
    }

    private static string Label(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal)
        .Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
