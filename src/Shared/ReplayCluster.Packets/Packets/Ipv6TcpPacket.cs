using System.Globalization;

namespace ReplayCluster.Packets;

/// <summary>
/// The result of parsing one IPv6/TCP frame (<see cref="PacketParser.TryParseIpv6"/>): header fields and offsets into
/// the frame, the IPv6 counterpart of <see cref="TcpPacket"/>. Like it, it holds no reference to the buffer, and a
/// rewrite of the frame does not update a value already taken.
/// </summary>
/// <remarks>
/// A separate type rather than a family field and 16-byte addresses in <see cref="TcpPacket"/>: that would grow every
/// IPv4 parse result by 32 bytes (zeroed and copied per captured frame) and let an IPv4-only caller read a zero
/// <see cref="TcpPacket.SourceAddress"/> from an IPv6 frame without noticing. With two types the compiler makes each
/// caller say what it does with each family. The TCP part (offsets, ports, sequence numbers, options) has the same
/// names and meaning in both.
/// </remarks>
public readonly struct Ipv6TcpPacket
{
    /// <summary>Length of the fixed IPv6 header.</summary>
    public const int FixedHeaderLength = 40;

    /// <summary>Offset of the IPv6 header in the frame (0 for raw IP, 14 for Ethernet, ...).</summary>
    public int IpOffset { get; internal init; }

    /// <summary>The fixed header plus every extension header before TCP, in bytes (40 when there are none).</summary>
    public int IpHeaderLength { get; internal init; }

    /// <summary>Extension headers before TCP, in bytes (hop-by-hop, routing, destination options, atomic fragment).</summary>
    public int ExtensionHeadersLength => IpHeaderLength - FixedHeaderLength;

    /// <summary>The whole datagram as sent: 40 + the payload length field (extension headers + TCP header + data).</summary>
    public int TotalLength { get; internal init; }

    /// <summary>Offset of the TCP header in the frame.</summary>
    public int TcpOffset => IpOffset + IpHeaderLength;

    /// <summary>TCP header length in bytes (data offset * 4, 20-60), options included.</summary>
    public int TcpHeaderLength { get; internal init; }

    /// <summary>Offset of the TCP payload in the frame.</summary>
    public int PayloadOffset => TcpOffset + TcpHeaderLength;

    /// <summary>TCP payload length according to the IPv6 payload length (what the sender sent).</summary>
    public int PayloadLength { get; internal init; }

    /// <summary>Payload bytes actually present in the frame; less than <see cref="PayloadLength"/> when the snaplen cut it.</summary>
    public int CapturedPayloadLength { get; internal init; }

    /// <summary>True when the capture cut the payload short.</summary>
    public bool Truncated => CapturedPayloadLength < PayloadLength;

    public Ipv6Address SourceAddress { get; internal init; }

    public Ipv6Address DestinationAddress { get; internal init; }

    public ushort SourcePort { get; internal init; }

    public ushort DestinationPort { get; internal init; }

    public uint Sequence { get; internal init; }

    public uint Acknowledgment { get; internal init; }

    public TcpFlags Flags { get; internal init; }

    /// <summary>Raw window field, not scaled.</summary>
    public ushort Window { get; internal init; }

    /// <summary>IPv6 hop limit (the counterpart of the IPv4 TTL).</summary>
    public byte HopLimit { get; internal init; }

    /// <summary>IPv6 traffic class (the counterpart of the IPv4 TOS byte: DSCP and ECN).</summary>
    public byte TrafficClass { get; internal init; }

    /// <summary>The 20-bit flow label.</summary>
    public uint FlowLabel { get; internal init; }

    public TcpOptions Options { get; internal init; }

    /// <summary>Sequence space this segment occupies: payload plus one each for SYN and FIN.</summary>
    public uint SequenceLength => (uint)PayloadLength + ((Flags & TcpFlags.Syn) != 0 ? 1u : 0u) + ((Flags & TcpFlags.Fin) != 0 ? 1u : 0u);

    /// <summary>Sequence number just past this segment.</summary>
    public uint EndSequence => unchecked(Sequence + SequenceLength);

    public bool HasFlag(TcpFlags flag) => (Flags & flag) == flag;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"[{SourceAddress}]:{SourcePort} > [{DestinationAddress}]:{DestinationPort} [{Flags}] seq {Sequence} ack {Acknowledgment} win {Window} len {PayloadLength} {Options}");
}
