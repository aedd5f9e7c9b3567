using ReplayCluster.Packets;

namespace ReplayCluster.Protocol;

/// <summary>
/// What a session actor needs to know about one reply the target sent: addresses, sequence space,
/// window, flags, payload length and the TCP options it negotiates with. The intercept builds one per
/// captured reply; the payload itself never travels (its length is all the session uses).
/// Both addresses are of the session's family, IPv4 or IPv6 (<see cref="NetAddress"/>).
/// </summary>
/// <remarks>Auto layout: the runtime orders the fields to pad least (batches hold arrays of records).</remarks>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Auto)]
public readonly record struct ResponseRecord
{
    /// <summary>Encoded size in bytes; the wire format is fixed-size so a batch is one bounds check.</summary>
    public const int EncodedSize = SessionEndpoints.EncodedSize + 33;

    /// <summary>The replayed client's address (the reply's destination).</summary>
    public required NetAddress ClientAddress { get; init; }

    /// <summary>The replayed client's port (the reply's destination port).</summary>
    public required ushort ClientPort { get; init; }

    /// <summary>The target's address (the reply's source).</summary>
    public required NetAddress TargetAddress { get; init; }

    /// <summary>The target's port (the reply's source port).</summary>
    public required ushort TargetPort { get; init; }

    /// <summary>The reply's sequence number (the target's sequence space).</summary>
    public required uint Sequence { get; init; }

    /// <summary>The reply's acknowledgment number (the client's sequence space).</summary>
    public required uint Acknowledgment { get; init; }

    /// <summary>The advertised window as sent, before window scaling.</summary>
    public required ushort Window { get; init; }

    /// <summary>TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, ...).</summary>
    public required byte Flags { get; init; }

    /// <summary>Payload length from the IP total length (not the captured length: snaplen may cut it).</summary>
    public required ushort PayloadLength { get; init; }

    /// <summary>MSS option value; 0 when absent (only SYN-ACKs carry it).</summary>
    public ushort Mss { get; init; }

    /// <summary>Window-scale shift; <see cref="NoWindowScale"/> when absent.</summary>
    public byte WindowScale { get; init; } = NoWindowScale;

    /// <summary>Whether the reply carried a timestamp option (then <see cref="TsVal"/>/<see cref="TsEcr"/> hold).</summary>
    public bool HasTimestamp { get; init; }

    /// <summary>Whether the reply (a SYN-ACK) permitted SACK.</summary>
    public bool SackPermitted { get; init; }

    /// <summary>Timestamp value of the target.</summary>
    public uint TsVal { get; init; }

    /// <summary>Timestamp echo reply.</summary>
    public uint TsEcr { get; init; }

    /// <summary>When the intercept captured the reply, in nanoseconds since the Unix epoch.</summary>
    public long CapturedAtNanos { get; init; }

    /// <summary><paramref name="moment"/> in the unit of <see cref="CapturedAtNanos"/>: nanoseconds since the Unix epoch.</summary>
    public static long UnixNanos(DateTimeOffset moment) => (moment.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;

    /// <summary>Marker for "no window-scale option".</summary>
    public const byte NoWindowScale = 0xFF;

    public ResponseRecord()
    {
    }
}
