using System.Text.Json;
using System.Text.Json.Serialization;

namespace ReplayCluster.Comparison;

/// <summary>
/// What a node (or a shard) learned from comparing, as counts: compact, bounded, and mergeable (add two summaries with
/// <see cref="Merge"/>; the result is the summary of both). Counts are cumulative since the engine started, so the
/// coordinator keeps each node's latest summary and merges those. Noise decisions are not taken here but on the merged
/// whole (<see cref="ComparisonReport.Build"/>), where the most evidence is.
/// </summary>
public sealed record ComparisonSummary
{
    /// <summary>The format's version; a reader refuses one it does not know.</summary>
    public const int CurrentVersion = 1;

    /// <summary>The empty summary.</summary>
    public static readonly ComparisonSummary Empty = new();

    public int Version { get; init; } = CurrentVersion;

    /// <summary>Compared sessions that completed.</summary>
    public long Sessions { get; init; }

    /// <summary>Pairs (reference and target exchange) compared.</summary>
    public long PairsCompared { get; init; }

    /// <summary>Refusals and drops by name (<see cref="ComparisonCounters.Snapshot"/>), zeros left out.</summary>
    public IReadOnlyDictionary<string, long> Counters { get; init; } = new Dictionary<string, long>();

    /// <summary>At most <see cref="ComparisonBudget.MaxEndpoints"/> endpoints, plus <see cref="EndpointSummary.OtherEndpoints"/> for the rest.</summary>
    public IReadOnlyList<EndpointSummary> Endpoints { get; init; } = [];

    /// <summary>The summary of <paramref name="a"/> and <paramref name="b"/> together, within <paramref name="budget"/>'s bounds.</summary>
    public static ComparisonSummary Merge(ComparisonSummary a, ComparisonSummary b, ComparisonBudget? budget = null)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var aggregator = new ComparisonAggregator(budget ?? new ComparisonBudget());
        aggregator.Add(a);
        aggregator.Add(b);
        return aggregator.ToSummary(aggregator.MergedCounters);
    }

    public string ToJson() => JsonSerializer.Serialize(this, ComparisonJsonContext.Default.ComparisonSummary);

    /// <summary>Reads a summary; null (with <paramref name="error"/>) for anything that is not one of this version.</summary>
    public static ComparisonSummary? FromJson(string json, out string? error)
    {
        try
        {
            var summary = JsonSerializer.Deserialize(json, ComparisonJsonContext.Default.ComparisonSummary);
            if (summary is null || summary.Version != CurrentVersion)
            {
                error = $"not a comparison summary of version {CurrentVersion}";
                return null;
            }

            error = null;
            return summary;
        }
        catch (JsonException ex)
        {
            error = "not JSON: " + ex.Message;
            return null;
        }
    }
}

/// <summary>One endpoint's counts.</summary>
public sealed record EndpointSummary
{
    /// <summary>The endpoint that stands for all endpoints beyond <see cref="ComparisonBudget.MaxEndpoints"/>.</summary>
    public const string OtherEndpoints = "(other endpoints)";

    /// <summary>The endpoint (<see cref="EndpointTemplate"/>), e.g. <c>GET /users/{id}</c>.</summary>
    public required string Endpoint { get; init; }

    /// <summary>Pairs compared.</summary>
    public long Compared { get; init; }

    /// <summary>Pairs with at least one difference in a compared (not ignored) field, before learned noise is taken out.</summary>
    public long DifferingRaw { get; init; }

    /// <summary>Reference pairs compared to learn noise: primary against secondary reference.</summary>
    public long SecondarySamples { get; init; }

    /// <summary>Reference pairs compared to learn noise: online responses to identical requests.</summary>
    public long RepeatSamples { get; init; }

    /// <summary>Differences beyond <see cref="ComparisonBudget.MaxDifferencesPerPair"/>, counted only.</summary>
    public long DifferencesTruncated { get; init; }

    /// <summary>At most <see cref="ComparisonBudget.MaxFieldsPerEndpoint"/> fields.</summary>
    public IReadOnlyList<FieldSummary> Fields { get; init; } = [];

    /// <summary>Differences in fields beyond <see cref="ComparisonBudget.MaxFieldsPerEndpoint"/>.</summary>
    public long OtherFieldDifferences { get; init; }

    /// <summary>Distinct sets of differing fields and how many pairs showed each (which pairs differ beyond noise).</summary>
    public IReadOnlyList<DifferenceSet> DifferenceSets { get; init; } = [];

    /// <summary>Differing pairs whose set was beyond <see cref="ComparisonBudget.MaxDifferenceSetsPerEndpoint"/>: counted as differing.</summary>
    public long OtherDifferenceSetPairs { get; init; }
}

/// <summary>One field's counts at one endpoint.</summary>
public sealed record FieldSummary
{
    /// <summary>The field's path: <c>status</c>, <c>header:content-type</c>, <c>$.user.age</c>, <c>body:line[3]</c>, <c>body</c>, <c>response:hash</c>.</summary>
    public required string Field { get; init; }

    /// <summary>Pairs in which the field differed between reference and target.</summary>
    public long Differences { get; init; }

    /// <summary>Reference pairs (primary and secondary) in which it differed.</summary>
    public long SecondaryNoise { get; init; }

    /// <summary>Online response pairs to identical requests in which it differed.</summary>
    public long RepeatNoise { get; init; }

    /// <summary>Pairs in which it differed but is never compared (an ignore rule).</summary>
    public long Ignored { get; init; }

    /// <summary>The ignore rule, when <see cref="Ignored"/> is not zero.</summary>
    public string? IgnoredReason { get; init; }

    /// <summary>One example of a difference (reference against target), truncated and redacted.</summary>
    public DifferenceExample? Example { get; init; }
}

/// <summary>An example of a difference; values truncated to <see cref="ComparisonBudget.MaxExampleChars"/> and redacted.</summary>
public sealed record DifferenceExample(string Kind, string? Reference, string? Target);

/// <summary>A set of fields that differed together in <see cref="Pairs"/> pairs.</summary>
public sealed record DifferenceSet(IReadOnlyList<string> Fields, long Pairs);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = false,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ComparisonSummary))]
[JsonSerializable(typeof(ComparisonReport))]
internal sealed partial class ComparisonJsonContext : JsonSerializerContext;
