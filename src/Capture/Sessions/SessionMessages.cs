using ReplayCluster.Replay;

namespace ReplayCluster.Capture.Sessions;

/// <summary>The online connection a captured packet belongs to (client and online server, host order).</summary>
internal readonly record struct OnlineConnection(uint ClientAddress, ushort ClientPort, uint ServerAddress, ushort ServerPort);

/// <summary>A captured client segment on its way from the capture thread to the session manager.</summary>
internal sealed record CapturedPacket(OnlineConnection Connection, CapturedSegment Segment);

/// <summary>A session actor's last word: how it ended and what it did since its last progress report.</summary>
internal sealed record SessionEnded(SessionEndpoints Endpoints, SessionEndReason Reason, SessionCounters Counters);

/// <summary>The manager's request for progress; a session answers with <see cref="SessionProgress"/> when something changed.</summary>
internal sealed class ReportProgress
{
    public static readonly ReportProgress Instance = new();
}

/// <summary>What a live session did since its last report.</summary>
internal sealed record SessionProgress(SessionCounters Delta);
