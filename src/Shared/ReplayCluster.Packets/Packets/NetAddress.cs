using System.Net;
using System.Net.Sockets;

namespace ReplayCluster.Packets;

/// <summary>
/// An IPv4 or IPv6 address as one 16-byte value, the address of a session's endpoints, reply records and routes
/// whatever their family. IPv4 is held in its IPv4-mapped form <c>::ffff:a.b.c.d</c> (RFC 4291 section 2.5.5.2), so
/// one type, one comparison and one hash serve both families and a dictionary of sessions needs no second table.
/// </summary>
/// <remarks>
/// <para>
/// A <see cref="uint"/> converts implicitly: everywhere in this code base a <see cref="uint"/> address is IPv4 in host
/// order (10.0.0.1 = 0x0A000001), which is what the packet layer parses and builds. <see cref="Ipv4"/> converts back
/// and refuses an IPv6 address, so an IPv4-only path cannot silently truncate one.
/// </para>
/// <para>
/// <see cref="Unspecified"/> (<c>::</c>, the default value) stands for "no address" or "any address" where a
/// <see cref="uint"/> 0 used to: it is neither an IPv4 address nor one a packet carries as a source or destination.
/// </para>
/// </remarks>
public readonly struct NetAddress : IEquatable<NetAddress>, IComparable<NetAddress>
{
    /// <summary>Bytes of the wire form (<see cref="Write"/>): the 16-byte IPv6 form of either family.</summary>
    public const int Length = Ipv6Address.Length;

    private const ulong MappedPrefix = 0xFFFF_0000_0000UL;

    private readonly Ipv6Address _value;

    private NetAddress(Ipv6Address value) => _value = value;

    /// <summary><c>::</c>: no address, or any address where a rule says so.</summary>
    public static NetAddress Unspecified => default;

    /// <summary>True for <see cref="Unspecified"/>.</summary>
    public bool IsUnspecified => _value.Upper == 0 && _value.Lower == 0;

    /// <summary>True for an IPv4 address (held IPv4-mapped).</summary>
    public bool IsIpv4 => _value.IsIpv4Mapped;

    /// <summary>True for an IPv6 address (anything but IPv4 and <see cref="Unspecified"/>).</summary>
    public bool IsIpv6 => !IsIpv4 && !IsUnspecified;

    /// <summary>The family of the address; <see cref="AddressFamily.Unspecified"/> for <see cref="Unspecified"/>.</summary>
    public AddressFamily Family => IsIpv4 ? AddressFamily.InterNetwork : IsUnspecified ? AddressFamily.Unspecified : AddressFamily.InterNetworkV6;

    /// <summary>The IPv4 address in host order.</summary>
    /// <exception cref="InvalidOperationException">The address is not IPv4.</exception>
    public uint Ipv4 => IsIpv4 ? (uint)_value.Lower : throw new InvalidOperationException($"{this} is not an IPv4 address.");

    /// <summary>The 16-byte form: the IPv6 address itself, or the IPv4-mapped form of an IPv4 address.</summary>
    public Ipv6Address Ipv6 => _value;

    /// <summary>
    /// 64 bits of the address for hashing: an IPv4 address's own 32 bits (so what hashed a <see cref="uint"/> address
    /// hashes an IPv4 one to the same value: sampling and shard choices stay as they were), the two halves of an IPv6
    /// address combined.
    /// </summary>
    public ulong HashKey => IsIpv4 ? (uint)_value.Lower : _value.Upper ^ (_value.Lower * 0x9E3779B97F4A7C15UL);

    /// <summary>An IPv4 address given in host order.</summary>
    public static NetAddress FromIpv4(uint address) => new(new Ipv6Address(0, MappedPrefix | address));

    /// <summary>An IPv6 address; an IPv4-mapped one is the IPv4 address it maps.</summary>
    public static NetAddress FromIpv6(Ipv6Address address) => new(address);

    /// <summary>An IPv4 address in host order (see the remarks).</summary>
    public static implicit operator NetAddress(uint ipv4) => FromIpv4(ipv4);

    /// <summary>An IPv6 address.</summary>
    public static implicit operator NetAddress(Ipv6Address ipv6) => FromIpv6(ipv6);

    /// <summary>Converts an <see cref="IPAddress"/> of either family (an IPv4-mapped IPv6 one is IPv4; scope ids are not kept).</summary>
    public static NetAddress FromIPAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return address.AddressFamily == AddressFamily.InterNetwork
            ? FromIpv4(Ipv4Address.FromIPAddress(address))
            : FromIpv6(Ipv6Address.FromIPAddress(address));
    }

    /// <summary>Converts to an <see cref="IPAddress"/> of the address's own family (allocates; not for the hot path).</summary>
    public IPAddress ToIPAddress() => IsIpv4 ? Ipv4Address.ToIPAddress(Ipv4) : _value.ToIPAddress();

    /// <summary>Parses dotted-quad IPv4 or RFC 4291 IPv6 text (no brackets, zone ids or prefix lengths).</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out NetAddress address)
    {
        if (text.Contains(':'))
        {
            var parsed = Ipv6Address.TryParse(text, out var ipv6);
            address = parsed ? FromIpv6(ipv6) : default;
            return parsed;
        }

        // IPAddress.TryParse reads "10" or "10.1" as IPv4 too; only the four-part dotted quad is an address here.
        if (text.Count('.') == 3 && IPAddress.TryParse(text, out var ipv4) && ipv4.AddressFamily == AddressFamily.InterNetwork)
        {
            address = FromIpv4(Ipv4Address.FromIPAddress(ipv4));
            return true;
        }

        address = default;
        return false;
    }

    /// <summary>Parses what <see cref="TryParse"/> reads.</summary>
    /// <exception cref="FormatException">Neither an IPv4 nor an IPv6 address.</exception>
    public static NetAddress Parse(string text) =>
        TryParse(text, out var address) ? address : throw new FormatException($"'{text}' is not an IPv4 or IPv6 address.");

    /// <summary>Reads the 16-byte wire form <see cref="Write"/> wrote.</summary>
    public static NetAddress Read(ReadOnlySpan<byte> source) => new(Ipv6Address.Read(source));

    /// <summary>Writes the 16-byte wire form (network order; IPv4 IPv4-mapped).</summary>
    public void Write(Span<byte> destination) => _value.Write(destination);

    /// <summary>Dotted quad for IPv4, RFC 5952 text for IPv6.</summary>
    public override string ToString() => IsIpv4 ? Ipv4Address.Format(Ipv4) : _value.ToString();

    /// <summary>The address as it stands in an endpoint's text: IPv6 in brackets (<c>[2001:db8::1]</c>), IPv4 as is.</summary>
    public string ToEndpointString() => IsIpv4 ? Ipv4Address.Format(Ipv4) : $"[{_value}]";

    public bool Equals(NetAddress other) => _value.Equals(other._value);

    public override bool Equals(object? obj) => obj is NetAddress other && Equals(other);

    // IPv4 addresses (the lower half carries the whole address) hash as cheaply as the uint did.
    public override int GetHashCode() => _value.Upper == 0 ? _value.Lower.GetHashCode() : _value.GetHashCode();

    /// <summary>Numeric order of the 16-byte form (IPv4, as <c>::ffff:0:0/96</c>, before global IPv6 addresses).</summary>
    public int CompareTo(NetAddress other) => _value.CompareTo(other._value);

    public static bool operator ==(NetAddress left, NetAddress right) => left.Equals(right);

    public static bool operator !=(NetAddress left, NetAddress right) => !left.Equals(right);
}
