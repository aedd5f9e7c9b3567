using Akka.Actor;
using ReplayCluster.Protocol;

namespace ReplayCluster.Comparison;

/// <summary>Messages of response comparison between nodes, serialized by <see cref="ComparisonMessageSerializer"/> (bound in hocon/common.hocon).</summary>
#pragma warning disable CA1040 // A marker interface: the serialization binding names it.
internal interface IComparisonWireMessage;
#pragma warning restore CA1040

/// <summary>
/// Capture node to every intercept: the replayed sessions (endpoints at the target) chosen for comparison that started
/// or ended; the intercept sends their full replies to <paramref name="Owner"/>, the capture node's comparison collector.
/// </summary>
public sealed record CompareSessions(IActorRef Owner, IReadOnlyList<SessionEndpoints> Started, IReadOnlyList<SessionEndpoints> Ended) : IComparisonWireMessage
{
    /// <summary>Entries per list in one message: far above the sessions a node starts between two of its sends.</summary>
    public const int MaxEntries = 4096;
}

/// <summary>One captured reply segment of a compared session at the target: its sequence number, TCP flags and payload.</summary>
public readonly record struct TargetSegment(SessionEndpoints Endpoints, uint Sequence, byte Flags, ReadOnlyMemory<byte> Payload);

/// <summary>Intercept to a capture node's comparison collector: reply segments of its compared sessions, in capture order.</summary>
public sealed record TargetReplySegments(IReadOnlyList<TargetSegment> Segments) : IComparisonWireMessage
{
    /// <summary>Segments per message.</summary>
    public const int MaxSegments = 4096;

    /// <summary>Payload bytes per message: well inside remoting's 4 MiB frame (hocon/common.hocon), small enough not to hold up other messages.</summary>
    public const int MaxPayloadBytes = 96 * 1024;
}

/// <summary>Capture node to the coordinator: what its engine compared since its previous report (<see cref="ComparisonEngine.TakeDelta"/>), as JSON.</summary>
public sealed record ComparisonSummaryReport(string Json) : IComparisonWireMessage
{
    /// <summary>A summary is bounded by its budget (100 endpoints x 64 fields, examples of 120 characters): far below this.</summary>
    public const int MaxJsonBytes = 2 * 1024 * 1024;
}
