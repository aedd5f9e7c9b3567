namespace ReplayCluster.Protocol;

/// <summary>Marker for messages that cross the wire in ReplayCluster's own binary format.</summary>
internal interface IReplayWireMessage;

/// <summary>
/// Response records for one capture node, batched because per-message remoting cost dominates:
/// single small messages ran at 50-220k msg/s here, batches of 64-256 records at 6-10M records/s.
/// Immutable once built; the array is owned by the batch.
/// </summary>
public sealed class ResponseBatch : IReplayWireMessage
{
    /// <summary>Upper bound on records in one batch; keeps a frame well under the 4 MiB transport limit.</summary>
    public const int MaxRecords = 16_384;

    private readonly ResponseRecord[] _records;

    /// <summary>Creates a batch that takes ownership of <paramref name="records"/>.</summary>
    public ResponseBatch(ResponseRecord[] records)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(records.Length, MaxRecords);
        _records = records;
    }

    /// <summary>The records, in capture order.</summary>
    public ReadOnlySpan<ResponseRecord> Records => _records;

    /// <summary>
    /// The records as memory, for slices that outlive this call (a capture node's shard hands each session its run
    /// of them): the batch owns its array and nobody writes to it after the batch is made, so a slice stays valid.
    /// </summary>
    public ReadOnlyMemory<ResponseRecord> Memory => _records;

    /// <summary>
    /// Where the batch came from on this node (the intercept whose reply channel delivered it), for what is kept per
    /// intercept, such as its clock's offset; null when it came through the cluster (the sender is known there). Not sent.
    /// </summary>
    public object? Origin { get; init; }

    /// <summary>Number of records.</summary>
    public int Count => _records.Length;

    /// <summary>
    /// Records in <paramref name="relayLatency"/> how long each record took from its capture at the
    /// intercept (<see cref="ResponseRecord.CapturedAtNanos"/>, the pcap timestamp) to <paramref name="now"/>.
    /// </summary>
    /// <remarks>
    /// Both ends read the wall clock of their own host: exact in the lab, where every namespace shares
    /// one clock; across hosts the result is off by their clock offset (NTP keeps it to tens of µs on a
    /// LAN, ms on worse), and a negative difference counts as zero.
    /// </remarks>
    public void RecordRelayLatency(Statistics.LatencyHistogram relayLatency, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(relayLatency);
        var nowNanos = ResponseRecord.UnixNanos(now);
        foreach (ref readonly var record in _records.AsSpan())
        {
            relayLatency.RecordMicroseconds((nowNanos - record.CapturedAtNanos) / 1000);
        }
    }
}
