using ReplayCluster.Packets;

namespace ReplayCluster.Plans;

/// <summary>
/// Which IPv4 addresses may be a replay target or a fake client range. A target never is an address the
/// kernel keeps to itself or fans out (loopback, "this network", link-local, multicast, reserved, broadcast):
/// replayed sessions toward one would reach the sending host itself or every host of a link. A fake client
/// range is private (RFC 1918, 100.64/10 shared address space, 198.18/15 benchmarking) unless the operator
/// opts in: the target answers every fake client, and answers to public addresses leave for the internet
/// when the reply route is missing.
/// </summary>
/// <remarks>Addresses are host order, as <see cref="Ipv4Address"/> parses them; range arithmetic is checked (64-bit).</remarks>
public static class AddressRules
{
    private static readonly (uint Network, int Prefix, string Name)[] NeverTargets =
    [
        (0x00000000, 8, "'this network' (0.0.0.0/8)"),
        (0x7F000000, 8, "loopback (127.0.0.0/8)"),
        (0xA9FE0000, 16, "link-local (169.254.0.0/16)"),
        (0xE0000000, 4, "multicast (224.0.0.0/4)"),
        (0xF0000000, 4, "reserved or broadcast (240.0.0.0/4, 255.255.255.255)"),
    ];

    private static readonly (uint Network, int Prefix)[] PrivateRanges =
    [
        (0x0A000000, 8), // 10.0.0.0/8
        (0xAC100000, 12), // 172.16.0.0/12
        (0xC0A80000, 16), // 192.168.0.0/16
        (0x64400000, 10), // 100.64.0.0/10
        (0xC6120000, 15), // 198.18.0.0/15
    ];

    // IPv6 addresses a target never is, by prefix (RFC 4291, RFC 6890): the unspecified address and loopback
    // (::/127), link-local unicast (a scope of one link, not routed) and multicast.
    private static readonly (Ipv6Prefix Prefix, string Name)[] NeverIpv6Targets =
    [
        (new Ipv6Prefix(Ipv6Address.Any, 127), "the unspecified or loopback address (::/127)"),
        (new Ipv6Prefix(new Ipv6Address(0xFE80_0000_0000_0000, 0), 10), "link-local (fe80::/10)"),
        (new Ipv6Prefix(new Ipv6Address(0xFF00_0000_0000_0000, 0), 8), "multicast (ff00::/8)"),
    ];

    // Where an IPv6 fake range is private: unique local addresses (RFC 4193), routed only inside a site.
    private static readonly Ipv6Prefix UniqueLocal = new(new Ipv6Address(0xFC00_0000_0000_0000, 0), 7);

    /// <summary>Why the IPv6 range <paramref name="range"/> is no fake client range; null when it is one.</summary>
    public static string? WhyNotFakeRange(Ipv6Prefix range, bool allowPublic)
    {
        foreach (var (prefix, name) in NeverIpv6Targets)
        {
            if (prefix.Overlaps(range))
            {
                return $"{range} overlaps {name}";
            }
        }

        if (range.Network.IsIpv4Mapped || new Ipv6Prefix(Ipv6Address.MapFromIpv4(0), 96).Overlaps(range))
        {
            return $"{range} overlaps the IPv4-mapped addresses (::ffff:0:0/96)";
        }

        return allowPublic || UniqueLocal.Contains(range) ? null
            : $"{range} is not a unique local range (fc00::/7, e.g. fd00:c8::/64); a public fake range needs allow-public-fake-range = on";
    }

    /// <summary>Why <paramref name="address"/> (IPv4 or IPv6) can never be a target; null when it can.</summary>
    public static string? WhyNeverTarget(NetAddress address)
    {
        if (address.IsIpv4)
        {
            return WhyNeverTarget(address.Ipv4);
        }

        foreach (var (prefix, name) in NeverIpv6Targets)
        {
            if (prefix.Contains(address.Ipv6))
            {
                return $"{address} is {name}";
            }
        }

        return null;
    }

    /// <summary>Why the IPv4 <paramref name="address"/> can never be a target; null when it can.</summary>
    public static string? WhyNeverTarget(uint address)
    {
        foreach (var (network, prefix, name) in NeverTargets)
        {
            if (Contains(network, prefix, address))
            {
                return $"{Ipv4Address.Format(address)} is {name}";
            }
        }

        return null;
    }

    /// <summary>Why the range <paramref name="network"/>/<paramref name="prefix"/> is no fake client range; null when it is one.</summary>
    public static string? WhyNotFakeRange(uint network, int prefix, bool allowPublic)
    {
        if (prefix is < 0 or > 32)
        {
            return $"/{prefix} is not a prefix length";
        }

        var (first, last) = Bounds(network, prefix);
        foreach (var (special, specialPrefix, name) in NeverTargets)
        {
            var (specialFirst, specialLast) = Bounds(special, specialPrefix);
            if (first <= specialLast && specialFirst <= last)
            {
                return $"{Ipv4Address.Format(network)}/{prefix} overlaps {name}";
            }
        }

        if (allowPublic)
        {
            return null;
        }

        foreach (var (privateNetwork, privatePrefix) in PrivateRanges)
        {
            var (privateFirst, privateLast) = Bounds(privateNetwork, privatePrefix);
            if (first >= privateFirst && last <= privateLast)
            {
                return null;
            }
        }

        return $"{Ipv4Address.Format(network)}/{prefix} is not private (10/8, 172.16/12, 192.168/16, 100.64/10 or 198.18/15); "
            + "a public fake range needs allow-public-fake-range = on";
    }

    /// <summary>First and last address of a range, in 64 bits so the last of 255.255.255.255/0 cannot wrap.</summary>
    public static (ulong First, ulong Last) Bounds(uint network, int prefix)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(prefix);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(prefix, 32);
        var size = 1UL << (32 - prefix);
        var first = network & ~(size - 1);
        return (first, checked(first + size - 1));
    }

    /// <summary>Whether <paramref name="inner"/> lies wholly inside <paramref name="outer"/> (checked arithmetic).</summary>
    public static bool Within(uint inner, int innerPrefix, uint outer, int outerPrefix)
    {
        var (innerFirst, innerLast) = Bounds(inner, innerPrefix);
        var (outerFirst, outerLast) = Bounds(outer, outerPrefix);
        return innerPrefix >= outerPrefix && innerFirst >= outerFirst && innerLast <= outerLast;
    }

    private static bool Contains(uint network, int prefix, uint address)
    {
        var (first, last) = Bounds(network, prefix);
        return address >= first && address <= last;
    }
}
