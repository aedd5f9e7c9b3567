using System.Net;

namespace ReplayCluster.Packets;

/// <summary>
/// The result of parsing one IPv4/TCP frame: header fields and offsets into the frame that was parsed. It holds no
/// reference to the buffer, so it can be stored, copied and passed around while the caller keeps (or recycles) the
/// bytes. Offsets are relative to the start of the frame given to <see cref="PacketParser.TryParse"/>.
/// </summary>
/// <remarks>
/// Addresses are <see cref="uint"/> in host numeric order: 10.0.0.1 is <c>0x0A000001</c>, whatever the CPU's byte
/// order, so they compare, mask and print naturally; <see cref="Ipv4Address"/> converts to and from
/// <see cref="IPAddress"/> off the hot path. Rewriting the frame (<see cref="TcpPacketRewriter"/>) does not update a
/// <see cref="TcpPacket"/> value already taken: parse again if you need the new values.
/// </remarks>
public readonly struct TcpPacket
{
    /// <summary>Offset of the IPv4 header in the frame (0 for raw IP, 14 for Ethernet, 18 with one VLAN tag, ...).</summary>
    public int IpOffset { get; internal init; }

    /// <summary>IPv4 header length in bytes (IHL * 4, 20-60).</summary>
    public int IpHeaderLength { get; internal init; }

    /// <summary>IPv4 total length field: IP header + TCP header + payload, as sent (not as captured).</summary>
    public int TotalLength { get; internal init; }

    /// <summary>Offset of the TCP header in the frame.</summary>
    public int TcpOffset => IpOffset + IpHeaderLength;

    /// <summary>TCP header length in bytes (data offset * 4, 20-60), options included.</summary>
    public int TcpHeaderLength { get; internal init; }

    /// <summary>Offset of the TCP payload in the frame.</summary>
    public int PayloadOffset => TcpOffset + TcpHeaderLength;

    /// <summary>Payload length according to the IP total length (what the sender sent).</summary>
    public int PayloadLength { get; internal init; }

    /// <summary>Payload bytes actually present in the frame; less than <see cref="PayloadLength"/> when the snaplen cut it.</summary>
    public int CapturedPayloadLength { get; internal init; }

    /// <summary>True when the capture cut the payload short (<see cref="CapturedPayloadLength"/> &lt; <see cref="PayloadLength"/>).</summary>
    public bool Truncated => CapturedPayloadLength < PayloadLength;

    /// <summary>Source address in host numeric order (10.0.0.1 is 0x0A000001).</summary>
    public uint SourceAddress { get; internal init; }

    /// <summary>Destination address in host numeric order (10.0.0.1 is 0x0A000001).</summary>
    public uint DestinationAddress { get; internal init; }

    public ushort SourcePort { get; internal init; }

    public ushort DestinationPort { get; internal init; }

    public uint Sequence { get; internal init; }

    public uint Acknowledgment { get; internal init; }

    public TcpFlags Flags { get; internal init; }

    /// <summary>Raw window field, not scaled (the scale is only known from the handshake).</summary>
    public ushort Window { get; internal init; }

    public ushort IpId { get; internal init; }

    public byte Ttl { get; internal init; }

    public byte Tos { get; internal init; }

    public bool DontFragment { get; internal init; }

    /// <summary>
    /// True for an IP fragment. <see cref="PacketParser"/> rejects fragments with <see cref="ParseResult.IpFragment"/>,
    /// so a packet it returned with <see cref="ParseResult.Ok"/> always has false here.
    /// </summary>
    public bool IsFragment { get; internal init; }

    public TcpOptions Options { get; internal init; }

    /// <summary>Sequence space this segment occupies: payload plus one each for SYN and FIN.</summary>
    public uint SequenceLength => (uint)PayloadLength + ((Flags & TcpFlags.Syn) != 0 ? 1u : 0u) + ((Flags & TcpFlags.Fin) != 0 ? 1u : 0u);

    /// <summary>Sequence number just past this segment.</summary>
    public uint EndSequence => unchecked(Sequence + SequenceLength);

    public bool HasFlag(TcpFlags flag) => (Flags & flag) == flag;

    /// <summary>Source address as an <see cref="IPAddress"/> (allocates; not for the hot path).</summary>
    public IPAddress GetSourceIPAddress() => Ipv4Address.ToIPAddress(SourceAddress);

    /// <summary>Destination address as an <see cref="IPAddress"/> (allocates; not for the hot path).</summary>
    public IPAddress GetDestinationIPAddress() => Ipv4Address.ToIPAddress(DestinationAddress);

    public override string ToString() =>
        $"{Ipv4Address.Format(SourceAddress)}:{SourcePort} > {Ipv4Address.Format(DestinationAddress)}:{DestinationPort} [{Flags}] seq {Sequence} ack {Acknowledgment} win {Window} len {PayloadLength} {Options}";
}
