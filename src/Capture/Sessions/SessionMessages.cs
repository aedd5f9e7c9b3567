namespace ReplayCluster.Capture.Sessions;

/// <summary>The online connection a captured packet belongs to (client and online server, host order).</summary>
internal readonly record struct OnlineConnection(uint ClientAddress, ushort ClientPort, uint ServerAddress, ushort ServerPort);

/// <summary>A captured client segment on its way from the capture thread to the session manager.</summary>
internal sealed record CapturedPacket(OnlineConnection Connection, CapturedSegment Segment);

/// <summary>The manager's request that each session add what it did since its last report to the node's counters.</summary>
internal sealed class ReportProgress
{
    public static readonly ReportProgress Instance = new();
}
