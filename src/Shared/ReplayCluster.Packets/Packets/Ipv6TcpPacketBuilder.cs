using System.Buffers.Binary;

namespace ReplayCluster.Packets;

/// <summary>
/// Writes complete IPv6+TCP packets (no link header, no extension headers; ready for a raw IPv6 socket with
/// <c>IPV6_HDRINCL</c>) into caller-provided buffers, with the TCP checksum over the IPv6 pseudo-header. The IPv6
/// counterpart of <see cref="TcpPacketBuilder"/>, and like it allocation-free.
/// </summary>
/// <remarks>
/// The TCP part comes from the same <see cref="TcpSegmentSpec"/> the IPv4 builder takes, so a session builds its
/// segments one way whatever its family; the IPv6 addresses come separately (the spec's <see cref="uint"/> addresses
/// are IPv4 only, and widening the spec would grow every IPv4 segment built). Of the spec's IP fields,
/// <see cref="TcpSegmentSpec.Ttl"/> is the hop limit and <see cref="TcpSegmentSpec.Tos"/> the traffic class;
/// <see cref="TcpSegmentSpec.IpId"/> and <see cref="TcpSegmentSpec.DontFragment"/> have no IPv6 field and are not used
/// (IPv6 routers never fragment: a sender keeps to the path MTU itself).
/// </remarks>
public static class Ipv6TcpPacketBuilder
{
    /// <summary>Largest IPv6 packet without a jumbo payload option: the 40-byte header plus a 16-bit payload length.</summary>
    public const int MaxPacketLength = Ipv6TcpPacket.FixedHeaderLength + ushort.MaxValue;

    private const int TcpFixedHeaderLength = 20;

    /// <summary>Bytes <see cref="Write"/> needs for this spec and payload length.</summary>
    public static int GetPacketLength(in TcpSegmentSpec spec, int payloadLength) =>
        Ipv6TcpPacket.FixedHeaderLength + TcpFixedHeaderLength + spec.OptionsLength + payloadLength;

    /// <summary>
    /// Writes the packet from <paramref name="sourceAddress"/> to <paramref name="destinationAddress"/> for
    /// <paramref name="spec"/> carrying <paramref name="payload"/> at the start of <paramref name="buffer"/> and
    /// returns its length. Options are written as <see cref="TcpPacketBuilder.Write"/> writes them.
    /// </summary>
    /// <remarks>The flow label (RFC 6437) is the low 20 bits of <paramref name="flowLabel"/>; 0 for none.</remarks>
    /// <exception cref="ArgumentException">
    /// <paramref name="buffer"/> is shorter than <see cref="GetPacketLength"/>, or the TCP segment would exceed the
    /// 65535-byte payload length. Sizing mistakes by the caller, hence exceptions.
    /// </exception>
    public static int Write(in TcpSegmentSpec spec, in Ipv6Address sourceAddress, in Ipv6Address destinationAddress, ReadOnlySpan<byte> payload, Span<byte> buffer, uint flowLabel = 0)
    {
        var tcpHeaderLength = TcpFixedHeaderLength + spec.OptionsLength;
        var segmentLength = tcpHeaderLength + payload.Length;
        if (segmentLength > ushort.MaxValue)
        {
            throw new ArgumentException($"A {payload.Length}-byte payload makes a {segmentLength}-byte TCP segment; the IPv6 payload length allows {ushort.MaxValue}.", nameof(payload));
        }

        var totalLength = Ipv6TcpPacket.FixedHeaderLength + segmentLength;
        if (buffer.Length < totalLength)
        {
            throw new ArgumentException($"The buffer holds {buffer.Length} bytes; the packet needs {totalLength}.", nameof(buffer));
        }

        var ip = buffer[..Ipv6TcpPacket.FixedHeaderLength];
        BinaryPrimitives.WriteUInt32BigEndian(ip, (6u << 28) | ((uint)spec.Tos << 20) | (flowLabel & 0xF_FFFF));
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], (ushort)segmentLength);
        ip[6] = 6; // next header: TCP, no extension headers
        ip[7] = spec.Ttl;
        sourceAddress.Write(ip[8..]);
        destinationAddress.Write(ip[24..]);

        var tcp = buffer.Slice(Ipv6TcpPacket.FixedHeaderLength, segmentLength);
        TcpPacketBuilder.WriteSegment(spec, tcp, tcpHeaderLength, payload);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], Checksum.Tcp(sourceAddress, destinationAddress, tcp));
        return totalLength;
    }
}
