using ReplayCluster.Plans;

namespace ReplayCluster.Comparison;

/// <summary>
/// The replay plan's comparison fields (<c>comparePercent</c>, <c>compareIgnoredHeaders</c>, <c>compareIgnoredFields</c>,
/// <c>compareRedactedFields</c>, <c>compareSecondary</c>) read into the engine's options, and their validation (called by
/// <see cref="ReplayPlanValidator"/>, so the coordinator's API and every capture node refuse the same plans).
/// </summary>
public static class ComparisonPlan
{
    /// <summary>Entries a plan's comparison list may hold: noise rules are a handful of names, never thousands.</summary>
    public const int MaxListEntries = 64;

    /// <summary>The share of sessions compared, 0 (off) when the plan leaves it unset.</summary>
    public static double Percent(ReplayPlan? plan) => plan?.ComparePercent ?? 0;

    /// <summary>The secondary reference's address and port (host order), or null when the plan names none or a bad one.</summary>
    public static (uint Address, ushort Port)? Secondary(ReplayPlan? plan) =>
        plan?.CompareSecondary is { } text && TryParseEndpoint(text, out var address, out var port) ? (address, port) : null;

    // The target mappings' own reader, and a unicast address: the secondary is a server the sessions are replayed to.
    // IPv4 only for now: the secondary's sessions are replayed with the node's IPv4 identities.
    private static bool TryParseEndpoint(string text, out uint address, out ushort port)
    {
        address = 0;
        if (Protocol.TargetMapping.TryParseEndpoint(text, addressRequired: true, out var parsed, out port) is not null || !parsed.IsIpv4)
        {
            return false;
        }

        address = parsed.Ipv4;
        return address != 0 && address >> 24 is not 127 and < 224;
    }

    /// <summary>The engine's options for <paramref name="plan"/>: the defaults with the plan's noise rules added.</summary>
    public static ComparisonOptions Options(ReplayPlan? plan)
    {
        if (plan is null)
        {
            return ComparisonOptions.Default;
        }

        var noise = ComparisonOptions.Default.Noise;
        return ComparisonOptions.Default with
        {
            Noise = noise with
            {
                IgnoredHeaders = [.. plan.CompareIgnoredHeaders ?? []],
                IgnoredJsonPaths = [.. plan.CompareIgnoredFields ?? []],
                // Configured fields are redacted on top of the defaults, never instead of them.
                RedactedFields = [.. noise.RedactedFields.Concat(plan.CompareRedactedFields ?? []).Distinct(StringComparer.OrdinalIgnoreCase)],
            },
        };
    }

    /// <summary>The first problem with the plan's comparison fields, named as in the plan's JSON; null when they are fine.</summary>
    public static PlanError? Validate(ReplayPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (plan.ComparePercent is { } percent && (!double.IsFinite(percent) || percent < 0 || percent > 100))
        {
            return new PlanError("comparePercent", $"{percent} is out of range (0 to 100; 0 is off)");
        }

        if (plan.CompareSecondary is { } secondary && !TryParseEndpoint(secondary, out _, out _))
        {
            return new PlanError("compareSecondary", $"'{secondary}' is not an IPv4 unicast address and port such as 10.0.1.21:8080");
        }

        foreach (var (field, list) in new[]
        {
            ("compareIgnoredHeaders", plan.CompareIgnoredHeaders),
            ("compareIgnoredFields", plan.CompareIgnoredFields),
            ("compareRedactedFields", plan.CompareRedactedFields),
        })
        {
            if (list is { Count: > MaxListEntries })
            {
                return new PlanError(field, $"{list.Count} entries, at most {MaxListEntries}");
            }

            if (list is not null && list.Any(e => e is null))
            {
                return new PlanError(field, "an entry is null");
            }
        }

        // The engine's own checks, mapped back to the plan's field names.
        var errors = ComparisonOptionsValidator.Validate(Options(plan));
        if (errors.Count == 0)
        {
            return null;
        }

        var error = errors[0];
        var name = error.Setting switch
        {
            "noise.ignored-headers" => "compareIgnoredHeaders",
            "noise.ignored-json-paths" => "compareIgnoredFields",
            "noise.redacted-fields" => "compareRedactedFields",
            _ => "(comparison)",
        };
        return new PlanError(name, error.Problem);
    }
}
