namespace ReplayCluster.Comparison;

/// <summary>
/// The capture filter term both comparison captures add (the capture node's online capture, the intercept's tap):
/// only packets that change a TCP stream, its start, its bytes or its end. Pure ACKs are most packets of a download
/// and carry nothing to compare.
/// </summary>
public static class StreamChangeFilter
{
    /// <summary>SYN, FIN or RST, or an IPv4 TCP segment with payload (total length minus both headers).</summary>
    public const string Term = "(tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0 or (ip[2:2] - ((ip[0]&0xf)<<2) - ((tcp[12]&0xf0)>>2)) != 0)";
}
