using System.Globalization;
using System.Net;
using ReplayCluster.PacketIO;

namespace ReplayCluster.Doctor;

/// <summary>What a host's conntrack looks like to the capture node: filled how far, and whether replayed sources are exempt.</summary>
/// <param name="Count">nf_conntrack_count; null when conntrack is not loaded in this network namespace.</param>
/// <param name="Max">nf_conntrack_max.</param>
/// <param name="Exempt">Source ranges that notrack rules exempt (<see cref="NotrackRuleset.ExemptSources"/>); null when the ruleset could not be read.</param>
/// <param name="Ranges">The node's fake client ranges, one per family; empty when it takes a slice of the coordinator's range or keeps real addresses.</param>
/// <param name="NodeInstalls">The node will install the exemption itself (notrack not off, and nft accepted the table in check mode).</param>
/// <param name="WhyNotInstalls">Why it will not, when it will not.</param>
internal sealed record ConntrackFacts(long? Count, long? Max, IReadOnlyList<AddressInterval>? Exempt, IReadOnlyList<IPNetwork> Ranges, bool NodeInstalls, string? WhyNotInstalls);

/// <summary>The conntrack check's verdict, apart from reading the host (unit-tested).</summary>
internal static class ConntrackAssessment
{
    /// <summary>At or above this share of nf_conntrack_max the host is about to drop new connections.</summary>
    public const double FailShare = 0.9;

    /// <summary>At or above this share it is worth a warning.</summary>
    public const double WarnShare = 0.7;

    public static DoctorResult Assess(ConntrackFacts facts)
    {
        ArgumentNullException.ThrowIfNull(facts);
        var range = facts.Ranges.Count > 0 ? string.Join(", ", facts.Ranges) : "the coordinator's slice";
        var matches = facts.Ranges.Count > 0
            ? facts.Ranges.Select(r => $"{(r.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "ip6" : "ip")} saddr {r}")
            : ["ip saddr <fake range>", "ip6 saddr <fake IPv6 range>"];
        var rule = $"nft add table inet {NotrackRuleset.TablePrefix}; nft add chain inet {NotrackRuleset.TablePrefix} {NotrackRuleset.Chain} " +
            $"'{{ type filter hook output priority raw; }}'" +
            string.Concat(matches.Select(m => $"; nft add rule inet {NotrackRuleset.TablePrefix} {NotrackRuleset.Chain} {m} notrack"));
        if (facts.Count is not { } count)
        {
            return DoctorResult.Ok("conntrack is not loaded here: replayed flows cannot fill a table" +
                (facts.NodeInstalls ? $" (the node installs notrack for {range} anyway)" : string.Empty));
        }

        var max = facts.Max is > 0 ? facts.Max.Value : long.MaxValue;
        var share = (double)count / max;
        var fill = $"{count}/{facts.Max?.ToString(CultureInfo.InvariantCulture) ?? "?"} entries ({share:P0})";
        if (share >= FailShare)
        {
            return DoctorResult.Fail($"the conntrack table is nearly full, {fill}: the kernel drops new connections, the production service's included",
                "find what fills it (conntrack -L | sort | uniq -c), exempt replayed flows (notrack), or raise net.netfilter.nf_conntrack_max");
        }

        var covered = facts.Ranges.Count > 0 && facts.Exempt is { } exempt && facts.Ranges.All(own => NotrackRuleset.Covers(exempt, own));
        if (covered)
        {
            return share >= WarnShare
                ? DoctorResult.Warn($"{fill}; replayed sources {range} are exempt (notrack)", "raise net.netfilter.nf_conntrack_max or find what fills the table")
                : DoctorResult.Ok($"{fill}; replayed sources {range} are exempt (notrack)");
        }

        if (facts.NodeInstalls)
        {
            var detail = $"{fill}; the node installs notrack for {range} at start (nft table inet {NotrackRuleset.TablePrefix}_<pid>)";
            return share >= WarnShare
                ? DoctorResult.Warn(detail, "raise net.netfilter.nf_conntrack_max or find what fills the table")
                : DoctorResult.Ok(detail);
        }

        if (facts.Ranges.Count == 0 && facts.Exempt is { Count: > 0 })
        {
            return DoctorResult.Warn($"{fill}; notrack rules exist ({facts.Exempt.Count} range(s)) but the node's slice is known only at run time",
                $"make sure they cover the coordinator's whole fake range: {rule}");
        }

        return DoctorResult.Fail(
            $"{fill}; replayed flows from {range} would be tracked here and the node cannot exempt them ({facts.WhyNotInstalls ?? "notrack = off"}): " +
            "each replayed connection holds an entry (its replies never return here) until the table drops the production service's connections",
            $"give the node CAP_NET_ADMIN and nft (notrack = auto), or install the rule: {rule}");
    }
}
