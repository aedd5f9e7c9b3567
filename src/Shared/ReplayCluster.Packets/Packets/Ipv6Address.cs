using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace ReplayCluster.Packets;

/// <summary>
/// An IPv6 address as a 16-byte value: two <see cref="ulong"/> halves in host numeric order (2001:db8::1 has
/// <see cref="Upper"/> 0x20010DB800000000 and <see cref="Lower"/> 1), the IPv6 counterpart of the host-order
/// <see cref="uint"/> the IPv4 path uses. Compares, masks and hashes without allocating, so it can sit in a packet
/// struct, a dictionary key or a prefix; text goes through RFC 4291 parsing and RFC 5952 formatting.
/// </summary>
/// <remarks>
/// Two <see cref="ulong"/> fields rather than one <see cref="UInt128"/>: UInt128 is 16-byte aligned since .NET 8, which
/// would pad every struct holding an address; <see cref="Value"/> converts for prefix arithmetic.
/// </remarks>
public readonly struct Ipv6Address : IEquatable<Ipv6Address>, IComparable<Ipv6Address>
{
    /// <summary>Bytes of an address on the wire.</summary>
    public const int Length = 16;

    /// <summary>Longest text <see cref="TryParse"/> accepts: eight groups with an embedded IPv4 tail (45 characters).</summary>
    public const int MaxTextLength = 45;

    /// <summary>Longest text <see cref="TryFormat"/> writes (eight 4-digit groups and 7 colons).</summary>
    public const int MaxFormattedLength = 39;

    public Ipv6Address(ulong upper, ulong lower)
    {
        Upper = upper;
        Lower = lower;
    }

    /// <summary>The unspecified address, <c>::</c>.</summary>
    public static Ipv6Address Any => default;

    /// <summary>The loopback address, <c>::1</c>.</summary>
    public static Ipv6Address Loopback => new(0, 1);

    /// <summary>Bits 0-63 (the first 8 bytes on the wire: the routing prefix and subnet of a /64).</summary>
    public ulong Upper { get; }

    /// <summary>Bits 64-127 (the last 8 bytes on the wire: the interface identifier of a /64).</summary>
    public ulong Lower { get; }

    /// <summary>The address as one 128-bit number, for prefix arithmetic.</summary>
    public UInt128 Value => new(Upper, Lower);

    /// <summary>True for an IPv4-mapped address (<c>::ffff:0:0/96</c>).</summary>
    public bool IsIpv4Mapped => Upper == 0 && Lower >> 32 == 0xFFFF;

    public static Ipv6Address FromValue(UInt128 value) => new((ulong)(value >> 64), (ulong)value);

    /// <summary>The IPv4-mapped form <c>::ffff:a.b.c.d</c> of a host-order IPv4 address.</summary>
    public static Ipv6Address MapFromIpv4(uint ipv4) => new(0, 0xFFFF_0000_0000UL | ipv4);

    /// <summary>Reads an address in network order from the first 16 bytes of <paramref name="source"/>.</summary>
    public static Ipv6Address Read(ReadOnlySpan<byte> source) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(source), BinaryPrimitives.ReadUInt64BigEndian(source[8..]));

    /// <summary>Writes the address in network order to the first 16 bytes of <paramref name="destination"/>.</summary>
    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, Upper);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Lower);
    }

    /// <summary>The 16-bit group at <paramref name="index"/> (0-7, left to right as written).</summary>
    public ushort GetGroup(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)index, 7u, nameof(index));
        var half = index < 4 ? Upper : Lower;
        return (ushort)(half >> ((3 - (index & 3)) * 16));
    }

    /// <summary>Converts an <see cref="IPAddress"/> of the IPv6 family (scope ids are not kept).</summary>
    /// <exception cref="ArgumentException">The address is IPv4.</exception>
    public static Ipv6Address FromIPAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            throw new ArgumentException($"'{address}' is not an IPv6 address.", nameof(address));
        }

        Span<byte> bytes = stackalloc byte[Length];
        address.TryWriteBytes(bytes, out _);
        return Read(bytes);
    }

    /// <summary>Converts to an <see cref="IPAddress"/> (allocates; not for the hot path).</summary>
    public IPAddress ToIPAddress()
    {
        Span<byte> bytes = stackalloc byte[Length];
        Write(bytes);
        return new IPAddress(bytes);
    }

    /// <summary>Parses RFC 4291 text (<c>2001:db8::1</c>, <c>::ffff:192.0.2.1</c>, any letter case).</summary>
    /// <exception cref="FormatException">Not an IPv6 address; zone ids (<c>%eth0</c>) and brackets are refused.</exception>
    public static Ipv6Address Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text, out var address) ? address : throw new FormatException($"'{text}' is not an IPv6 address.");
    }

    /// <summary>
    /// Parses the text forms of RFC 4291 section 2.2: eight groups of 1-4 hex digits, at most one <c>::</c> standing
    /// for one or more zero groups, and an optional dotted IPv4 tail for the last 32 bits. Strict: no zone id, no
    /// brackets, no prefix length, no leading zeros in the IPv4 tail (they read as octal elsewhere). Never throws.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<char> text, out Ipv6Address address)
    {
        address = default;
        if (text.Length is < 2 or > MaxTextLength)
        {
            return false;
        }

        Span<ushort> groups = stackalloc ushort[8];
        var count = 0;
        var gap = -1;
        var i = 0;
        if (text[0] == ':')
        {
            if (text[1] != ':')
            {
                return false;
            }

            gap = 0;
            i = 2;
        }

        while (i < text.Length)
        {
            var end = i;
            var dotted = false;
            while (end < text.Length && text[end] != ':')
            {
                dotted |= text[end] == '.';
                end++;
            }

            var token = text[i..end];
            if (dotted)
            {
                // The IPv4 tail ends the text and fills the last two groups.
                if (end != text.Length || count > 6 || !TryParseDottedQuad(token, out var ipv4))
                {
                    return false;
                }

                groups[count++] = (ushort)(ipv4 >> 16);
                groups[count++] = (ushort)ipv4;
                break;
            }

            if (count == 8 || !TryParseGroup(token, out groups[count]))
            {
                return false;
            }

            count++;
            i = end;
            if (i == text.Length)
            {
                break;
            }

            i++; // the colon
            if (i == text.Length)
            {
                return false; // a single trailing colon
            }

            if (text[i] == ':')
            {
                if (gap >= 0)
                {
                    return false; // a second "::"
                }

                gap = count;
                i++;
            }
        }

        if (gap < 0 ? count != 8 : count > 7)
        {
            return false; // too few groups, or a "::" that stands for nothing
        }

        Span<ushort> full = stackalloc ushort[8];
        full.Clear();
        if (gap < 0)
        {
            groups.CopyTo(full);
        }
        else
        {
            groups[..gap].CopyTo(full);
            groups[gap..count].CopyTo(full[(8 - (count - gap))..]);
        }

        address = new Ipv6Address(Combine(full[..4]), Combine(full[4..]));
        return true;
    }

    /// <summary>
    /// Writes the RFC 5952 canonical text: lower-case hex without leading zeros, the longest run of two or more zero
    /// groups (the first of equal runs) as <c>::</c>, and IPv4-mapped addresses as <c>::ffff:a.b.c.d</c> (section 5).
    /// </summary>
    public bool TryFormat(Span<char> destination, out int charsWritten)
    {
        charsWritten = 0;
        Span<char> text = stackalloc char[MaxFormattedLength];
        var length = 0;
        if (IsIpv4Mapped)
        {
            "::ffff:".CopyTo(text);
            length = 7;
            var ipv4 = (uint)Lower;
            for (var shift = 24; shift >= 0; shift -= 8)
            {
                ((byte)(ipv4 >> shift)).TryFormat(text[length..], out var written, default, System.Globalization.CultureInfo.InvariantCulture);
                length += written;
                if (shift > 0)
                {
                    text[length++] = '.';
                }
            }
        }
        else
        {
            // The longest run of zero groups, at least two long; ties go to the first (RFC 5952 section 4.2.3).
            int bestStart = -1, bestLength = 1;
            for (var g = 0; g < 8;)
            {
                if (GetGroup(g) != 0)
                {
                    g++;
                    continue;
                }

                var start = g;
                while (g < 8 && GetGroup(g) == 0)
                {
                    g++;
                }

                if (g - start > bestLength)
                {
                    (bestStart, bestLength) = (start, g - start);
                }
            }

            for (var g = 0; g < 8; g++)
            {
                if (g == bestStart)
                {
                    text[length++] = ':';
                    text[length++] = ':';
                    g += bestLength - 1;
                    continue;
                }

                if (g > 0 && text[length - 1] != ':')
                {
                    text[length++] = ':';
                }

                GetGroup(g).TryFormat(text[length..], out var written, "x", System.Globalization.CultureInfo.InvariantCulture);
                length += written;
            }
        }

        if (destination.Length < length)
        {
            return false;
        }

        text[..length].CopyTo(destination);
        charsWritten = length;
        return true;
    }

    /// <summary>The RFC 5952 text (allocates; see <see cref="TryFormat"/>).</summary>
    public override string ToString()
    {
        Span<char> text = stackalloc char[MaxFormattedLength];
        TryFormat(text, out var length);
        return new string(text[..length]);
    }

    public bool Equals(Ipv6Address other) => Upper == other.Upper && Lower == other.Lower;

    public override bool Equals(object? obj) => obj is Ipv6Address other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(Upper, Lower);

    public int CompareTo(Ipv6Address other) => Upper != other.Upper ? Upper.CompareTo(other.Upper) : Lower.CompareTo(other.Lower);

    public static bool operator ==(Ipv6Address left, Ipv6Address right) => left.Equals(right);

    public static bool operator !=(Ipv6Address left, Ipv6Address right) => !left.Equals(right);

    public static bool operator <(Ipv6Address left, Ipv6Address right) => left.CompareTo(right) < 0;

    public static bool operator <=(Ipv6Address left, Ipv6Address right) => left.CompareTo(right) <= 0;

    public static bool operator >(Ipv6Address left, Ipv6Address right) => left.CompareTo(right) > 0;

    public static bool operator >=(Ipv6Address left, Ipv6Address right) => left.CompareTo(right) >= 0;

    /// <summary>One's-complement sum of the eight 16-bit groups, unfolded (at most 8 * 0xFFFF): the pseudo-header's share.</summary>
    internal uint SumOfGroups() =>
        (uint)((Upper >> 48) + ((Upper >> 32) & 0xFFFF) + ((Upper >> 16) & 0xFFFF) + (Upper & 0xFFFF)
            + (Lower >> 48) + ((Lower >> 32) & 0xFFFF) + ((Lower >> 16) & 0xFFFF) + (Lower & 0xFFFF));

    private static ulong Combine(ReadOnlySpan<ushort> four) =>
        ((ulong)four[0] << 48) | ((ulong)four[1] << 32) | ((ulong)four[2] << 16) | four[3];

    private static bool TryParseGroup(ReadOnlySpan<char> token, out ushort group)
    {
        group = 0;
        if (token.Length is 0 or > 4)
        {
            return false;
        }

        var value = 0;
        foreach (var c in token)
        {
            var digit = c switch
            {
                >= '0' and <= '9' => c - '0',
                >= 'a' and <= 'f' => c - 'a' + 10,
                >= 'A' and <= 'F' => c - 'A' + 10,
                _ => -1,
            };
            if (digit < 0)
            {
                return false;
            }

            value = (value << 4) | digit;
        }

        group = (ushort)value;
        return true;
    }

    private static bool TryParseDottedQuad(ReadOnlySpan<char> token, out uint address)
    {
        address = 0;
        var parts = 0;
        var i = 0;
        while (parts < 4)
        {
            var start = i;
            var value = 0;
            while (i < token.Length && token[i] is >= '0' and <= '9' && i - start < 3)
            {
                value = (value * 10) + (token[i] - '0');
                i++;
            }

            var digits = i - start;
            if (digits == 0 || value > 255 || (digits > 1 && token[start] == '0'))
            {
                return false;
            }

            address = (address << 8) | (uint)value;
            parts++;
            if (parts < 4)
            {
                if (i >= token.Length || token[i] != '.')
                {
                    return false;
                }

                i++;
            }
        }

        return i == token.Length;
    }
}
