using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace ReplayCluster.Packets;

/// <summary>
/// The Internet checksum (RFC 1071): one's-complement sum of 16-bit big-endian words, complemented. Used for the
/// IPv4 header and, with the pseudo-header, for TCP over IPv4 and IPv6.
/// </summary>
/// <remarks>
/// Speed: the one's-complement sum does not depend on byte order (RFC 1071 section 2B), so we add the data as
/// native-endian 32-bit halves of 64-bit reads into a 64-bit accumulator and swap once at the end. A 32-bit value
/// added 2^32 times cannot overflow 64 bits, and a span is shorter than 2^31 bytes, so carries are folded only once,
/// at the end, instead of per word.
/// </remarks>
internal static class Checksum
{
    private const uint ProtocolTcp = 6;

    /// <summary>
    /// One's-complement sum of <paramref name="data"/> as big-endian 16-bit words (an odd last byte is padded with a
    /// zero byte), folded to 16 bits but not complemented. RFC 1071's example 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
    /// </summary>
    public static ushort Sum(ReadOnlySpan<byte> data) => ToNetworkValue(FoldNative(Accumulate(data, 0)));

    /// <summary>
    /// The checksum to store in an IPv4 header: computed over <paramref name="header"/> (IHL*4 bytes) as if its checksum
    /// field (bytes 10-11) were zero, so the current field content does not matter.
    /// </summary>
    public static ushort IpHeader(ReadOnlySpan<byte> header)
    {
        // Bytes 10-11 are skipped by summing around them; both parts start at an even offset, so they add up in the
        // same (native) byte order.
        var sum = Accumulate(header[..10], Accumulate(header[12..], 0));
        return (ushort)~ToNetworkValue(FoldNative(sum));
    }

    /// <summary>
    /// The checksum to store in a TCP header: over the pseudo-header (addresses in host numeric order, protocol 6,
    /// segment length) and the whole TCP <paramref name="segment"/> (header + payload), treating the checksum field
    /// (bytes 16-17) as zero.
    /// </summary>
    public static ushort Tcp(uint sourceAddress, uint destinationAddress, ReadOnlySpan<byte> segment)
    {
        var data = ToNetworkValue(FoldNative(Accumulate(segment[..16], Accumulate(segment[18..], 0))));
        return (ushort)~Fold(data + PseudoHeaderSum(sourceAddress, destinationAddress, segment.Length));
    }

    /// <summary>True when the checksum stored in an IPv4 <paramref name="header"/> is correct.</summary>
    public static bool VerifyIp(ReadOnlySpan<byte> header) => FoldNative(Accumulate(header, 0)) == 0xFFFF;

    /// <summary>True when the checksum stored in the TCP <paramref name="segment"/> is correct for these addresses.</summary>
    public static bool VerifyTcp(uint sourceAddress, uint destinationAddress, ReadOnlySpan<byte> segment)
    {
        var data = ToNetworkValue(FoldNative(Accumulate(segment, 0)));
        return Fold(data + PseudoHeaderSum(sourceAddress, destinationAddress, segment.Length)) == 0xFFFF;
    }

    /// <summary>
    /// Incremental update (RFC 1624 eqn. 3): the new checksum after one 16-bit word covered by
    /// <paramref name="checksum"/> changed from <paramref name="oldValue"/> to <paramref name="newValue"/>. Only
    /// correct when the old checksum was; captured packets with offloaded checksums need a full recompute instead.
    /// </summary>
    public static ushort Update(ushort checksum, ushort oldValue, ushort newValue) =>
        (ushort)~Fold((uint)(ushort)~checksum + (ushort)~oldValue + newValue);

    /// <summary>Incremental update for a changed 32-bit field (an address, a sequence number): both halves.</summary>
    public static ushort Update(ushort checksum, uint oldValue, uint newValue) =>
        (ushort)~Fold((uint)(ushort)~checksum + (ushort)~(oldValue >> 16) + (ushort)~oldValue + (newValue >> 16) + (newValue & 0xFFFF));

    /// <summary>
    /// The checksum to store in a TCP header carried by IPv6: over the RFC 8200 section 8.1 pseudo-header (source and
    /// destination address, 32-bit upper-layer length, next header 6) and the whole TCP <paramref name="segment"/>,
    /// treating the checksum field (bytes 16-17) as zero. With a routing header, <paramref name="destinationAddress"/>
    /// is the final destination.
    /// </summary>
    public static ushort Tcp(in Ipv6Address sourceAddress, in Ipv6Address destinationAddress, ReadOnlySpan<byte> segment)
    {
        var data = ToNetworkValue(FoldNative(Accumulate(segment[..16], Accumulate(segment[18..], 0))));
        return (ushort)~Fold(data + PseudoHeaderSum(sourceAddress, destinationAddress, segment.Length));
    }

    /// <summary>True when the checksum stored in the TCP <paramref name="segment"/> is correct for these IPv6 addresses.</summary>
    public static bool VerifyTcp(in Ipv6Address sourceAddress, in Ipv6Address destinationAddress, ReadOnlySpan<byte> segment)
    {
        var data = ToNetworkValue(FoldNative(Accumulate(segment, 0)));
        return Fold(data + PseudoHeaderSum(sourceAddress, destinationAddress, segment.Length)) == 0xFFFF;
    }

    /// <summary>
    /// Incremental update (RFC 1624 eqn. 3) for a changed IPv6 address (eight 16-bit words at once, e.g. a source
    /// rewritten to a fake client). Only correct when the old checksum was.
    /// </summary>
    public static ushort Update(ushort checksum, in Ipv6Address oldValue, in Ipv6Address newValue) =>
        (ushort)~Fold((uint)(ushort)~checksum + (ushort)~Fold(oldValue.SumOfGroups()) + newValue.SumOfGroups());

    private static uint PseudoHeaderSum(uint source, uint destination, int segmentLength) =>
        (source >> 16) + (source & 0xFFFF) + (destination >> 16) + (destination & 0xFFFF) + ProtocolTcp + (uint)segmentLength;

    // At most 16 * 0xFFFF for the addresses plus 2 * 0xFFFF for the length plus 6: far from overflowing 32 bits.
    private static uint PseudoHeaderSum(in Ipv6Address source, in Ipv6Address destination, int segmentLength) =>
        source.SumOfGroups() + destination.SumOfGroups() + ((uint)segmentLength >> 16) + ((uint)segmentLength & 0xFFFF) + ProtocolTcp;

    /// <summary>Adds <paramref name="data"/> to <paramref name="sum"/> in native byte order, unfolded.</summary>
    private static ulong Accumulate(ReadOnlySpan<byte> data, ulong sum)
    {
        // Two accumulators let the CPU overlap the additions of neighbouring words.
        ulong sum1 = 0;
        var words = MemoryMarshal.Cast<byte, ulong>(data);
        var i = 0;
        for (; i + 1 < words.Length; i += 2)
        {
            var a = words[i];
            var b = words[i + 1];
            sum += (a & 0xFFFFFFFF) + (a >> 32);
            sum1 += (b & 0xFFFFFFFF) + (b >> 32);
        }

        if (i < words.Length)
        {
            var a = words[i];
            sum += (a & 0xFFFFFFFF) + (a >> 32);
        }

        sum += sum1;
        var tail = data[(words.Length * 8)..];
        if (tail.Length >= 4)
        {
            sum += MemoryMarshal.Read<uint>(tail);
            tail = tail[4..];
        }

        if (tail.Length >= 2)
        {
            sum += MemoryMarshal.Read<ushort>(tail);
            tail = tail[2..];
        }

        if (tail.Length == 1)
        {
            // An odd last byte is the high half of a zero-padded big-endian word: low byte in little-endian order.
            sum += BitConverter.IsLittleEndian ? tail[0] : (ulong)tail[0] << 8;
        }

        return sum;
    }

    private static ushort FoldNative(ulong sum)
    {
        sum = (sum & 0xFFFFFFFF) + (sum >> 32);
        sum = (sum & 0xFFFFFFFF) + (sum >> 32);
        return Fold((uint)sum);
    }

    private static ushort Fold(uint sum)
    {
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)sum;
    }

    private static ushort ToNetworkValue(ushort nativeSum) =>
        BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(nativeSum) : nativeSum;
}
