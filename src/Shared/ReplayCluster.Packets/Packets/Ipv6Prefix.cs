using System.Globalization;

namespace ReplayCluster.Packets;

/// <summary>
/// An IPv6 prefix (<c>2001:db8:abcd::/48</c>): a network address with no host bits set and a length of 0-128. Pure
/// value logic for identity ranges: containment, and slicing a prefix into equal sub-prefixes (a /48 into 65536 /64s,
/// one or more per capture node), then addresses inside a slice.
/// </summary>
public readonly struct Ipv6Prefix : IEquatable<Ipv6Prefix>
{
    /// <summary>Creates a prefix; <paramref name="network"/> must have no bits set past <paramref name="length"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is not 0-128.</exception>
    /// <exception cref="ArgumentException">The address has host bits set (a typo that would widen or shift the range).</exception>
    public Ipv6Prefix(Ipv6Address network, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, 128);
        if ((network.Value & ~Mask(length)) != 0)
        {
            throw new ArgumentException($"{network}/{length} has host bits set; the network of that prefix is {Ipv6Address.FromValue(network.Value & Mask(length))}/{length}.", nameof(network));
        }

        Network = network;
        Length = length;
    }

    /// <summary>The first address of the prefix (all host bits zero).</summary>
    public Ipv6Address Network { get; }

    /// <summary>Prefix length in bits, 0-128.</summary>
    public int Length { get; }

    /// <summary>The last address of the prefix (all host bits one).</summary>
    public Ipv6Address LastAddress => Ipv6Address.FromValue(Network.Value | ~Mask(Length));

    /// <summary>Parses <c>address/length</c> (RFC 4291 section 2.3); the address must have no host bits set.</summary>
    /// <exception cref="FormatException">Not a prefix, or host bits set.</exception>
    public static Ipv6Prefix Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text, out var prefix) ? prefix : throw new FormatException($"'{text}' is not an IPv6 prefix (address/length with no host bits set, e.g. 2001:db8:abcd::/48).");
    }

    /// <summary>Parses <c>address/length</c>; false for bad text, a length outside 0-128 or host bits set. Never throws.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out Ipv6Prefix prefix)
    {
        prefix = default;
        var slash = text.IndexOf('/');
        if (slash < 0 || !Ipv6Address.TryParse(text[..slash], out var network))
        {
            return false;
        }

        var lengthText = text[(slash + 1)..];
        if (lengthText.Length is 0 or > 3 || (lengthText.Length > 1 && lengthText[0] == '0')
            || !int.TryParse(lengthText, NumberStyles.None, CultureInfo.InvariantCulture, out var length) || length > 128
            || (network.Value & ~Mask(length)) != 0)
        {
            return false;
        }

        prefix = new Ipv6Prefix(network, length);
        return true;
    }

    /// <summary>True when <paramref name="address"/> lies inside this prefix.</summary>
    public bool Contains(Ipv6Address address) => (address.Value & Mask(Length)) == Network.Value;

    /// <summary>True when all of <paramref name="other"/> lies inside this prefix (a prefix contains itself).</summary>
    public bool Contains(Ipv6Prefix other) => other.Length >= Length && Contains(other.Network);

    /// <summary>True when the two prefixes share any address (then one contains the other).</summary>
    public bool Overlaps(Ipv6Prefix other) => Contains(other) || other.Contains(this);

    /// <summary>
    /// How many /<paramref name="sliceLength"/> prefixes this prefix holds: 2^(sliceLength - Length). A /48 holds
    /// 65536 /64s.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">
    /// <paramref name="sliceLength"/> is shorter than <see cref="Length"/>, longer than 128, or 128 more than it (2^128
    /// does not fit the result).
    /// </exception>
    public UInt128 GetSliceCount(int sliceLength)
    {
        ValidateSliceLength(sliceLength);
        return UInt128.One << (sliceLength - Length);
    }

    /// <summary>
    /// The <paramref name="index"/>-th /<paramref name="sliceLength"/> inside this prefix, counting from its network:
    /// for 2001:db8:abcd::/48, slice 0 of /64 is 2001:db8:abcd::/64 and slice 0xffff is 2001:db8:abcd:ffff::/64.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A bad slice length, or <paramref name="index"/> ≥ <see cref="GetSliceCount"/>.</exception>
    public Ipv6Prefix GetSlice(int sliceLength, UInt128 index)
    {
        var count = GetSliceCount(sliceLength);
        if (index >= count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{this} holds {count} /{sliceLength} slices.");
        }

        // The index fills the bits between the two lengths; a /128 slice is a single address (shift by 0).
        return new Ipv6Prefix(Ipv6Address.FromValue(Network.Value | (index << (128 - sliceLength))), sliceLength);
    }

    /// <summary>The address <paramref name="offset"/> places past <see cref="Network"/> (0 is the network itself).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The offset leaves the prefix.</exception>
    public Ipv6Address GetAddress(UInt128 offset)
    {
        if (Length > 0 && offset > ~Mask(Length))
        {
            throw new ArgumentOutOfRangeException(nameof(offset), offset, $"{this} holds 2^{128 - Length} addresses.");
        }

        return Ipv6Address.FromValue(Network.Value + offset);
    }

    /// <summary>The RFC 5952 text of the network, a slash and the length (<c>2001:db8:abcd::/48</c>).</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Network}/{Length}");

    public bool Equals(Ipv6Prefix other) => Network == other.Network && Length == other.Length;

    public override bool Equals(object? obj) => obj is Ipv6Prefix other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(Network, Length);

    public static bool operator ==(Ipv6Prefix left, Ipv6Prefix right) => left.Equals(right);

    public static bool operator !=(Ipv6Prefix left, Ipv6Prefix right) => !left.Equals(right);

    /// <summary>The network mask of a prefix length: <paramref name="length"/> one bits from the top.</summary>
    /// <summary>The netmask of a prefix of <paramref name="length"/> bits (0-128) as a 128-bit number.</summary>
    public static UInt128 Mask(int length) =>
        // UInt128 shifts count modulo 128, so /0 (a shift by 128) needs its own case.
        length == 0 ? UInt128.Zero : UInt128.MaxValue << (128 - length);

    private void ValidateSliceLength(int sliceLength)
    {
        if (sliceLength < Length || sliceLength > 128 || sliceLength - Length >= 128)
        {
            throw new ArgumentOutOfRangeException(nameof(sliceLength), sliceLength, $"A slice of {this} must be between /{Length} and /128 (and /0 cannot be cut into /128s: 2^128 slices).");
        }
    }
}
