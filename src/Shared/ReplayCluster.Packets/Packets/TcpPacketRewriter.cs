using System.Buffers.Binary;

namespace ReplayCluster.Packets;

/// <summary>
/// In-place edits a replayer makes to a captured packet before sending it on: new addresses and ports, translated
/// acknowledgment numbers and timestamp echoes, window. The setters only write the field; call
/// <see cref="FixChecksums(Span{byte}, in TcpPacket)"/> once after the last edit.
/// </summary>
/// <remarks>
/// Why no incremental checksum updates (RFC 1624, <see cref="Checksum.Update(ushort, ushort, ushort)"/>): captured
/// packets usually carry offloaded, i.e. wrong, checksums, and an incremental update of a wrong checksum stays wrong.
/// A full recompute of a 1500-byte packet costs well under a microsecond (see bench/README.md).
/// The <see cref="TcpPacket"/> passed in supplies offsets only; its field values go stale as the frame is edited.
/// </remarks>
internal static class TcpPacketRewriter
{
    public static void SetSource(Span<byte> frame, in TcpPacket packet, uint address, ushort port)
    {
        BinaryPrimitives.WriteUInt32BigEndian(frame[(packet.IpOffset + 12)..], address);
        BinaryPrimitives.WriteUInt16BigEndian(frame[packet.TcpOffset..], port);
    }

    public static void SetDestination(Span<byte> frame, in TcpPacket packet, uint address, ushort port)
    {
        BinaryPrimitives.WriteUInt32BigEndian(frame[(packet.IpOffset + 16)..], address);
        BinaryPrimitives.WriteUInt16BigEndian(frame[(packet.TcpOffset + 2)..], port);
    }

    public static void SetSequence(Span<byte> frame, in TcpPacket packet, uint sequence) =>
        BinaryPrimitives.WriteUInt32BigEndian(frame[(packet.TcpOffset + 4)..], sequence);

    public static void SetAcknowledgment(Span<byte> frame, in TcpPacket packet, uint acknowledgment) =>
        BinaryPrimitives.WriteUInt32BigEndian(frame[(packet.TcpOffset + 8)..], acknowledgment);

    public static void SetWindow(Span<byte> frame, in TcpPacket packet, ushort window) =>
        BinaryPrimitives.WriteUInt16BigEndian(frame[(packet.TcpOffset + 14)..], window);

    public static void SetIpId(Span<byte> frame, in TcpPacket packet, ushort ipId) =>
        BinaryPrimitives.WriteUInt16BigEndian(frame[(packet.IpOffset + 4)..], ipId);

    /// <summary>Writes TSecr when the packet has a timestamp option; returns false (and writes nothing) otherwise.</summary>
    public static bool TrySetTimestampEcr(Span<byte> frame, in TcpPacket packet, uint tsEcr)
    {
        var offset = packet.Options.TimestampOffset;
        if (offset == 0)
        {
            return false;
        }

        // Kind(1) length(1) TSval(4) TSecr(4).
        BinaryPrimitives.WriteUInt32BigEndian(frame[(packet.TcpOffset + offset + 6)..], tsEcr);
        return true;
    }

    /// <summary>
    /// Recomputes the IP header and TCP checksums of a parsed packet in <paramref name="frame"/>. Returns false
    /// (leaving the TCP checksum alone) when the payload was truncated by the capture: the checksum covers bytes we
    /// do not have.
    /// </summary>
    public static bool FixChecksums(Span<byte> frame, in TcpPacket packet)
    {
        if (packet.Truncated)
        {
            return false;
        }

        return FixChecksumsCore(frame.Slice(packet.IpOffset, packet.TotalLength), packet.IpHeaderLength);
    }

    /// <summary>
    /// Recomputes both checksums of a raw IPv4+TCP packet starting at <paramref name="ipPacket"/>[0], using its own
    /// IHL and total length. Returns false, changing nothing, when the bytes are not a complete IPv4/TCP packet
    /// (never throws on bad input).
    /// </summary>
    public static bool FixChecksums(Span<byte> ipPacket)
    {
        if (PacketParser.TryParseIp(ipPacket, out var packet) != ParseResult.Ok || packet.Truncated)
        {
            return false;
        }

        return FixChecksumsCore(ipPacket[..packet.TotalLength], packet.IpHeaderLength);
    }

    internal static bool FixChecksumsCore(Span<byte> ip, int ipHeaderLength)
    {
        var header = ip[..ipHeaderLength];
        BinaryPrimitives.WriteUInt16BigEndian(header[10..], Checksum.IpHeader(header));
        var source = BinaryPrimitives.ReadUInt32BigEndian(header[12..]);
        var destination = BinaryPrimitives.ReadUInt32BigEndian(header[16..]);
        var tcp = ip[ipHeaderLength..];
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], Checksum.Tcp(source, destination, tcp));
        return true;
    }
}
