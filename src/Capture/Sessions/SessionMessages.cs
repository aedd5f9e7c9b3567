using ReplayCluster.Packets;
using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Sessions;

/// <summary>The online connection a captured packet belongs to (client and online server, one family).</summary>
/// <remarks>Auto layout, 40 bytes rather than 48, as <see cref="SessionEndpoints"/>.</remarks>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Auto)]
internal readonly record struct OnlineConnection(NetAddress ClientAddress, ushort ClientPort, NetAddress ServerAddress, ushort ServerPort);

/// <summary>
/// A captured client segment on its way from the capture thread to its shard and on to every copy of its
/// session (the same object: the payload is copied once, at capture). <see cref="Route"/> is the target the pump
/// resolved for it, so nobody resolves it again: carried as the plan's mapping and its place there, 12 bytes
/// instead of the route's 56 (one of these per captured packet was a third of the bytes the node allocated at
/// keep-alive: bench/README.md, "Allocations on the capture path").
/// </summary>
internal sealed record CapturedPacket(OnlineConnection Connection, CapturedSegment Segment, TargetMapping Targets, int RouteIndex)
{
    /// <summary>Where the packet's session is replayed.</summary>
    public TargetRoute Route => Targets.Routes[RouteIndex];
}

/// <summary>
/// The captured packets of one capture burst (one ring block, or what one libpcap dispatch handed over) that hash
/// to one shard, in capture order: the capture thread sends them as one message at the end of the burst, so a shard
/// wakes once per burst instead of once per packet. The list is the shard's once sent.
/// </summary>
internal sealed class CapturedBurst(List<CapturedPacket> packets)
{
    public List<CapturedPacket> Packets { get; } = packets;
}

/// <summary>
/// The target's replies to one session, in capture order, grouped by its shard from a batch: a slice of the batch's
/// own records (a batch is never changed once made), not a copy; the copies were ~9 % of the bytes the capture node
/// allocated at ~1k connections/s (bench/README.md).
/// </summary>
internal sealed class SessionReplies(ReadOnlyMemory<ResponseRecord> records)
{
    public ReadOnlyMemory<ResponseRecord> Records { get; } = records;
}
