namespace ReplayCluster.Comparison;

/// <summary>
/// The capture filter term both comparison captures add (the capture node's online capture, the intercept's tap):
/// only packets that change a TCP stream, its start, its bytes or its end. Pure ACKs are most packets of a download
/// and carry nothing to compare.
/// </summary>
public static class StreamChangeFilter
{
    /// <summary>
    /// SYN, FIN or RST, or a TCP segment with payload: IPv4's total length minus both headers, IPv6's payload length
    /// minus the TCP header. libpcap's <c>tcp[]</c> reads IPv4 packets only, so the IPv6 half reads the TCP header at
    /// its fixed place, 40 bytes in (<c>tcp</c> itself matches IPv6 only where no extension header comes first).
    /// </summary>
    public const string Term =
        "((ip and (tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0 or (ip[2:2] - ((ip[0]&0xf)<<2) - ((tcp[12]&0xf0)>>2)) != 0))" +
        " or (ip6 and (ip6[53] & 7 != 0 or (ip6[4:2] - ((ip6[52]&0xf0)>>2)) != 0)))";
}
