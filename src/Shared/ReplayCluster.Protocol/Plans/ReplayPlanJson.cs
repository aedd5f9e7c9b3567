using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace ReplayCluster.Plans;

/// <summary>
/// The plan's JSON form (camelCase, durations as text), used by the API, the CLI and the wire, and
/// changes to it as JSON merge patches (RFC 7396): a field given replaces, a field set to null unsets.
/// </summary>
public static class ReplayPlanJson
{
    public static string Serialize(ReplayPlan plan) => JsonSerializer.Serialize(plan, ReplayPlanJsonContext.Default.ReplayPlan);

    public static JsonObject ToNode(ReplayPlan plan) =>
        (JsonObject)JsonSerializer.SerializeToNode(plan, ReplayPlanJsonContext.Default.ReplayPlan)!;

    /// <summary>Reads a whole plan; an unreadable field is reported by its name.</summary>
    public static ReplayPlan? Deserialize(string json, out PlanError? error)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            // Duplicate names are refused by the reader (a JsonException): JsonNode.Parse would accept them and the
            // first lookup then throw an ArgumentException (bench/fuzz.sh found it in plans sent over the wire).
            var node = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false });
            if (node is not JsonObject plan)
            {
                error = new PlanError("(plan)", "the plan is a JSON object such as {\"copies\": 3}");
                return null;
            }

            return FromNode(plan, out error);
        }
        catch (JsonException ex)
        {
            error = new PlanError("(plan)", $"not JSON: {ex.Message}");
            return null;
        }
    }

    /// <summary>Applies a merge patch to <paramref name="current"/>; an unknown or unreadable field is reported by name.</summary>
    public static ReplayPlan? Patch(ReplayPlan current, JsonObject patch, out PlanError? error)
    {
        ArgumentNullException.ThrowIfNull(patch);
        var merged = ToNode(current);
        foreach (var (name, value) in patch)
        {
            if (value is null)
            {
                merged.Remove(name);
            }
            else
            {
                merged[name] = value.DeepClone();
            }
        }

        return FromNode(merged, out error);
    }

    private static ReplayPlan? FromNode(JsonObject node, out PlanError? error)
    {
        var known = ToNode(ReplayPlan.Empty);
        foreach (var (name, _) in node)
        {
            if (!known.ContainsKey(name))
            {
                error = new PlanError(name, $"not a plan field (the fields: {string.Join(", ", known.Select(p => p.Key))})");
                return null;
            }
        }

        try
        {
            error = null;
            return node.Deserialize(ReplayPlanJsonContext.Default.ReplayPlan) ?? ReplayPlan.Empty;
        }
        catch (JsonException ex)
        {
            // The path ("$.copies", "$.targets[1]") names the field.
            var field = ex.Path is { Length: > 2 } path ? path[2..] : "(plan)";
            var name = field.Split('[')[0];
            var given = node.TryGetPropertyValue(name, out var value) ? value?.ToJsonString() : null;
            error = new PlanError(field, given is null ? Shorten(ex.Message) : $"{given} is not {Expected(name)}");
            return null;
        }
    }

    private static string Expected(string field) => field switch
    {
        "copies" or "slicePrefix" => "a whole number",
        "samplePercent" or "rateCap" or "comparePercent" => "a number",
        "compareIgnoredHeaders" or "compareIgnoredFields" or "compareRedactedFields" => "a list of texts",
        "targets" => "a list of \"[onlineIP:]onlinePort-targetIP:targetPort\" texts",
        "fakeClientRange" => "a range such as \"10.200.0.0/16\" or \"10.200.0.0/16,fd00:c8::/48\"",
        "compareSecondary" => "an address and port such as \"10.0.1.21:8080\"",
        _ => "a duration such as \"500ms\", \"30s\" or \"10m\"",
    };

    private static string Shorten(string message)
    {
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }
}

/// <summary>Source-generated serialization of the plan (no reflection at run time, trimming-safe).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = false)]
[JsonSerializable(typeof(ReplayPlan))]
internal sealed partial class ReplayPlanJsonContext : JsonSerializerContext;
