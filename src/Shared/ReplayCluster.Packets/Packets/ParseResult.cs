namespace ReplayCluster.Packets;

/// <summary>
/// Outcome of <see cref="PacketParser.TryParse"/>: <see cref="Ok"/> or the first reason the frame was rejected,
/// checked in the order listed. Values are dense from 0 so counters can index an array by them.
/// </summary>
/// <remarks>
/// The IPv6 reasons come last so the IPv4 values keep their numbers. Where IPv4 and IPv6 fail the same way (the capture
/// ends inside the IP headers, a fragment, not TCP, a bad TCP header) they share a reason.
/// </remarks>
public enum ParseResult
{
    Ok = 0,

    /// <summary>The link type is not one <see cref="PacketParser"/> understands.</summary>
    UnsupportedLinkType,

    /// <summary>The frame ends inside the link-layer header (including VLAN tags).</summary>
    TooShortForLink,

    /// <summary>
    /// The link layer carries something the parse does not take: for <see cref="PacketParser.TryParse"/> anything but
    /// IPv4 (ARP, IPv6, LLDP, ...), for <see cref="PacketParser.TryParseIpv6"/> anything but IPv6, for
    /// <see cref="PacketParser.TryParseDualStack"/> anything but the two.
    /// </summary>
    UnsupportedEtherType,

    /// <summary>
    /// Fewer than 20 (IPv4) or 40 (IPv6) captured bytes after the link header, or the capture ends inside the IP header
    /// (for IPv6: inside an extension header).
    /// </summary>
    TooShortForIp,

    /// <summary>The IP version nibble is not 4 (for the dual-stack parse of a raw IP frame: neither 4 nor 6).</summary>
    NotIpv4,

    /// <summary>IHL below 5 words.</summary>
    BadIpHeaderLength,

    /// <summary>IP total length smaller than the IP header plus a minimal 20-byte TCP header.</summary>
    BadIpTotalLength,

    /// <summary>
    /// An IPv4 fragment (MF set or a non-zero fragment offset). Later fragments carry no TCP header and reassembly is out
    /// of scope, so the first fragment is rejected as well rather than replaying part of a segment. IPv6 fragments
    /// have their own reason, <see cref="Ipv6Fragment"/>.
    /// </summary>
    IpFragment,

    /// <summary>
    /// The IP protocol is not TCP (6); for IPv6, the first header after the extension headers this parser walks is not
    /// TCP (UDP, ICMPv6, a Mobility, HIP or Shim6 header, ...).
    /// </summary>
    NotTcp,

    /// <summary>The capture ends inside the TCP header (snaplen too small for the headers).</summary>
    TooShortForTcp,

    /// <summary>TCP data offset below 5 words, or the TCP header extends past the IP total length (IPv6: payload length).</summary>
    BadTcpHeaderLength,

    /// <summary>Malformed TCP options; see <see cref="TcpOptions.TryParse"/>.</summary>
    BadTcpOptions,

    /// <summary>An IPv6 version nibble is not 6 (behind EtherType 0x86DD, or on a raw IPv6 link).</summary>
    NotIpv6,

    /// <summary>
    /// The IPv6 payload length cannot hold the extension headers plus a 20-byte TCP header. Includes 0, which announces
    /// a jumbogram (RFC 2675): a hop-by-hop jumbo payload option is not read, such packets are never captured here.
    /// </summary>
    BadIpv6PayloadLength,

    /// <summary>
    /// A malformed IPv6 extension header chain: a header that runs past the payload length, a hop-by-hop header that
    /// is not first (RFC 8200 section 4.1), or more than <see cref="PacketParser.MaxIpv6ExtensionHeaders"/> headers.
    /// </summary>
    BadIpv6ExtensionHeader,

    /// <summary>
    /// An IPv6 fragment (a fragment header with M set or a non-zero offset), rejected like <see cref="IpFragment"/>.
    /// An atomic fragment (offset 0, M clear; RFC 6946) is a whole packet and is parsed on.
    /// </summary>
    Ipv6Fragment,

    /// <summary>
    /// A routing header with segments left: the packet is not at its final destination yet, and its TCP checksum
    /// covers the final destination, not the address in the IPv6 header (RFC 8200 section 8.1).
    /// </summary>
    Ipv6RoutingInTransit,

    /// <summary>An IPsec Authentication Header (next header 51): rewriting the TCP segment would break its integrity check.</summary>
    IpsecAuthenticationHeader,

    /// <summary>IPsec ESP (next header 50): the TCP segment, if any, is encrypted.</summary>
    IpsecEncapsulatedPayload,

    /// <summary>IPv6 "no next header" (59): nothing follows the headers.</summary>
    Ipv6NoNextHeader,
}
