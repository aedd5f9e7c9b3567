using System.Buffers.Binary;
using System.Net.Sockets;

namespace ReplayCluster.Packets;

/// <summary>
/// IPv6 and dual-stack parsing. Same promises as the IPv4 parse: allocation-free, never throws, never reads outside
/// the span, every rejection a named <see cref="ParseResult"/>. The IPv4 entry points (<see cref="TryParse"/>,
/// <see cref="TryParseIp"/>) are untouched by this file: an IPv4-only caller keeps its code, its speed and its results
/// (an IPv6 frame is still <see cref="ParseResult.UnsupportedEtherType"/> or <see cref="ParseResult.NotIpv4"/> there).
/// </summary>
public static partial class PacketParser
{
    /// <summary>EtherType of IPv6.</summary>
    public const ushort EtherTypeIpv6 = 0x86DD;

    /// <summary>
    /// Parses a TCP frame of either family (<see cref="TryParseDualStack"/>: one pass over the link header, an IPv4
    /// frame gets exactly what <see cref="TryParse"/> gives it) into the one shape the captures use.
    /// </summary>
    public static ParseResult TryParseAny(ReadOnlySpan<byte> frame, LinkType linkType, out AnyTcpPacket packet)
    {
        var result = TryParseDualStack(frame, linkType, out var ipv4, out var ipv6, out var family);
        packet = result != ParseResult.Ok ? default
            : family == AddressFamily.InterNetworkV6 ? AnyTcpPacket.From(ipv6)
            : AnyTcpPacket.From(ipv4);
        return result;
    }

    /// <summary>
    /// Most extension headers walked before TCP. RFC 8200 section 4.1 allows each header once (destination options
    /// twice), so a legitimate chain before TCP has at most five (hop-by-hop, destination options, routing, fragment,
    /// destination options); eight leaves room and still bounds the work a crafted chain of 8-byte headers can cause.
    /// </summary>
    public const int MaxIpv6ExtensionHeaders = 8;

    private const int Ipv6HeaderLength = Ipv6TcpPacket.FixedHeaderLength;
    private const byte NextHeaderHopByHop = 0;
    private const byte NextHeaderRouting = 43;
    private const byte NextHeaderFragment = 44;
    private const byte NextHeaderEsp = 50;
    private const byte NextHeaderAh = 51;
    private const byte NextHeaderNone = 59;
    private const byte NextHeaderDestinationOptions = 60;

    /// <summary>Parses a raw IPv6 packet (no link header).</summary>
    public static ParseResult TryParseIpv6Ip(ReadOnlySpan<byte> ipPacket, out Ipv6TcpPacket packet) =>
        TryParseIpv6At(ipPacket, 0, out packet);

    /// <summary>
    /// Parses one captured IPv6/TCP frame of the given link type, walking the hop-by-hop, routing, destination options
    /// and (atomic) fragment headers. On <see cref="ParseResult.Ok"/> every offset lies inside <paramref name="frame"/>
    /// except the payload, which the snaplen may cut (<see cref="Ipv6TcpPacket.Truncated"/>). An IPv4 frame is
    /// <see cref="ParseResult.UnsupportedEtherType"/> (or <see cref="ParseResult.NotIpv6"/> on a raw link).
    /// </summary>
    public static ParseResult TryParseIpv6(ReadOnlySpan<byte> frame, LinkType linkType, out Ipv6TcpPacket packet)
    {
        packet = default;
        var result = LocateIp(frame, linkType, out var ipOffset, out var version);
        if (result != ParseResult.Ok)
        {
            return result;
        }

        return version == 4 ? ParseResult.UnsupportedEtherType : TryParseIpv6At(frame, ipOffset, out packet);
    }

    /// <summary>
    /// Parses a frame of either family with one pass over the link header: on <see cref="ParseResult.Ok"/>,
    /// <paramref name="family"/> says which of <paramref name="ipv4"/> (<see cref="AddressFamily.InterNetwork"/>) and
    /// <paramref name="ipv6"/> (<see cref="AddressFamily.InterNetworkV6"/>) holds the packet; the other is default.
    /// On a rejection the family is the one the frame claimed, or <see cref="AddressFamily.Unspecified"/> when the link
    /// header was already wrong. An IPv4 frame gets exactly the result and packet <see cref="TryParse"/> gives it.
    /// </summary>
    public static ParseResult TryParseDualStack(ReadOnlySpan<byte> frame, LinkType linkType, out TcpPacket ipv4, out Ipv6TcpPacket ipv6, out AddressFamily family)
    {
        ipv4 = default;
        ipv6 = default;
        family = AddressFamily.Unspecified;
        var result = LocateIp(frame, linkType, out var ipOffset, out var version);
        if (result != ParseResult.Ok)
        {
            return result;
        }

        if (version == 0)
        {
            // Raw IP: the version nibble decides; anything but 6 goes to the IPv4 parse, which names it.
            if (frame.Length <= ipOffset)
            {
                return ParseResult.TooShortForIp;
            }

            version = frame[ipOffset] >> 4 == 6 ? 6 : 4;
        }

        if (version == 6)
        {
            family = AddressFamily.InterNetworkV6;
            return TryParseIpv6At(frame, ipOffset, out ipv6);
        }

        family = AddressFamily.InterNetwork;
        return TryParseAt(frame, ipOffset, out ipv4);
    }

    /// <summary>
    /// Finds the IP header behind the link header of either family: <paramref name="version"/> is 4 or 6 when the
    /// link header says so (EtherType, SLL protocol, link type), 0 when only the version nibble can tell (raw IP).
    /// </summary>
    private static ParseResult LocateIp(ReadOnlySpan<byte> frame, LinkType linkType, out int ipOffset, out int version)
    {
        ipOffset = 0;
        version = 0;
        ushort etherType;
        switch (linkType)
        {
            case LinkType.Raw:
                return ParseResult.Ok;
            case LinkType.Ipv4:
                version = 4;
                return ParseResult.Ok;
            case LinkType.Ipv6:
                version = 6;
                return ParseResult.Ok;
            case LinkType.Ethernet:
                if (frame.Length < EthernetHeaderLength)
                {
                    return ParseResult.TooShortForLink;
                }

                var ethernet = SkipVlanTagsAnyType(frame, 12, out ipOffset, out etherType);
                if (ethernet != ParseResult.Ok)
                {
                    return ethernet;
                }

                break;
            case LinkType.LinuxSll:
                if (frame.Length < SllHeaderLength)
                {
                    return ParseResult.TooShortForLink;
                }

                var sll = SkipVlanTagsAnyType(frame, 14, out ipOffset, out etherType);
                if (sll != ParseResult.Ok)
                {
                    return sll;
                }

                break;
            case LinkType.LinuxSll2:
                if (frame.Length < Sll2HeaderLength)
                {
                    return ParseResult.TooShortForLink;
                }

                etherType = BinaryPrimitives.ReadUInt16BigEndian(frame);
                ipOffset = Sll2HeaderLength;
                break;
            default:
                return ParseResult.UnsupportedLinkType;
        }

        version = etherType switch
        {
            EtherTypeIpv4 => 4,
            EtherTypeIpv6 => 6,
            _ => -1,
        };
        return version < 0 ? ParseResult.UnsupportedEtherType : ParseResult.Ok;
    }

    /// <summary>
    /// <see cref="SkipVlanTags"/> without its IPv4 check: the EtherType after the tags is returned for the caller to
    /// judge. A copy rather than a shared helper so the IPv4 path's code stays exactly as measured.
    /// </summary>
    private static ParseResult SkipVlanTagsAnyType(ReadOnlySpan<byte> frame, int typeOffset, out int ipOffset, out ushort etherType)
    {
        ipOffset = 0;
        etherType = BinaryPrimitives.ReadUInt16BigEndian(frame[typeOffset..]);
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

        ipOffset = typeOffset + 2;
        return ParseResult.Ok;
    }

    private static ParseResult TryParseIpv6At(ReadOnlySpan<byte> frame, int ipOffset, out Ipv6TcpPacket packet)
    {
        packet = default;
        var ip = frame[ipOffset..];
        if (ip.Length < Ipv6HeaderLength)
        {
            return ParseResult.TooShortForIp;
        }

        var versionClassFlow = BinaryPrimitives.ReadUInt32BigEndian(ip);
        if (versionClassFlow >> 28 != 6)
        {
            return ParseResult.NotIpv6;
        }

        int payloadLength = BinaryPrimitives.ReadUInt16BigEndian(ip[4..]);
        if (payloadLength < MinTcpHeaderLength)
        {
            return ParseResult.BadIpv6PayloadLength; // 0 (a jumbogram) included
        }

        // Every bound below is checked twice, like the IPv4 parse does: against the datagram the sender described
        // (totalLength: a malformed packet) and against the bytes captured (a snaplen cut: the capture's fault).
        var totalLength = Ipv6HeaderLength + payloadLength;
        var nextHeader = ip[6];
        var headerEnd = Ipv6HeaderLength;
        for (var headers = 0; nextHeader != ProtocolTcp; headers++)
        {
            switch (nextHeader)
            {
                case NextHeaderHopByHop:
                case NextHeaderRouting:
                case NextHeaderDestinationOptions:
                case NextHeaderFragment:
                    break;
                case NextHeaderEsp:
                    return ParseResult.IpsecEncapsulatedPayload;
                case NextHeaderAh:
                    return ParseResult.IpsecAuthenticationHeader;
                case NextHeaderNone:
                    return ParseResult.Ipv6NoNextHeader;
                default:
                    return ParseResult.NotTcp;
            }

            if (headers == MaxIpv6ExtensionHeaders || (nextHeader == NextHeaderHopByHop && headers != 0))
            {
                return ParseResult.BadIpv6ExtensionHeader;
            }

            // Every extension header walked here is at least 8 bytes: next header(1) length(1) and 6 more.
            if (headerEnd + 8 > totalLength)
            {
                return ParseResult.BadIpv6ExtensionHeader;
            }

            if (ip.Length < headerEnd + 8)
            {
                return ParseResult.TooShortForIp;
            }

            var header = ip[headerEnd..];
            var headerLength = nextHeader == NextHeaderFragment ? 8 : (header[1] + 1) * 8;
            if (headerEnd + headerLength > totalLength)
            {
                return ParseResult.BadIpv6ExtensionHeader;
            }

            if (ip.Length < headerEnd + headerLength)
            {
                return ParseResult.TooShortForIp;
            }

            if (nextHeader == NextHeaderFragment && (BinaryPrimitives.ReadUInt16BigEndian(header[2..]) & 0xFFF9) != 0)
            {
                // Offset (13 bits) or M set: a real fragment. Offset 0 with M clear is an atomic fragment (RFC 6946).
                return ParseResult.Ipv6Fragment;
            }

            if (nextHeader == NextHeaderRouting && header[3] != 0)
            {
                return ParseResult.Ipv6RoutingInTransit; // segments left
            }

            nextHeader = header[0];
            headerEnd += headerLength;
        }

        if (headerEnd + MinTcpHeaderLength > totalLength)
        {
            return ParseResult.BadIpv6PayloadLength;
        }

        var tcp = ip[headerEnd..];
        if (tcp.Length < MinTcpHeaderLength)
        {
            return ParseResult.TooShortForTcp;
        }

        var tcpHeaderLength = (tcp[12] >> 4) * 4;
        if (tcpHeaderLength < MinTcpHeaderLength || headerEnd + tcpHeaderLength > totalLength)
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

        var tcpPayloadLength = totalLength - headerEnd - tcpHeaderLength;
        packet = new Ipv6TcpPacket
        {
            IpOffset = ipOffset,
            IpHeaderLength = headerEnd,
            TotalLength = totalLength,
            TcpHeaderLength = tcpHeaderLength,
            PayloadLength = tcpPayloadLength,
            CapturedPayloadLength = Math.Min(tcpPayloadLength, tcp.Length - tcpHeaderLength),
            TrafficClass = (byte)(versionClassFlow >> 20),
            FlowLabel = versionClassFlow & 0xF_FFFF,
            HopLimit = ip[7],
            SourceAddress = Ipv6Address.Read(ip[8..]),
            DestinationAddress = Ipv6Address.Read(ip[24..]),
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
