using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using ReplayCluster.Coordinator.Client;

namespace ReplayCluster.Coordinator.Comparison;

/// <summary>
/// <c>diff [--json] [--endpoint E]</c>: the run's comparison report as tables (endpoint, compared, differing, top
/// differing fields with an example; then what was treated as noise and why), or its JSON.
/// </summary>
internal static class DiffCommand
{
    private static readonly Option<bool> Json = new("--json") { Description = "Print the JSON the coordinator returns (GET /api/diff)." };
    private static readonly Option<string?> Endpoint = new("--endpoint") { Description = "Only this endpoint, as the report names it, e.g. 'GET /users/{id}'.", HelpName = "E" };

    public static Command Create()
    {
        var diff = new Command("diff", "Show how the target's responses differ from production's in this run, and what was noise.")
        {
            ClientCommands.Api, ClientCommands.ApiCa, Json, Endpoint,
        };
        diff.SetAction((parse, cancellation) => ClientCommands.RunAsync(parse, cancellation, async (http, output) =>
        {
            var path = parse.GetValue(Endpoint) is { } endpoint ? $"/api/diff?endpoint={Uri.EscapeDataString(endpoint)}" : "/api/diff";
            using var response = await http.GetAsync(path, cancellation);
            var body = await response.Content.ReadAsStringAsync(cancellation);
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException(ClientCommands.ErrorOf(body));
            }

            output.Write(parse.GetValue(Json) ? body + Environment.NewLine : Table(body));
        }));
        return diff;
    }

    internal static string Table(string body)
    {
        using var json = JsonDocument.Parse(body);
        var root = json.RootElement;
        var text = new StringBuilder().AppendLine(CultureInfo.InvariantCulture,
            $"run {root.GetProperty("run").GetInt32()} since {root.GetProperty("since").GetString()}: {root.GetProperty("sessions").GetInt64()} sessions, {root.GetProperty("pairsCompared").GetInt64()} response pairs compared by {root.GetProperty("captureNodes").GetInt32()} capture node(s)");
        var endpoints = root.GetProperty("endpoints").EnumerateArray().ToList();
        if (endpoints.Count == 0)
        {
            return text.AppendLine("nothing compared yet (is comparePercent set in the plan? replaycluster-coordinator plan set --compare-percent 5)").ToString();
        }

        var width = Math.Max(8, endpoints.Max(e => e.GetProperty("endpoint").GetString()!.Length));
        text.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"{"endpoint".PadRight(width)}  {"compared",9}  {"differing",9}  top differing fields (reference -> target)");
        foreach (var endpoint in endpoints)
        {
            var differences = endpoint.GetProperty("differences").EnumerateArray().Take(3).Select(Field).ToList();
            text.AppendLine(CultureInfo.InvariantCulture,
                $"{endpoint.GetProperty("endpoint").GetString()!.PadRight(width)}  {endpoint.GetProperty("compared").GetInt64(),9}  {endpoint.GetProperty("differing").GetInt64(),9}  {(differences.Count == 0 ? "-" : differences[0])}");
            foreach (var more in differences.Skip(1))
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"{string.Empty.PadRight(width + 24)}{more}");
            }
        }

        var noise = endpoints.SelectMany(e => e.GetProperty("noise").EnumerateArray().Select(n => (Field: n.GetProperty("field").GetString()!, Reason: n.GetProperty("reason").GetString()!)))
            .GroupBy(n => (n.Field, n.Reason)).Select(g => g.Key).OrderBy(n => n.Field, StringComparer.Ordinal).ToList();
        if (noise.Count > 0)
        {
            text.AppendLine().AppendLine("noise (not reported as differences):");
            foreach (var (field, reason) in noise)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  {field}: {reason}");
            }
        }

        var counters = root.GetProperty("counters").EnumerateObject().ToList();
        if (counters.Count > 0)
        {
            text.AppendLine().AppendLine("left out (bounded, counted): " + string.Join(", ", counters.Select(c => $"{c.Name}={c.Value}")));
        }

        return text.ToString();
    }

    private static string Field(JsonElement difference)
    {
        var field = difference.GetProperty("field").GetString();
        var count = difference.GetProperty("differing").GetInt64();
        if (!difference.TryGetProperty("example", out var example) || example.ValueKind != JsonValueKind.Object)
        {
            return $"{field} ({count})";
        }

        string Value(string name) => example.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "(none)";
        return $"{field} ({count}): {Value("reference")} -> {Value("target")}";
    }
}
