using System.Globalization;
using ReplayCluster.Configuration;
using ReplayCluster.Packets;

namespace ReplayCluster.Capture.Plans;

/// <summary>
/// An IPv4 or IPv6 network (masked), as <c>allowed-targets</c> and ranges are written: <c>10.0.2.0/24</c>,
/// <c>2001:db8:2::/64</c> or one address. <paramref name="Prefix"/> counts bits of the network's own family (at most 32
/// or 128).
/// </summary>
internal readonly record struct AllowedNetwork(NetAddress Network, int Prefix)
{
    /// <summary>Whether <paramref name="address"/> lies in this network (an address of the other family never does).</summary>
    public bool Contains(NetAddress address)
    {
        if (address.IsIpv4 != Network.IsIpv4)
        {
            return false;
        }

        if (Network.IsIpv4)
        {
            var (first, last) = ReplayCluster.Plans.AddressRules.Bounds(Network.Ipv4, Prefix);
            return address.Ipv4 >= first && address.Ipv4 <= last;
        }

        return new Ipv6Prefix(Network.Ipv6, Prefix).Contains(address.Ipv6);
    }

    public override string ToString() => $"{Network}/{Prefix}";

    /// <summary>Reads <c>ADDRESS</c> or <c>ADDRESS/N</c> of either family; false for anything else.</summary>
    public static bool TryParse(string? text, out AllowedNetwork network)
    {
        network = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        text = text.Trim();
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (!NetAddress.TryParse(slash >= 0 ? text.AsSpan(0, slash) : text, out var address) || address.IsUnspecified)
        {
            return false;
        }

        var bits = address.IsIpv4 ? 32 : 128;
        var prefix = bits;
        if (slash >= 0 && (!int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out prefix) || prefix > bits))
        {
            return false;
        }

        if (address.IsIpv4)
        {
            var (first, _) = ReplayCluster.Plans.AddressRules.Bounds(address.Ipv4, prefix);
            network = new AllowedNetwork(NetAddress.FromIpv4((uint)first), prefix);
        }
        else
        {
            network = new AllowedNetwork(Ipv6Address.FromValue(address.Ipv6.Value & Ipv6Prefix.Mask(prefix)), prefix);
        }

        return true;
    }

    /// <summary>Reads one network; an unreadable one stops the node naming <paramref name="setting"/>.</summary>
    public static AllowedNetwork Parse(string text, string setting) =>
        TryParse(text, out var network) ? network : throw NodeConfigurationException.ForSetting(setting, $"'{text}' is not an IPv4 or IPv6 address or range such as 10.0.2.0/24 or 2001:db8:2::/64");

    /// <summary>Reads the <c>allowed-targets</c> list.</summary>
    public static IReadOnlyList<AllowedNetwork> ParseList(IEnumerable<string> entries, string setting)
    {
        ArgumentNullException.ThrowIfNull(entries);
        return [.. entries.Select(e => Parse(e, setting))];
    }
}
