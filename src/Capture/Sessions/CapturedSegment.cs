using ReplayCluster.Packets;

namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// A client-to-server segment as captured on the online host. The payload is a private copy (the capture
/// buffer is reused) that nobody writes: every copy (session) of the connection holds slices of it until
/// the target acknowledged them, none copies it again. Sequence and acknowledgment are in the online connection's
/// spaces; the session translates acknowledgments, never the client's sequence numbers.
/// </summary>
internal readonly record struct CapturedSegment
{
    public required uint Sequence { get; init; }

    public required uint Acknowledgment { get; init; }

    public required TcpFlags Flags { get; init; }

    public ReadOnlyMemory<byte> Payload { get; init; }

    /// <summary>MSS option of a SYN; 0 when absent.</summary>
    public ushort Mss { get; init; }

    /// <summary>Timestamp value the client sent, when it used timestamps.</summary>
    public uint? TsVal { get; init; }

    /// <summary>
    /// When the capture saw the segment, in nanoseconds since the Unix epoch (the pcap timestamp; for a
    /// pcap file, the recorded one). Differences between a session's segments are the recorded client's
    /// rhythm; 0 when unknown (tests that do not care).
    /// </summary>
    public long CapturedAtNanos { get; init; }

    public bool HasFlag(TcpFlags flag) => (Flags & flag) == flag;
}
