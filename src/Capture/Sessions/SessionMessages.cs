using ReplayCluster.Replay;

namespace ReplayCluster.Capture.Sessions;

/// <summary>The online connection a captured packet belongs to (client and online server, host order).</summary>
internal readonly record struct OnlineConnection(uint ClientAddress, ushort ClientPort, uint ServerAddress, ushort ServerPort);

/// <summary>A captured client segment on its way from the capture thread to the session manager.</summary>
internal sealed record CapturedPacket(OnlineConnection Connection, CapturedSegment Segment);

/// <summary>A session actor's last word: how it ended and what it did.</summary>
internal sealed record SessionEnded(SessionEndpoints Endpoints, SessionEndReason Reason, SessionCounters Counters);
