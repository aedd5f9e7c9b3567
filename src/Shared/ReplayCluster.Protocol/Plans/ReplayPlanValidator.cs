using System.Net;
using ReplayCluster.Configuration;
using ReplayCluster.Packets;
using ReplayCluster.Protocol;

namespace ReplayCluster.Plans;

/// <summary>Why a plan was refused: the field (as in the plan's JSON) and what is wrong with it.</summary>
public sealed record PlanError(string Field, string Problem)
{
    public override string ToString() => $"{Field}: {Problem}";
}

/// <summary>What a plan may ask for beyond the fixed rules (the node's own configuration decides).</summary>
public sealed record PlanRules
{
    /// <summary>The rules with nothing opted in.</summary>
    public static readonly PlanRules Default = new();

    /// <summary>Whether a fake client range may be public address space. Defaults to false (see <see cref="AddressRules"/>).</summary>
    public bool AllowPublicFakeRange { get; init; }
}

/// <summary>
/// Checks a plan before it replaces the running one: at the coordinator (API, configuration, a capture
/// node's plan after a restart) and again at every capture node that receives it. The first problem found
/// is reported by field name; a refused plan changes nothing.
/// </summary>
public static class ReplayPlanValidator
{
    /// <summary>Target entries a plan may hold: a replay has a few services, never thousands.</summary>
    public const int MaxTargets = 64;

    /// <summary>A plan's size as JSON: 64 entries of the longest form fit in a quarter of it.</summary>
    public const int MaxPlanBytes = 16 * 1024;

    /// <summary>
    /// The highest plan version anyone may send: a version grows by one per accepted change, so this is
    /// never reached, and a version beyond it (a peer's attempt to win every comparison, or to overflow
    /// the next version) is refused.
    /// </summary>
    public const long MaxVersion = 1L << 48;

    /// <summary>The multiplier's bound: 1000 copies of one session are 1000 identities per client port.</summary>
    public const int MaxCopies = 1000;

    public const int DefaultSlicePrefix = 24;

    /// <summary>The longest run: well within what a timer can wait (about 49 days), and longer than any replay we heard of.</summary>
    public static readonly TimeSpan LongestRun = TimeSpan.FromDays(30);

    private static readonly TimeSpan MaxTimeout = TimeSpan.FromDays(1);

    /// <summary>Validates <paramref name="plan"/>; <paramref name="running"/> is the plan it would replace, if any.</summary>
    public static PlanError? Validate(ReplayPlan plan, ReplayPlan? running = null, PlanRules? rules = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return Size(plan)
            ?? Targets(plan, out var targetAddresses)
            ?? Identities(plan, running, targetAddresses, rules ?? PlanRules.Default)
            ?? Range("copies", plan.Copies, 1, MaxCopies)
            ?? Positive("samplePercent", plan.SamplePercent, 100)
            ?? Positive("rateCap", plan.RateCap, 10_000_000)
            ?? Duration("idleTimeout", plan.IdleTimeout)
            ?? Duration("keepAliveTimeout", plan.KeepAliveTimeout)
            ?? Duration("responseWaitLimit", plan.ResponseWaitLimit)
            ?? Duration("runDuration", plan.RunDuration, LongestRun)
            ?? Comparison.ComparisonPlan.Validate(plan);
    }

    private static PlanError? Targets(ReplayPlan plan, out IReadOnlyList<NetAddress> targetAddresses)
    {
        targetAddresses = [];
        if (plan.Targets is not { } targets)
        {
            return null;
        }

        if (targets.Count > MaxTargets)
        {
            return new PlanError("targets", $"{targets.Count} entries, at most {MaxTargets}");
        }

        // Each entry alone first, so the error points at the entry; then together, for duplicates.
        for (var i = 0; i < targets.Count; i++)
        {
            if (Parse([targets[i] ?? string.Empty], $"targets[{i}]", out var entry) is { } error)
            {
                return error;
            }

            foreach (var route in entry!.Routes)
            {
                if (AddressRules.WhyNeverTarget(route.TargetAddress) is { } never)
                {
                    return new PlanError($"targets[{i}]", $"{never}: never a target");
                }
            }
        }

        var all = Parse(targets, "targets", out var mapping);
        targetAddresses = mapping is null ? [] : [.. mapping.Routes.Select(r => r.TargetAddress)];
        return all;
    }

    private static PlanError? Parse(IEnumerable<string> entries, string field, out TargetMapping? mapping)
    {
        try
        {
            mapping = TargetMapping.Parse(entries, field);
            return null;
        }
        catch (NodeConfigurationException ex)
        {
            mapping = null;
            var prefix = field + ": ";
            return new PlanError(field, ex.Message.StartsWith(prefix, StringComparison.Ordinal) ? ex.Message[prefix.Length..] : ex.Message);
        }
    }

    private static PlanError? Size(ReplayPlan plan)
    {
        var bytes = System.Text.Encoding.UTF8.GetByteCount(ReplayPlanJson.Serialize(plan));
        return bytes > MaxPlanBytes ? new PlanError("(plan)", $"{bytes} bytes as JSON, at most {MaxPlanBytes}") : null;
    }

    private static PlanError? Identities(ReplayPlan plan, ReplayPlan? running, IReadOnlyList<NetAddress> targetAddresses, PlanRules rules)
    {
        if (plan.FakeClientRange is not { } text)
        {
            if (plan.SlicePrefix is not null)
            {
                return new PlanError("slicePrefix", "slices need a fakeClientRange to divide");
            }

            return running?.FakeClientRange is { } held
                ? new PlanError("fakeClientRange", $"capture nodes hold slices of {held}: it can be changed to a disjoint range, not removed")
                : null;
        }

        if (FakeClientRanges.TryParse(text) is not { } ranges)
        {
            return new PlanError("fakeClientRange", $"'{text}' is not an IPv4 range such as 10.200.0.0/16, optionally with an IPv6 range: 10.200.0.0/16,fd00:c8::/48");
        }

        var range = ranges.Ipv4;
        if (AddressRules.WhyNotFakeRange(Ipv4Address.FromIPAddress(range.BaseAddress), range.PrefixLength, rules.AllowPublicFakeRange) is { } notFake)
        {
            return new PlanError("fakeClientRange", notFake);
        }

        var prefix = plan.SlicePrefix ?? DefaultSlicePrefix;
        if (prefix < range.PrefixLength || prefix > 30)
        {
            return new PlanError("slicePrefix", $"/{prefix} slices do not fit in {range} (a prefix from {range.PrefixLength} to 30)");
        }

        foreach (var target in targetAddresses)
        {
            if (target.IsIpv4 && range.Contains(target.ToIPAddress()))
            {
                return new PlanError("fakeClientRange", $"{range} overlaps the target {target}: replies to it would be taken for replies to replayed clients");
            }
        }

        // Sessions under way keep identities of the running range until they end, and another node's
        // new slice must never hand one of those out again.
        var runningRanges = FakeClientRanges.TryParse(running?.FakeClientRange);
        if (runningRanges?.Ipv4 is { } current
            && (current != range || (running!.SlicePrefix ?? DefaultSlicePrefix) != prefix)
            && (current.Contains(range.BaseAddress) || range.Contains(current.BaseAddress)))
        {
            return new PlanError("fakeClientRange", $"{range} overlaps the running range {current}, whose identities sessions under way still use: choose a disjoint range");
        }

        return ranges.Ipv6 is { } ipv6 ? Ipv6Identities(ipv6, range, prefix, runningRanges, targetAddresses, rules) : null;
    }

    // The IPv6 range beside the IPv4 one: unique-local (unless allowed), as many /64 slices as the IPv4 range has slices,
    // clear of the IPv6 targets and of a different running IPv6 range.
    private static PlanError? Ipv6Identities(Ipv6Prefix ipv6, IPNetwork ipv4, int slicePrefix, FakeClientRanges? running,
        IReadOnlyList<NetAddress> targetAddresses, PlanRules rules)
    {
        if (AddressRules.WhyNotFakeRange(ipv6, rules.AllowPublicFakeRange) is { } notFake)
        {
            return new PlanError("fakeClientRange", notFake);
        }

        if (ipv6.Length > FakeClientRanges.Ipv6SlicePrefix || FakeClientRanges.Ipv6SlicePrefix - ipv6.Length < Math.Min(20, slicePrefix - ipv4.PrefixLength))
        {
            return new PlanError("fakeClientRange",
                $"{ipv6} holds fewer /{FakeClientRanges.Ipv6SlicePrefix} slices than {ipv4} holds /{slicePrefix} slices (one of each per capture node): use a /{FakeClientRanges.Ipv6SlicePrefix - Math.Min(20, slicePrefix - ipv4.PrefixLength)} or shorter");
        }

        foreach (var target in targetAddresses)
        {
            if (target.IsIpv6 && ipv6.Contains(target.Ipv6))
            {
                return new PlanError("fakeClientRange", $"{ipv6} overlaps the target {target}: replies to it would be taken for replies to replayed clients");
            }
        }

        return running?.Ipv6 is { } current && current != ipv6 && current.Overlaps(ipv6)
            ? new PlanError("fakeClientRange", $"{ipv6} overlaps the running range {current}, whose identities sessions under way still use: choose a disjoint range")
            : null;
    }

    private static PlanError? Range(string field, int? value, int min, int max) =>
        value is { } v && (v < min || v > max) ? new PlanError(field, $"{v} is out of range ({min} to {max})") : null;

    private static PlanError? Positive(string field, double? value, double max) =>
        value is { } v && (!double.IsFinite(v) || v <= 0 || v > max) ? new PlanError(field, $"{v} is out of range (more than 0, at most {max})") : null;

    private static PlanError? Duration(string field, TimeSpan? value, TimeSpan? max = null) =>
        value is { } v && (v <= TimeSpan.Zero || v > (max ?? MaxTimeout))
            ? new PlanError(field, $"{DurationText.Format(v)} is out of range (more than 0, at most {DurationText.Format(max ?? MaxTimeout)})")
            : null;
}
