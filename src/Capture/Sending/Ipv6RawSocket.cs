using ReplayCluster.PacketIO;

namespace ReplayCluster.Capture.Sending;

/// <summary>
/// The node's raw IPv6 socket for the segments of IPv6 sessions, or none on a host without IPv6 (the node still
/// replays IPv4). The IPv6 segments it could not take for want of a socket are counted here.
/// </summary>
internal sealed class Ipv6RawSocket(RawIpSender? sender)
{
    private long _unsendable;

    /// <summary>The socket; null when the host refused one.</summary>
    public RawIpSender? Sender => sender;

    /// <summary>IPv6 segments dropped because there is no socket.</summary>
    public long Unsendable => Interlocked.Read(ref _unsendable);

    /// <summary>Counts one IPv6 segment dropped for want of a socket.</summary>
    public void CountUnsendable() => Interlocked.Increment(ref _unsendable);
}
