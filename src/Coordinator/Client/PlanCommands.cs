using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ReplayCluster.Coordinator.Client;

/// <summary>
/// <c>plan show</c> and <c>plan set</c>: read and change the running coordinator's replay plan. A change
/// reaches every capture node without a restart; a refused one prints the coordinator's reason.
/// </summary>
internal static class PlanCommands
{
    private static readonly Option<bool> Json = new("--json") { Description = "Print the JSON the coordinator returns." };
    private static readonly Option<string[]> Targets = new("--target", "-x") { Description = "[onlineIP:]onlinePort-targetIP:targetPort; repeatable, replaces the list.", HelpName = "MAP" };
    private static readonly Option<string[]> Unset = new("--unset") { Description = "Take a field out of the plan (capture nodes use their own setting again); repeatable.", HelpName = "FIELD" };

    // Option name, plan field, and whether the value is a JSON number.
    private static readonly (Option<string?> Option, string Field, bool Number)[] Fields =
    [
        (new("--fake-client-range", "-c") { Description = "Fake client range divided into capture nodes' slices: an IPv4 range, optionally with an IPv6 range (10.200.0.0/16,fd00:c8::/48).", HelpName = "CIDR" }, "fakeClientRange", false),
        (new("--slice-prefix") { Description = "Prefix length of one capture node's slice.", HelpName = "BITS" }, "slicePrefix", true),
        (new("--copies", "-n") { Description = "Replay every session N times (the multiplier).", HelpName = "N" }, "copies", true),
        (new("--sample-percent", "-r") { Description = "Replay this percentage of sessions.", HelpName = "PERCENT" }, "samplePercent", true),
        (new("--rate-cap") { Description = "Replayed sessions started per second, cluster-wide.", HelpName = "PER_SECOND" }, "rateCap", true),
        (new("--idle-timeout") { Description = "Silence with data pending after which a session is lost, e.g. 60s.", HelpName = "DURATION" }, "idleTimeout", false),
        (new("--keepalive-timeout") { Description = "Silence after which an idle keep-alive session is closed, e.g. 10m.", HelpName = "DURATION" }, "keepAliveTimeout", false),
        (new("--response-wait-limit") { Description = "The next request goes out after this long without an answer, e.g. 3s.", HelpName = "DURATION" }, "responseWaitLimit", false),
        (new("--run-duration") { Description = "Runs stop by themselves after this long, e.g. 10m.", HelpName = "DURATION" }, "runDuration", false),
        (new("--compare-percent") { Description = "Compare the responses of this percentage of sessions with production's (0 is off).", HelpName = "PERCENT" }, "comparePercent", true),
        (new("--compare-secondary") { Description = "A second server running the production build, IP:PORT: compared sessions are replayed to it too, to learn noise.", HelpName = "IP:PORT" }, "compareSecondary", false),
    ];

    // Comparison noise rules (lists, repeatable; each replaces the plan's list): option and plan field.
    private static readonly (Option<string[]> Option, string Field)[] Lists =
    [
        (new("--compare-ignore-header") { Description = "A response header never compared (beyond Date, request ids...); repeatable.", HelpName = "NAME" }, "compareIgnoredHeaders"),
        (new("--compare-ignore-field") { Description = "A JSON path never compared, e.g. $.meta.generatedAt or $.items[*].at; repeatable.", HelpName = "PATH" }, "compareIgnoredFields"),
        (new("--compare-redact-field") { Description = "A JSON field name redacted in examples (beyond password, token...); repeatable.", HelpName = "NAME" }, "compareRedactedFields"),
    ];

    public static Command Create()
    {
        var show = new Command("show", "Print the running replay plan.") { Json };
        show.SetAction((parse, cancellation) => ClientCommands.RunAsync(parse, cancellation, async (http, output) =>
        {
            var body = await http.GetStringAsync("/api/plan", cancellation);
            output.Write(parse.GetValue(Json) ? body + Environment.NewLine : Table(body));
        }));

        var set = new Command("set", "Change fields of the running plan; the others stay. Capture nodes follow without a restart.") { Json, Targets, Unset };
        foreach (var (option, _, _) in Fields)
        {
            set.Add(option);
        }

        foreach (var (option, _) in Lists)
        {
            set.Add(option);
        }

        set.SetAction((parse, cancellation) => ClientCommands.RunAsync(parse, cancellation, async (http, output) =>
        {
            var change = Change(parse);
            if (change.Count == 0)
            {
                throw new InvalidOperationException("nothing to change: give at least one field (see plan set --help)");
            }

            using var request = new HttpRequestMessage(HttpMethod.Patch, "/api/plan")
            {
                Content = new StringContent(change.ToJsonString(), Encoding.UTF8, "application/json"),
            };
            using var response = await http.SendAsync(request, cancellation);
            var body = await response.Content.ReadAsStringAsync(cancellation);
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException("plan refused, the running plan is unchanged: " + ClientCommands.ErrorOf(body));
            }

            output.Write(parse.GetValue(Json) ? body + Environment.NewLine : Table(body));
        }));

        return new Command("plan", "Show or change the replay plan the capture nodes follow.") { ClientCommands.Api, ClientCommands.ApiCa, show, set };
    }

    /// <summary>The merge patch the options describe; numbers that do not parse go as text, for the coordinator to refuse by name.</summary>
    internal static JsonObject Change(ParseResult parse)
    {
        var change = new JsonObject();
        foreach (var field in parse.GetValue(Unset) ?? [])
        {
            change[field] = null;
        }

        if (parse.GetValue(Targets) is { Length: > 0 } targets)
        {
            change["targets"] = new JsonArray([.. targets.Select(t => JsonValue.Create(t))]);
        }

        foreach (var (option, field) in Lists)
        {
            if (parse.GetValue(option) is { Length: > 0 } values)
            {
                change[field] = new JsonArray([.. values.Select(v => JsonValue.Create(v))]);
            }
        }

        foreach (var (option, field, number) in Fields)
        {
            if (parse.GetValue(option) is not { } text)
            {
                continue;
            }

            change[field] = number && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
                ? (value == Math.Floor(value) && Math.Abs(value) < 1e15 ? JsonValue.Create((long)value) : JsonValue.Create(value))
                : JsonValue.Create(text);
        }

        return change;
    }

    private static string Table(string body)
    {
        using var json = JsonDocument.Parse(body);
        var root = json.RootElement;
        var text = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"plan version {root.GetProperty("version").GetInt64()}, followed by {root.GetProperty("captureNodes").GetInt32()} capture node(s)");
        var fields = root.GetProperty("plan").EnumerateObject().ToList();
        var width = fields.Max(f => f.Name.Length);
        foreach (var field in fields)
        {
            var value = field.Value.ValueKind switch
            {
                JsonValueKind.Null => field.Name switch
                {
                    "runDuration" => "(runs last until stopped)",
                    "slicePrefix" => "(24)",
                    "fakeClientRange" => "(none: capture nodes use their own -c or real client addresses)",
                    "rateCap" => "(no cap unless a capture node has its own)",
                    "comparePercent" => "(off: no response is compared)",
                    "compareIgnoredHeaders" or "compareIgnoredFields" or "compareRedactedFields" => "(defaults only)",
                    "compareSecondary" => "(none: noise learned from repeated online requests)",
                    _ => "(each capture node's own)",
                },
                JsonValueKind.Array => string.Join(", ", field.Value.EnumerateArray().Select(v => v.ToString())),
                _ => field.Value.ToString(),
            };
            text.AppendLine(CultureInfo.InvariantCulture, $"  {field.Name.PadRight(width)}  {value}");
        }

        return text.ToString();
    }
}
