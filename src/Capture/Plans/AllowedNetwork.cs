using System.Globalization;
using System.Net;
using ReplayCluster.Configuration;
using ReplayCluster.Packets;

namespace ReplayCluster.Capture.Plans;

/// <summary>An IPv4 network (host order, masked), as <c>allowed-targets</c> and ranges are written: <c>10.0.2.0/24</c> or one address.</summary>
internal readonly record struct AllowedNetwork(uint Network, int Prefix)
{
    /// <summary>Whether <paramref name="address"/> lies in this network.</summary>
    public bool Contains(uint address)
    {
        var (first, last) = ReplayCluster.Plans.AddressRules.Bounds(Network, Prefix);
        return address >= first && address <= last;
    }

    public override string ToString() => $"{Ipv4Address.Format(Network)}/{Prefix}";

    /// <summary>Reads <c>A.B.C.D</c> or <c>A.B.C.D/N</c>; false for anything else.</summary>
    public static bool TryParse(string? text, out AllowedNetwork network)
    {
        network = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        text = text.Trim();
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var prefix = 32;
        if (slash >= 0 && (!int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out prefix) || prefix > 32))
        {
            return false;
        }

        if (!IPAddress.TryParse(slash >= 0 ? text[..slash] : text, out var address) || address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            return false;
        }

        var (first, _) = ReplayCluster.Plans.AddressRules.Bounds(Ipv4Address.FromIPAddress(address), prefix);
        network = new AllowedNetwork((uint)first, prefix);
        return true;
    }

    /// <summary>Reads one network; an unreadable one stops the node naming <paramref name="setting"/>.</summary>
    public static AllowedNetwork Parse(string text, string setting) =>
        TryParse(text, out var network) ? network : throw NodeConfigurationException.ForSetting(setting, $"'{text}' is not an IPv4 address or range such as 10.0.2.0/24");

    /// <summary>Reads the <c>allowed-targets</c> list.</summary>
    public static IReadOnlyList<AllowedNetwork> ParseList(IEnumerable<string> entries, string setting)
    {
        ArgumentNullException.ThrowIfNull(entries);
        return [.. entries.Select(e => Parse(e, setting))];
    }
}
