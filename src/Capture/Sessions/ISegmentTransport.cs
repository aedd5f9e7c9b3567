using ReplayCluster.Packets;

namespace ReplayCluster.Capture.Sessions;

/// <summary>Where a session's segments toward the target go: the raw IP socket in a node, a list in tests.</summary>
internal interface ISegmentTransport
{
    /// <summary>Builds and sends one segment. Must not keep <paramref name="payload"/>.</summary>
    void Send(in TcpSegmentSpec segment, ReadOnlySpan<byte> payload);
}
