using System.Buffers.Binary;

namespace ReplayCluster.Packets;

/// <summary>
/// In-place edits of a captured IPv6/TCP packet before sending it on, the IPv6 counterpart of
/// <see cref="TcpPacketRewriter"/>: new addresses and ports (toward the target, from a fake client), translated
/// acknowledgment numbers and timestamp echoes, window. Two ways to keep the TCP checksum right (IPv6 has no header
/// checksum): edit with the setters, then <see cref="FixChecksum(Span{byte}, in Ipv6TcpPacket)"/> once (a full
/// recompute: right whatever the captured checksum was, needs the whole payload); or
/// <see cref="RewriteEndpoints"/>, which adjusts the captured checksum by the change (RFC 1624: right only when the
/// captured checksum was, works on a payload the snaplen cut).
/// </summary>
/// <remarks>
/// Offsets come from the <see cref="Ipv6TcpPacket"/> passed in; its field values go stale as the frame is edited. The
/// addresses rewritten are those of the fixed header; the parser refuses packets whose routing header still has
/// segments left, so the header's destination is the one the checksum covers.
/// </remarks>
internal static class Ipv6TcpPacketRewriter
{
    private const int SourceAddressOffset = 8;
    private const int DestinationAddressOffset = 24;

    public static void SetSource(Span<byte> frame, in Ipv6TcpPacket packet, in Ipv6Address address, ushort port)
    {
        address.Write(frame[(packet.IpOffset + SourceAddressOffset)..]);
        BinaryPrimitives.WriteUInt16BigEndian(frame[packet.TcpOffset..], port);
    }

    public static void SetDestination(Span<byte> frame, in Ipv6TcpPacket packet, in Ipv6Address address, ushort port)
    {
        address.Write(frame[(packet.IpOffset + DestinationAddressOffset)..]);
        BinaryPrimitives.WriteUInt16BigEndian(frame[(packet.TcpOffset + 2)..], port);
    }

    public static void SetSequence(Span<byte> frame, in Ipv6TcpPacket packet, uint sequence) =>
        BinaryPrimitives.WriteUInt32BigEndian(frame[(packet.TcpOffset + 4)..], sequence);

    public static void SetAcknowledgment(Span<byte> frame, in Ipv6TcpPacket packet, uint acknowledgment) =>
        BinaryPrimitives.WriteUInt32BigEndian(frame[(packet.TcpOffset + 8)..], acknowledgment);

    public static void SetWindow(Span<byte> frame, in Ipv6TcpPacket packet, ushort window) =>
        BinaryPrimitives.WriteUInt16BigEndian(frame[(packet.TcpOffset + 14)..], window);

    public static void SetHopLimit(Span<byte> frame, in Ipv6TcpPacket packet, byte hopLimit) =>
        frame[packet.IpOffset + 7] = hopLimit;

    /// <summary>Writes TSecr when the packet has a timestamp option; returns false (and writes nothing) otherwise.</summary>
    public static bool TrySetTimestampEcr(Span<byte> frame, in Ipv6TcpPacket packet, uint tsEcr)
    {
        var offset = packet.Options.TimestampOffset;
        if (offset == 0)
        {
            return false;
        }

        BinaryPrimitives.WriteUInt32BigEndian(frame[(packet.TcpOffset + offset + 6)..], tsEcr);
        return true;
    }

    /// <summary>
    /// Rewrites both endpoints (address and port) and adjusts the TCP checksum by the difference, without reading the
    /// payload (RFC 1624 eqn. 3 over the sixteen address words and the two ports). For packets whose captured checksum
    /// is right: read from a file written elsewhere, or captured where no offload applies. A wrong checksum stays wrong.
    /// </summary>
    public static void RewriteEndpoints(Span<byte> frame, in Ipv6TcpPacket packet, in Ipv6Address source, ushort sourcePort, in Ipv6Address destination, ushort destinationPort)
    {
        var ip = frame[packet.IpOffset..];
        var tcp = frame[packet.TcpOffset..];
        var checksum = BinaryPrimitives.ReadUInt16BigEndian(tcp[16..]);
        checksum = Checksum.Update(checksum, Ipv6Address.Read(ip[SourceAddressOffset..]), source);
        checksum = Checksum.Update(checksum, Ipv6Address.Read(ip[DestinationAddressOffset..]), destination);
        checksum = Checksum.Update(checksum, BinaryPrimitives.ReadUInt16BigEndian(tcp), sourcePort);
        checksum = Checksum.Update(checksum, BinaryPrimitives.ReadUInt16BigEndian(tcp[2..]), destinationPort);
        SetSource(frame, packet, source, sourcePort);
        SetDestination(frame, packet, destination, destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], checksum);
    }

    /// <summary>
    /// Recomputes the TCP checksum of a parsed packet in <paramref name="frame"/> from its current addresses and
    /// bytes. Returns false, changing nothing, when the capture cut the payload: the checksum covers bytes we do not
    /// have.
    /// </summary>
    public static bool FixChecksum(Span<byte> frame, in Ipv6TcpPacket packet)
    {
        if (packet.Truncated)
        {
            return false;
        }

        FixChecksumCore(frame.Slice(packet.IpOffset, packet.TotalLength), packet.IpHeaderLength);
        return true;
    }

    /// <summary>
    /// Recomputes the TCP checksum of a raw IPv6 packet starting at <paramref name="ipPacket"/>[0]. Returns false,
    /// changing nothing, when the bytes are not a complete IPv6/TCP packet (never throws on bad input).
    /// </summary>
    public static bool FixChecksum(Span<byte> ipPacket)
    {
        if (PacketParser.TryParseIpv6Ip(ipPacket, out var packet) != ParseResult.Ok || packet.Truncated)
        {
            return false;
        }

        FixChecksumCore(ipPacket[..packet.TotalLength], packet.IpHeaderLength);
        return true;
    }

    private static void FixChecksumCore(Span<byte> ip, int ipHeaderLength)
    {
        var source = Ipv6Address.Read(ip[SourceAddressOffset..]);
        var destination = Ipv6Address.Read(ip[DestinationAddressOffset..]);
        var tcp = ip[ipHeaderLength..];
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], Checksum.Tcp(source, destination, tcp));
    }
}
