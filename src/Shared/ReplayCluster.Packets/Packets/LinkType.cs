namespace ReplayCluster.Packets;

/// <summary>
/// Link-layer header types we can parse, numbered as pcap LINKTYPE_* values so a pcap file header or
/// <c>pcap_datalink()</c> result maps onto them directly (see <see cref="LinkTypes.FromPcap"/>).
/// </summary>
public enum LinkType
{
    /// <summary>LINKTYPE_ETHERNET: 14-byte Ethernet II header, optionally one or two VLAN tags.</summary>
    Ethernet = 1,

    /// <summary>LINKTYPE_RAW: no link header, the frame starts with the IP header.</summary>
    Raw = 101,

    /// <summary>LINKTYPE_LINUX_SLL: Linux cooked capture v1 (16-byte header; older <c>tcpdump -i any</c>).</summary>
    LinuxSll = 113,

    /// <summary>LINKTYPE_IPV4: raw IPv4 without a link header.</summary>
    Ipv4 = 228,

    /// <summary>LINKTYPE_IPV6: raw IPv6 without a link header (read by the IPv6 and dual-stack parses only).</summary>
    Ipv6 = 229,

    /// <summary>LINKTYPE_LINUX_SLL2: Linux cooked capture v2 (20-byte header); what libpcap 1.10+ gives for <c>-i any</c>.</summary>
    LinuxSll2 = 276,
}

/// <summary>Mapping from the numbers found in pcap files and libpcap to <see cref="LinkType"/>.</summary>
public static class LinkTypes
{
    /// <summary>
    /// Maps a pcap link-type or DLT number to a <see cref="LinkType"/>. DLT_RAW is 12 on most systems and 14 on
    /// OpenBSD; both mean raw IP, as does LINKTYPE_RAW (101). Unknown numbers are passed through unchanged so the
    /// parser reports them as <see cref="ParseResult.UnsupportedLinkType"/> instead of this method throwing.
    /// </summary>
    public static LinkType FromPcap(int value) => value switch
    {
        12 or 14 or 101 => LinkType.Raw,
        _ => (LinkType)value,
    };

    /// <summary>
    /// True when <see cref="PacketParser.TryParse"/> (IPv4) understands frames of this link type. The IPv6 and
    /// dual-stack parses also take <see cref="LinkType.Ipv6"/>.
    /// </summary>
    public static bool IsSupported(LinkType linkType) => linkType is LinkType.Ethernet or LinkType.Raw
        or LinkType.LinuxSll or LinkType.Ipv4 or LinkType.LinuxSll2;
}
