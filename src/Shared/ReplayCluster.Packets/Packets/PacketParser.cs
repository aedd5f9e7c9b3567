using System.Buffers.Binary;

namespace ReplayCluster.Packets;

/// <summary>
/// Parses captured frames into <see cref="TcpPacket"/> values. Allocation-free, never throws and never reads
/// outside the span, whatever the bytes: every field read is preceded by a length check against the captured span.
/// </summary>
/// <remarks>
/// IPv4 only; the IPv6 and dual-stack parses are in PacketParser.Ipv6.cs and leave this path as it was.
/// Checksums are deliberately not verified: with checksum offload almost every locally captured TCP packet carries
/// a wrong or partial checksum, and a replayer recomputes them anyway (see <see cref="Checksum"/>).
/// </remarks>
public static partial class PacketParser
{
    /// <summary>EtherType of IPv4.</summary>
    public const ushort EtherTypeIpv4 = 0x0800;

    /// <summary>EtherType of an IEEE 802.1Q VLAN tag.</summary>
    public const ushort EtherTypeVlan = 0x8100;

    /// <summary>EtherType of an IEEE 802.1ad service (QinQ outer) tag.</summary>
    public const ushort EtherTypeQinQ = 0x88A8;

    private const int EthernetHeaderLength = 14;
    private const int VlanTagLength = 4;

    // Two tags cover 802.1Q, a single 802.1ad tag and QinQ (802.1ad + 802.1Q); deeper stacking is not seen on hosts.
    private const int MaxVlanTags = 2;
    private const int SllHeaderLength = 16;
    private const int Sll2HeaderLength = 20;
    private const int MinIpHeaderLength = 20;
    private const int MinTcpHeaderLength = 20;
    private const byte ProtocolTcp = 6;

    /// <summary>Parses a raw IPv4 packet (no link header); same as <c>TryParse(packet, LinkType.Raw, out ...)</c>.</summary>
    public static ParseResult TryParseIp(ReadOnlySpan<byte> ipPacket, out TcpPacket packet) =>
        TryParseAt(ipPacket, 0, out packet);

    /// <summary>
    /// Parses one captured frame of the given link type. On <see cref="ParseResult.Ok"/>, every offset in
    /// <paramref name="packet"/> plus its length lies inside <paramref name="frame"/> except the payload, which may be
    /// cut by the snaplen (<see cref="TcpPacket.Truncated"/>); otherwise <paramref name="packet"/> is default.
    /// </summary>
    public static ParseResult TryParse(ReadOnlySpan<byte> frame, LinkType linkType, out TcpPacket packet)
    {
        packet = default;
        int ipOffset;
        ParseResult linkResult;
        switch (linkType)
        {
            case LinkType.Raw:
            case LinkType.Ipv4:
                return TryParseAt(frame, 0, out packet);
            case LinkType.Ethernet:
                if (frame.Length < EthernetHeaderLength)
                {
                    return ParseResult.TooShortForLink;
                }

                linkResult = SkipVlanTags(frame, 12, out ipOffset);
                break;
            case LinkType.LinuxSll:
                // packet type(2) ARPHRD(2) address length(2) address(8) protocol(2).
                if (frame.Length < SllHeaderLength)
                {
                    return ParseResult.TooShortForLink;
                }

                linkResult = SkipVlanTags(frame, 14, out ipOffset);
                break;
            case LinkType.LinuxSll2:
                // protocol(2) reserved(2) ifindex(4) ARPHRD(2) packet type(1) address length(1) address(8).
                if (frame.Length < Sll2HeaderLength)
                {
                    return ParseResult.TooShortForLink;
                }

                var protocol = BinaryPrimitives.ReadUInt16BigEndian(frame);
                if (protocol != EtherTypeIpv4)
                {
                    return ParseResult.UnsupportedEtherType;
                }

                ipOffset = Sll2HeaderLength;
                linkResult = ParseResult.Ok;
                break;
            default:
                return ParseResult.UnsupportedLinkType;
        }

        return linkResult != ParseResult.Ok ? linkResult : TryParseAt(frame, ipOffset, out packet);
    }

    /// <summary>
    /// Reads the EtherType at <paramref name="typeOffset"/>, skipping up to <see cref="MaxVlanTags"/> VLAN tags
    /// (each: type(2) TCI(2), then the inner type). The payload starts right after the last type field.
    /// </summary>
    private static ParseResult SkipVlanTags(ReadOnlySpan<byte> frame, int typeOffset, out int ipOffset)
    {
        ipOffset = 0;
        var etherType = BinaryPrimitives.ReadUInt16BigEndian(frame[typeOffset..]);
        for (var tags = 0; etherType is EtherTypeVlan or EtherTypeQinQ; tags++)
        {
            if (tags == MaxVlanTags)
            {
                return ParseResult.UnsupportedEtherType;
            }

            typeOffset += VlanTagLength;
            if (frame.Length < typeOffset + 2)
            {
                return ParseResult.TooShortForLink;
            }

            etherType = BinaryPrimitives.ReadUInt16BigEndian(frame[typeOffset..]);
        }

        if (etherType != EtherTypeIpv4)
        {
            return ParseResult.UnsupportedEtherType;
        }

        ipOffset = typeOffset + 2;
        return ParseResult.Ok;
    }

    private static ParseResult TryParseAt(ReadOnlySpan<byte> frame, int ipOffset, out TcpPacket packet)
    {
        packet = default;
        var ip = frame[ipOffset..];
        if (ip.Length < MinIpHeaderLength)
        {
            return ParseResult.TooShortForIp;
        }

        var versionIhl = ip[0];
        if (versionIhl >> 4 != 4)
        {
            return ParseResult.NotIpv4;
        }

        var ipHeaderLength = (versionIhl & 0x0F) * 4;
        if (ipHeaderLength < MinIpHeaderLength)
        {
            return ParseResult.BadIpHeaderLength;
        }

        int totalLength = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
        if (totalLength < ipHeaderLength + MinTcpHeaderLength)
        {
            // Also catches IHL pointing past the total length. Note: Linux BIG TCP (> 64 KiB GSO) writes 0 here; such
            // frames only appear when gso_max_size is raised above 65536, which our capture setup does not do.
            return ParseResult.BadIpTotalLength;
        }

        if (ip.Length < ipHeaderLength)
        {
            return ParseResult.TooShortForIp;
        }

        var fragment = BinaryPrimitives.ReadUInt16BigEndian(ip[6..]);
        if ((fragment & 0x3FFF) != 0)
        {
            return ParseResult.IpFragment; // MF (0x2000) set or a non-zero offset.
        }

        if (ip[9] != ProtocolTcp)
        {
            return ParseResult.NotTcp;
        }

        var tcp = ip[ipHeaderLength..];
        if (tcp.Length < MinTcpHeaderLength)
        {
            return ParseResult.TooShortForTcp;
        }

        var tcpHeaderLength = (tcp[12] >> 4) * 4;
        if (tcpHeaderLength < MinTcpHeaderLength || ipHeaderLength + tcpHeaderLength > totalLength)
        {
            return ParseResult.BadTcpHeaderLength;
        }

        if (tcp.Length < tcpHeaderLength)
        {
            return ParseResult.TooShortForTcp;
        }

        if (!TcpOptions.TryParse(tcp[MinTcpHeaderLength..tcpHeaderLength], out var options))
        {
            return ParseResult.BadTcpOptions;
        }

        var payloadLength = totalLength - ipHeaderLength - tcpHeaderLength;
        packet = new TcpPacket
        {
            IpOffset = ipOffset,
            IpHeaderLength = ipHeaderLength,
            TotalLength = totalLength,
            TcpHeaderLength = tcpHeaderLength,
            PayloadLength = payloadLength,
            // Ethernet pads short frames to 60 bytes, so the capture can also be longer than the IP datagram.
            CapturedPayloadLength = Math.Min(payloadLength, tcp.Length - tcpHeaderLength),
            Tos = ip[1],
            IpId = BinaryPrimitives.ReadUInt16BigEndian(ip[4..]),
            DontFragment = (fragment & 0x4000) != 0,
            IsFragment = false,
            Ttl = ip[8],
            SourceAddress = BinaryPrimitives.ReadUInt32BigEndian(ip[12..]),
            DestinationAddress = BinaryPrimitives.ReadUInt32BigEndian(ip[16..]),
            SourcePort = BinaryPrimitives.ReadUInt16BigEndian(tcp),
            DestinationPort = BinaryPrimitives.ReadUInt16BigEndian(tcp[2..]),
            Sequence = BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]),
            Acknowledgment = BinaryPrimitives.ReadUInt32BigEndian(tcp[8..]),
            Flags = (TcpFlags)tcp[13],
            Window = BinaryPrimitives.ReadUInt16BigEndian(tcp[14..]),
            Options = options,
        };
        return ParseResult.Ok;
    }
}
