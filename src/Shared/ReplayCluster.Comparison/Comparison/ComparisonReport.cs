using System.Text.Json;

namespace ReplayCluster.Comparison;

/// <summary>
/// The run's answer: per endpoint, how many pairs were compared and how many differ beyond noise, the fields that
/// differ (with one example each), and what was treated as noise and why. Built from a (merged) summary.
/// </summary>
/// <remarks>
/// <para>The noise rule, per endpoint and field. Let <c>p</c> be the field's primary difference rate (pairs in which
/// reference and target differ in it, over pairs compared) and <c>n</c> its noise rate (reference pairs in which it
/// differed, over reference pairs compared: primary against secondary reference, and online responses to identical
/// requests). Then:</para>
/// <list type="bullet">
/// <item>a field matched by an ignore rule (default headers such as Date and request ids, configured headers and JSON
/// paths) is noise, with that rule as the reason;</item>
/// <item>a field that never differed between references (<c>n = 0</c>, or no reference pairs at all) is a difference
/// as soon as it differs once: there is no evidence it varies by itself;</item>
/// <item>otherwise it is a difference only if <c>p - n &gt;= AbsoluteThreshold</c> and <c>p &gt;= n * (1 +
/// RelativeThreshold)</c> (defaults 0.03 and 0.2, as Diffy's), else it is learned noise, with the source(s) it was
/// learned from as the reason.</item>
/// </list>
/// <para>A pair is "differing" if at least one of its differing fields is a difference by this rule (exact while the
/// endpoint's sets of differing fields fit in <see cref="ComparisonBudget.MaxDifferenceSetsPerEndpoint"/>; pairs beyond
/// it count as differing).</para>
/// </remarks>
public sealed record ComparisonReport
{
    /// <summary>The rule in one sentence, carried in the report so a reader of the JSON knows it.</summary>
    public const string Rule =
        "a field is a difference when it never differed between references, or when its difference rate with the target exceeds its rate between references by at least the absolute threshold and by the relative threshold's factor; ignored fields are noise";

    public long Sessions { get; init; }

    public long PairsCompared { get; init; }

    /// <summary>Endpoints with differences first (most differing pairs first), then the rest by pairs compared.</summary>
    public IReadOnlyList<EndpointReport> Endpoints { get; init; } = [];

    /// <summary>Refusals and drops by name.</summary>
    public IReadOnlyDictionary<string, long> Counters { get; init; } = new Dictionary<string, long>();

    public string NoiseRule { get; init; } = Rule;

    public double AbsoluteThreshold { get; init; }

    public double RelativeThreshold { get; init; }

    /// <summary>Applies the noise rule to <paramref name="summary"/>; at most <paramref name="maxFieldsPerEndpoint"/> differing fields are listed per endpoint.</summary>
    public static ComparisonReport Build(ComparisonSummary summary, NoiseOptions noise, int maxFieldsPerEndpoint = 10)
    {
        ArgumentNullException.ThrowIfNull(summary);
        ArgumentNullException.ThrowIfNull(noise);
        var endpoints = summary.Endpoints
            .Select(e => BuildEndpoint(e, noise, maxFieldsPerEndpoint))
            .OrderByDescending(e => e.Differing)
            .ThenByDescending(e => e.Compared)
            .ThenBy(e => e.Endpoint, StringComparer.Ordinal)
            .ToList();
        return new ComparisonReport
        {
            Sessions = summary.Sessions,
            PairsCompared = summary.PairsCompared,
            Endpoints = endpoints,
            Counters = summary.Counters,
            AbsoluteThreshold = noise.AbsoluteThreshold,
            RelativeThreshold = noise.RelativeThreshold,
        };
    }

    public string ToJson() => JsonSerializer.Serialize(this, ComparisonJsonContext.Default.ComparisonReport);

    private static EndpointReport BuildEndpoint(EndpointSummary endpoint, NoiseOptions noise, int maxFields)
    {
        var samples = endpoint.SecondarySamples + endpoint.RepeatSamples;
        var differences = new List<FieldReport>();
        var noiseFields = new List<NoiseReport>();
        var reported = new HashSet<string>(StringComparer.Ordinal);
        foreach (var field in endpoint.Fields)
        {
            var noiseDifferences = field.SecondaryNoise + field.RepeatNoise;
            var p = endpoint.Compared == 0 ? 0 : (double)field.Differences / endpoint.Compared;
            var n = samples == 0 ? 0 : (double)noiseDifferences / samples;
            if (field.Ignored > 0)
            {
                noiseFields.Add(new NoiseReport(field.Field, field.IgnoredReason ?? NoiseReasons.ConfiguredIgnoredHeader, field.Differences, field.Ignored, noiseDifferences, samples));
                continue;
            }

            if (field.Differences == 0)
            {
                if (noiseDifferences > 0)
                {
                    noiseFields.Add(new NoiseReport(field.Field, LearnedReason(field), 0, 0, noiseDifferences, samples));
                }

                continue;
            }

            if (noiseDifferences == 0 || (p - n >= noise.AbsoluteThreshold && p >= n * (1 + noise.RelativeThreshold)))
            {
                reported.Add(field.Field);
                differences.Add(new FieldReport(field.Field, field.Differences, Math.Round(p, 4), Math.Round(n, 4), field.Example));
            }
            else
            {
                noiseFields.Add(new NoiseReport(field.Field, LearnedReason(field), field.Differences, 0, noiseDifferences, samples));
            }
        }

        var differing = endpoint.OtherDifferenceSetPairs;
        foreach (var set in endpoint.DifferenceSets)
        {
            // Fields beyond the per-endpoint bound are unknown: such a set counts as differing, the safe side.
            if (set.Fields.Any(f => reported.Contains(f) || !endpoint.Fields.Any(known => known.Field == f)))
            {
                differing += set.Pairs;
            }
        }

        return new EndpointReport
        {
            Endpoint = endpoint.Endpoint,
            Compared = endpoint.Compared,
            Differing = Math.Min(differing, endpoint.DifferingRaw),
            DifferingRaw = endpoint.DifferingRaw,
            NoiseSamples = samples,
            Differences = [.. differences.OrderByDescending(d => d.Differing).ThenBy(d => d.Field, StringComparer.Ordinal).Take(maxFields)],
            MoreDifferingFields = Math.Max(0, differences.Count - maxFields),
            OtherFieldDifferences = endpoint.OtherFieldDifferences,
            DifferencesTruncated = endpoint.DifferencesTruncated,
            Noise = [.. noiseFields.OrderBy(f => f.Field, StringComparer.Ordinal)],
        };
    }

    private static string LearnedReason(FieldSummary field) => (field.SecondaryNoise > 0, field.RepeatNoise > 0) switch
    {
        (true, true) => NoiseReasons.LearnedFromSecondary + "; " + NoiseReasons.LearnedFromRepeats,
        (true, false) => NoiseReasons.LearnedFromSecondary,
        _ => NoiseReasons.LearnedFromRepeats,
    };
}

/// <summary>One endpoint in the report.</summary>
public sealed record EndpointReport
{
    public required string Endpoint { get; init; }

    public long Compared { get; init; }

    /// <summary>Pairs with at least one difference beyond noise.</summary>
    public long Differing { get; init; }

    /// <summary>Pairs with any difference in a compared field, learned noise included.</summary>
    public long DifferingRaw { get; init; }

    /// <summary>Reference pairs the noise rates come from.</summary>
    public long NoiseSamples { get; init; }

    /// <summary>The top differing fields, each with one example.</summary>
    public IReadOnlyList<FieldReport> Differences { get; init; } = [];

    /// <summary>Differing fields beyond the listed ones.</summary>
    public long MoreDifferingFields { get; init; }

    /// <summary>Differences in fields the summary could not track (beyond its per-endpoint bound).</summary>
    public long OtherFieldDifferences { get; init; }

    public long DifferencesTruncated { get; init; }

    /// <summary>What was treated as noise, and why.</summary>
    public IReadOnlyList<NoiseReport> Noise { get; init; } = [];
}

/// <summary>A field reported as a difference: in how many pairs, its rates, and one example.</summary>
public sealed record FieldReport(string Field, long Differing, double Rate, double NoiseRate, DifferenceExample? Example);

/// <summary>A field treated as noise: why, and the counts behind the decision.</summary>
public sealed record NoiseReport(string Field, string Reason, long Differing, long IgnoredDifferences, long NoiseDifferences, long NoiseSamples);
