using System.Globalization;

namespace ReplayCluster.Packets;

/// <summary>
/// A parsed TCP frame of either family, as the nodes' captures use it: the endpoints as <see cref="NetAddress"/>, the
/// sequence space, flags, window, options and where the payload lies in the frame. Like <see cref="TcpPacket"/> and
/// <see cref="Ipv6TcpPacket"/> it holds no reference to the buffer. <see cref="PacketParser.TryParseAny"/> makes one.
/// </summary>
public readonly struct AnyTcpPacket
{
    public NetAddress SourceAddress { get; private init; }

    public NetAddress DestinationAddress { get; private init; }

    public ushort SourcePort { get; private init; }

    public ushort DestinationPort { get; private init; }

    public uint Sequence { get; private init; }

    public uint Acknowledgment { get; private init; }

    public TcpFlags Flags { get; private init; }

    public ushort Window { get; private init; }

    public TcpOptions Options { get; private init; }

    /// <summary>Offset of the TCP payload in the frame.</summary>
    public int PayloadOffset { get; private init; }

    /// <summary>Payload length as sent (the IP length fields), not as captured.</summary>
    public int PayloadLength { get; private init; }

    /// <summary>The snap length cut the payload short.</summary>
    public bool Truncated { get; private init; }

    public static AnyTcpPacket From(in TcpPacket packet) => new()
    {
        SourceAddress = packet.SourceAddress,
        DestinationAddress = packet.DestinationAddress,
        SourcePort = packet.SourcePort,
        DestinationPort = packet.DestinationPort,
        Sequence = packet.Sequence,
        Acknowledgment = packet.Acknowledgment,
        Flags = packet.Flags,
        Window = packet.Window,
        Options = packet.Options,
        PayloadOffset = packet.PayloadOffset,
        PayloadLength = packet.PayloadLength,
        Truncated = packet.Truncated,
    };

    public static AnyTcpPacket From(in Ipv6TcpPacket packet) => new()
    {
        SourceAddress = packet.SourceAddress,
        DestinationAddress = packet.DestinationAddress,
        SourcePort = packet.SourcePort,
        DestinationPort = packet.DestinationPort,
        Sequence = packet.Sequence,
        Acknowledgment = packet.Acknowledgment,
        Flags = packet.Flags,
        Window = packet.Window,
        Options = packet.Options,
        PayloadOffset = packet.PayloadOffset,
        PayloadLength = packet.PayloadLength,
        Truncated = packet.Truncated,
    };

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{SourceAddress.ToEndpointString()}:{SourcePort} > {DestinationAddress.ToEndpointString()}:{DestinationPort} [{Flags}] seq {Sequence} ack {Acknowledgment} len {PayloadLength}");
}
