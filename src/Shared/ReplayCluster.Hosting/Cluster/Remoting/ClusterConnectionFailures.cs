namespace ReplayCluster.Cluster.Remoting;

/// <summary>
/// This process's failed cluster transport connections by reason, reported as <c>cluster_connections_failed</c>: the
/// transport never stops a node for one (<see cref="ClusterTcpTransport"/>), so they are counted instead. A node runs
/// one actor system, so the process's totals are the node's.
/// </summary>
public static class ClusterConnectionFailures
{
    private static long s_inboundHandshake;
    private static long s_outbound;
    private static long s_frameTooLarge;

    /// <summary>
    /// <c>inbound_handshake</c>: a peer refused at the TLS handshake (no certificate or a foreign one, not TLS at all,
    /// too slow); <c>outbound</c>: an association this node attempted that failed (refused, timed out, the peer's
    /// certificate refused, the peer gone mid-handshake); <c>frame_too_large</c>: a connection ended for a frame
    /// longer than <c>maximum-frame-size</c>.
    /// </summary>
    public static IEnumerable<KeyValuePair<string, long>> ByReason =>
    [
        KeyValuePair.Create("inbound_handshake", Interlocked.Read(ref s_inboundHandshake)),
        KeyValuePair.Create("outbound", Interlocked.Read(ref s_outbound)),
        KeyValuePair.Create("frame_too_large", Interlocked.Read(ref s_frameTooLarge)),
    ];

    internal static void InboundHandshake() => Interlocked.Increment(ref s_inboundHandshake);

    internal static void Outbound() => Interlocked.Increment(ref s_outbound);

    internal static void FrameTooLarge() => Interlocked.Increment(ref s_frameTooLarge);
}
