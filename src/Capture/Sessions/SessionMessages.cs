using ReplayCluster.Replay;

namespace ReplayCluster.Capture.Sessions;

/// <summary>The online connection a captured packet belongs to (client and online server, host order).</summary>
internal readonly record struct OnlineConnection(uint ClientAddress, ushort ClientPort, uint ServerAddress, ushort ServerPort);

/// <summary>
/// A captured client segment on its way from the capture thread to its shard and on to every copy of its
/// session (the same object: the payload is copied once, at capture). <paramref name="Route"/> is the target
/// the pump resolved for it, so nobody resolves it again.
/// </summary>
internal sealed record CapturedPacket(OnlineConnection Connection, CapturedSegment Segment, TargetRoute Route);

/// <summary>The target's replies to one session, in capture order, grouped by its shard from a batch.</summary>
internal sealed class SessionReplies(ResponseRecord[] records)
{
    public ResponseRecord[] Records { get; } = records;
}
