namespace ReplayCluster.Packets;

/// <summary>
/// Outcome of <see cref="PacketParser.TryParse"/>: <see cref="Ok"/> or the first reason the frame was rejected,
/// checked in the order listed. Values are dense from 0 so counters can index an array by them.
/// </summary>
public enum ParseResult
{
    Ok = 0,

    /// <summary>The link type is not one <see cref="PacketParser"/> understands.</summary>
    UnsupportedLinkType,

    /// <summary>The frame ends inside the link-layer header (including VLAN tags).</summary>
    TooShortForLink,

    /// <summary>The link layer carries something other than IPv4 (ARP, IPv6, LLDP, ...).</summary>
    UnsupportedEtherType,

    /// <summary>Fewer than 20 captured bytes after the link header, or the capture ends inside the IP header.</summary>
    TooShortForIp,

    /// <summary>The IP version nibble is not 4.</summary>
    NotIpv4,

    /// <summary>IHL below 5 words.</summary>
    BadIpHeaderLength,

    /// <summary>IP total length smaller than the IP header plus a minimal 20-byte TCP header.</summary>
    BadIpTotalLength,

    /// <summary>
    /// An IP fragment (MF set or a non-zero fragment offset). Later fragments carry no TCP header and reassembly is out
    /// of scope, so the first fragment is rejected as well rather than replaying part of a segment.
    /// </summary>
    IpFragment,

    /// <summary>The IP protocol is not TCP (6).</summary>
    NotTcp,

    /// <summary>The capture ends inside the TCP header (snaplen too small for the headers).</summary>
    TooShortForTcp,

    /// <summary>TCP data offset below 5 words, or the TCP header extends past the IP total length.</summary>
    BadTcpHeaderLength,

    /// <summary>Malformed TCP options; see <see cref="TcpOptions.TryParse"/>.</summary>
    BadTcpOptions,
}
