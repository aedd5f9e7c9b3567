using ReplayCluster.Comparison;
using ReplayCluster.Coordinator.Comparison;

namespace ReplayCluster.Coordinator.Tests.Comparison;

public sealed class DiffCommandTests
{
    private static ComparisonSummary Summary(string endpoint, long compared, params FieldSummary[] fields) => new()
    {
        Sessions = 1,
        PairsCompared = compared,
        Endpoints = [new EndpointSummary { Endpoint = endpoint, Compared = compared, DifferingRaw = fields.Any(f => f.Differences > 0) ? compared : 0, Fields = fields,
            DifferenceSets = fields.Any(f => f.Differences > 0) ? [new DifferenceSet([.. fields.Where(f => f.Differences > 0).Select(f => f.Field)], compared)] : [] }],
    };

    [Fact]
    public void The_table_shows_each_endpoint_its_top_differing_field_with_an_example_and_the_noise_with_its_reason()
    {
        var merged = ComparisonSummary.Merge(
            Summary("GET /users/{id}", 4, new FieldSummary { Field = "$.plan", Differences = 4, Example = new DifferenceExample("ValueChanged", "\"gold\"", "\"silver\"") },
                new FieldSummary { Field = "header:date", Ignored = 2, IgnoredReason = "ignored by default" }),
            Summary("GET /same.json", 3));
        var answer = new DiffAnswer(2, DateTimeOffset.UnixEpoch, 1, ComparisonReport.Build(merged, new NoiseOptions()));

        var json = DiffRoutes.ToJson(answer, answer.Report);
        var table = DiffCommand.Table(json);

        Assert.Contains("run 2 since 1970-01-01T00:00:00.0000000+00:00: 2 sessions, 7 response pairs compared by 1 capture node(s)", table, StringComparison.Ordinal);
        Assert.Matches(@"GET /users/\{id\}\s+4\s+4\s+\$\.plan \(4\): ""gold"" -> ""silver""", table);
        Assert.Matches(@"GET /same\.json\s+3\s+0\s+-", table);
        Assert.Contains("header:date: ignored by default", table, StringComparison.Ordinal);
    }

    [Fact]
    public void Prometheus_counters_are_per_endpoint_with_escaped_labels()
    {
        var report = ComparisonReport.Build(Summary("GET /a\"b", 5, new FieldSummary { Field = "status", Differences = 5 }), new NoiseOptions());
        var text = new System.Text.StringBuilder();

        DiffRoutes.AppendPrometheus(text, new DiffAnswer(0, DateTimeOffset.UnixEpoch, 1, report));

        Assert.Contains("replaycluster_diff_compared_total{endpoint=\"GET /a\\\"b\"} 5", text.ToString(), StringComparison.Ordinal);
        Assert.Contains("replaycluster_diff_differing_total{endpoint=\"GET /a\\\"b\"} 5", text.ToString(), StringComparison.Ordinal);
    }
}
