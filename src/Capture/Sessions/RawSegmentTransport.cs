using ReplayCluster.Packets;
using ReplayCluster.PacketIO;

namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// Sends session segments through the node's raw IPv4 socket. Session actors run on any dispatcher
/// thread, so each thread builds into its own buffer: no lock, no allocation per segment.
/// </summary>
internal sealed class RawSegmentTransport(RawIpSender sender) : ISegmentTransport
{
    [ThreadStatic]
    private static byte[]? t_buffer;

    public void Send(in TcpSegmentSpec segment, ReadOnlySpan<byte> payload)
    {
        var buffer = t_buffer ??= new byte[TcpPacketBuilder.MaxPacketLength];
        var length = TcpPacketBuilder.Write(segment, payload, buffer);
        sender.Send(buffer.AsSpan(0, length));
    }
}
