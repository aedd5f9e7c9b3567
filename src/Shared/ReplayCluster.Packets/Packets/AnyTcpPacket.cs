using System.Globalization;

namespace ReplayCluster.Packets;

/// <summary>
/// A parsed TCP frame of either family, as the nodes' captures use it: the endpoints as <see cref="NetAddress"/>, the
/// sequence space, flags, window, options and where the payload lies in the frame. Like <see cref="TcpPacket"/> and
/// <see cref="Ipv6TcpPacket"/> it holds no reference to the buffer. <see cref="PacketParser.TryParseAny"/> makes one.
/// </summary>
/// <param name="SourceAddress">The sender's address.</param>
/// <param name="SourcePort">The sender's port.</param>
/// <param name="DestinationAddress">The receiver's address.</param>
/// <param name="DestinationPort">The receiver's port.</param>
/// <param name="Sequence">The segment's sequence number.</param>
/// <param name="Acknowledgment">The acknowledgment number (meaningful with ACK).</param>
/// <param name="Flags">The TCP flags.</param>
/// <param name="Window">The advertised window, unscaled.</param>
/// <param name="Options">The TCP options read (MSS, window scale, timestamps, SACK).</param>
/// <param name="PayloadOffset">Offset of the TCP payload in the frame.</param>
/// <param name="PayloadLength">Payload length as sent (the IP length fields), not as captured.</param>
/// <param name="Truncated">The snap length cut the payload short.</param>
public readonly record struct AnyTcpPacket(
    NetAddress SourceAddress, ushort SourcePort, NetAddress DestinationAddress, ushort DestinationPort,
    uint Sequence, uint Acknowledgment, TcpFlags Flags, ushort Window, TcpOptions Options,
    int PayloadOffset, int PayloadLength, bool Truncated)
{
    public static AnyTcpPacket From(in TcpPacket p) => new(p.SourceAddress, p.SourcePort, p.DestinationAddress, p.DestinationPort,
        p.Sequence, p.Acknowledgment, p.Flags, p.Window, p.Options, p.PayloadOffset, p.PayloadLength, p.Truncated);

    public static AnyTcpPacket From(in Ipv6TcpPacket p) => new(p.SourceAddress, p.SourcePort, p.DestinationAddress, p.DestinationPort,
        p.Sequence, p.Acknowledgment, p.Flags, p.Window, p.Options, p.PayloadOffset, p.PayloadLength, p.Truncated);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{SourceAddress.ToEndpointString()}:{SourcePort} > {DestinationAddress.ToEndpointString()}:{DestinationPort} [{Flags}] seq {Sequence} ack {Acknowledgment} len {PayloadLength}");
}
