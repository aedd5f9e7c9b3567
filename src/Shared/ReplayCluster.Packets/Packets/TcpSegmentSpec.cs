namespace ReplayCluster.Packets;

/// <summary>A TCP timestamp option value pair (RFC 7323).</summary>
public readonly record struct TcpTimestamp(uint TsVal, uint TsEcr);

/// <summary>
/// Everything <see cref="TcpPacketBuilder"/> needs to write an IPv4+TCP header; the payload is passed separately as
/// a span so the spec stays a small copyable value. Addresses are host numeric order (10.0.0.1 = 0x0A000001).
/// </summary>
/// <remarks>
/// Use <c>new TcpSegmentSpec { ... }</c>: the parameterless constructor applies the defaults (TTL 64, DF set, as
/// Linux sends TCP). <c>default(TcpSegmentSpec)</c> bypasses them and would write TTL 0.
/// </remarks>
public readonly record struct TcpSegmentSpec
{
    public TcpSegmentSpec()
    {
    }

    /// <summary>
    /// The source address; its family chooses the IP header (<see cref="TcpPacketBuilder"/> or
    /// <see cref="Ipv6TcpPacketBuilder"/>). Defaults to IPv4 0.0.0.0, as the address was before it had a family.
    /// </summary>
    public NetAddress SourceAddress { get; init; } = NetAddress.FromIpv4(0);

    /// <summary>The destination address, of the source's family. Defaults to IPv4 0.0.0.0.</summary>
    public NetAddress DestinationAddress { get; init; } = NetAddress.FromIpv4(0);

    public ushort SourcePort { get; init; }

    public ushort DestinationPort { get; init; }

    public uint Sequence { get; init; }

    public uint Acknowledgment { get; init; }

    public TcpFlags Flags { get; init; }

    /// <summary>Raw (unscaled) window field.</summary>
    public ushort Window { get; init; }

    public ushort IpId { get; init; }

    /// <summary>IP time to live. Defaults to 64 (Linux's default).</summary>
    public byte Ttl { get; init; } = 64;

    public byte Tos { get; init; }

    /// <summary>IP Don't Fragment flag. Defaults to true (Linux sets DF on TCP: path MTU discovery).</summary>
    public bool DontFragment { get; init; } = true;

    /// <summary>MSS option to write, or null for none.</summary>
    public ushort? Mss { get; init; }

    /// <summary>Window scale option (shift count) to write, or null for none.</summary>
    public byte? WindowScale { get; init; }

    /// <summary>Write the SACK-permitted option.</summary>
    public bool SackPermitted { get; init; }

    /// <summary>Timestamp option to write, or null for none.</summary>
    public TcpTimestamp? Timestamp { get; init; }

    /// <summary>Length in bytes of the option area the builder writes for this spec (a multiple of 4, at most 24).</summary>
    public int OptionsLength =>
        (Mss.HasValue ? 4 : 0)
        + (Timestamp.HasValue ? 12 : SackPermitted ? 4 : 0)
        + (WindowScale.HasValue ? 4 : 0);

    /// <summary>IP + TCP header length for this spec.</summary>
    public int HeadersLength => 40 + OptionsLength;
}
