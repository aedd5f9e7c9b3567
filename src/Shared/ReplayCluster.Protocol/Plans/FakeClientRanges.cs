using System.Net;
using ReplayCluster.Packets;

namespace ReplayCluster.Plans;

/// <summary>
/// The plan's fake client range as the coordinator slices it: an IPv4 range, and optionally an IPv6 range beside it
/// (<c>10.200.0.0/16,fd00:c8::/48</c>). A capture node's slice is the same index in both: the IPv4 range's
/// <c>slicePrefix</c> slice and the IPv6 range's /64 (<see cref="Ipv6SlicePrefix"/>), written the same way
/// (<c>10.200.3.0/24,fd00:c8:0:3::/64</c>), so one grant gives a node identities of both families that no other node has.
/// </summary>
public sealed record FakeClientRanges(IPNetwork Ipv4, Ipv6Prefix? Ipv6)
{
    /// <summary>Prefix length of an IPv6 slice: one /64 per capture node, the customary subnet.</summary>
    public const int Ipv6SlicePrefix = 64;

    /// <summary>Reads one IPv4 range, optionally followed by a comma and one IPv6 range; null when the text is not that.</summary>
    public static FakeClientRanges? TryParse(string? text)
    {
        if (text is null)
        {
            return null;
        }

        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length > 2 || !IPNetwork.TryParse(parts[0], out var ipv4) || ipv4.BaseAddress.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            return null;
        }

        if (parts.Length == 1)
        {
            return new FakeClientRanges(ipv4, null);
        }

        return Ipv6Prefix.TryParse(parts[1], out var ipv6) ? new FakeClientRanges(ipv4, ipv6) : null;
    }

    /// <summary>The IPv4 slice <paramref name="ipv4Slice"/> with the IPv6 slice of the same index, when there is an IPv6 range.</summary>
    /// <param name="ipv4Slice">A slice of <see cref="Ipv4"/>.</param>
    /// <param name="slicePrefix">The IPv4 slices' prefix length.</param>
    /// <returns>The slice's text; null when the IPv6 range has no slice of that index.</returns>
    public string? SliceText(IPNetwork ipv4Slice, int slicePrefix)
    {
        if (Ipv6 is not { } ipv6)
        {
            return ipv4Slice.ToString();
        }

        var index = (Ipv4Address.FromIPAddress(ipv4Slice.BaseAddress) - Ipv4Address.FromIPAddress(Ipv4.BaseAddress)) >> (32 - slicePrefix);
        return ipv6.Length <= Ipv6SlicePrefix && index < ipv6.GetSliceCount(Ipv6SlicePrefix)
            ? $"{ipv4Slice},{ipv6.GetSlice(Ipv6SlicePrefix, index)}"
            : null;
    }

    public override string ToString() => Ipv6 is { } ipv6 ? $"{Ipv4},{ipv6}" : Ipv4.ToString();
}
