using System.Globalization;
using System.Net;
using ReplayCluster.PacketIO;

namespace ReplayCluster.Doctor;

/// <summary>
/// Where the target's main routing table sends each slice of the fake client range, read from the text of
/// <c>ip -4 route show table main</c> (or <c>ip -6</c> for an IPv6 range) by longest-prefix match. Every address counts, not one probe per range: a
/// route that covers the first slice only (or a more specific route that sends part of a slice elsewhere) leaves
/// the other capture nodes' replies on the default route, toward real clients, or nowhere.
/// </summary>
internal static class SliceRoutes
{
    /// <summary>Slices checked at most; a wider range is reported as not checked in full.</summary>
    public const int MaxSlices = 1 << 20;

    /// <summary>One route of the table: its addresses, what it does with them, and where it sends them.</summary>
    public sealed record Route(AddressInterval Addresses, int PrefixLength, bool IsDefault, string? Type, string NextHop);

    /// <summary>What went where.</summary>
    /// <param name="Slices">How many slices the range has.</param>
    /// <param name="Bad">The slices that are not (in full) routed by a specific unicast route, with the reason.</param>
    /// <param name="NextHops">The distinct next hops of the slices that are routed.</param>
    public sealed record Assessment(int Slices, IReadOnlyList<(string Slice, string Reason)> Bad, IReadOnlyList<string> NextHops);

    /// <summary>
    /// Parses the routes of <c>ip -4 route show</c>, or of <c>ip -6 route show</c> when <paramref name="ipv6"/> (its
    /// "default" is ::/0); continuation lines of multipath routes are folded in.
    /// </summary>
    public static IReadOnlyList<Route> Parse(string table, bool ipv6 = false)
    {
        ArgumentNullException.ThrowIfNull(table);
        var lines = new List<string>();
        foreach (var line in table.Split('\n'))
        {
            if (line.Length > 0 && char.IsWhiteSpace(line[0]) && lines.Count > 0)
            {
                lines[^1] += " " + line.Trim();
            }
            else if (line.Trim().Length > 0)
            {
                lines.Add(line.Trim());
            }
        }

        var routes = new List<Route>();
        foreach (var line in lines)
        {
            var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var at = 0;
            string? type = null;
            if (words[0] is "unicast" or "local" or "broadcast" or "multicast" or "throw" or "unreachable" or "prohibit" or "blackhole" or "nat")
            {
                type = words[0] == "unicast" ? null : words[0];
                at = 1;
            }

            if (at >= words.Length)
            {
                continue;
            }

            var isDefault = words[at] == "default";
            var prefix = isDefault ? (ipv6 ? "::/0" : "0.0.0.0/0")
                : words[at].Contains('/', StringComparison.Ordinal) ? words[at]
                : words[at] + (ipv6 ? "/128" : "/32");
            if (!IPNetwork.TryParse(prefix, out var network))
            {
                continue;
            }

            routes.Add(new Route(AddressInterval.Of(network), network.PrefixLength, isDefault || network.PrefixLength == 0, type, NextHop(words)));
        }

        return routes;
    }

    /// <summary>Assesses every slice of <paramref name="range"/> (slices of <paramref name="slicePrefix"/> bits) against <paramref name="routes"/>.</summary>
    public static Assessment Assess(IPNetwork range, int slicePrefix, IReadOnlyList<Route> routes)
    {
        ArgumentNullException.ThrowIfNull(routes);
        var bits = AddressInterval.HostBits(range.BaseAddress);
        var prefix = Math.Max(range.PrefixLength, Math.Clamp(slicePrefix, 0, bits));
        var whole = AddressInterval.Of(range);
        var sliceBits = bits - prefix;
        var sliceSize = UInt128.One << sliceBits;
        var slices = (int)UInt128.Min(((whole.Last - whole.First) >> sliceBits) + 1, MaxSlices);

        // Cut points: where any route starts or ends inside the range. Between two cut points one route decides.
        var cuts = new SortedSet<UInt128>();
        foreach (var route in routes)
        {
            cuts.Add(route.Addresses.First);
            if (route.Addresses.Last != UInt128.MaxValue)
            {
                cuts.Add(route.Addresses.Last + 1);
            }
        }

        var bad = new List<(string, string)>();
        var hops = new SortedSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < slices; i++)
        {
            var first = whole.First + ((UInt128)(uint)i << sliceBits);
            var last = first + (sliceSize - 1);
            string? reason = null;
            var start = first;
            while (reason is null)
            {
                var route = Lookup(routes, start);
                reason = route is null ? "no route"
                    : route.IsDefault ? $"the default route ({route.NextHop})"
                    : route.Type is { } type ? $"a {type} route ({Format(route)})"
                    : null;
                if (route is not null && reason is null)
                {
                    hops.Add(route.NextHop);
                }

                // The next point inside the slice where another route may take over, if any.
                var next = start == last ? null : cuts.GetViewBetween(start + 1, last);
                if (next is not { Count: > 0 })
                {
                    break;
                }

                start = next.Min;
            }

            if (reason is not null)
            {
                bad.Add(($"{AddressInterval.ToAddress(first)}/{prefix}", reason));
            }
        }

        return new Assessment(slices, bad, [.. hops]);
    }

    private static Route? Lookup(IReadOnlyList<Route> routes, UInt128 address)
    {
        Route? best = null;
        foreach (var route in routes)
        {
            if (address >= route.Addresses.First && address <= route.Addresses.Last && (best is null || route.PrefixLength > best.PrefixLength))
            {
                best = route;
            }
        }

        return best;
    }

    private static string Format(Route route) => route.NextHop.Length > 0 ? route.NextHop : route.PrefixLength.ToString(CultureInfo.InvariantCulture);

    private static string NextHop(string[] words)
    {
        var parts = new List<string>();
        for (var i = 0; i + 1 < words.Length; i++)
        {
            if (words[i] is "via" or "dev")
            {
                parts.Add($"{words[i]} {words[i + 1]}");
            }
        }

        return string.Join(' ', parts);
    }
}
