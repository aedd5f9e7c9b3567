using Microsoft.Extensions.Logging;

namespace ReplayCluster.Coordinator;

/// <summary>The coordinator's log lines (stable wording: operators and lab tests read them).</summary>
internal static partial class CoordinatorLog
{
    [LoggerMessage(EventId = 400, Level = LogLevel.Information, Message = "Identity slice {Slice} granted to capture node {Node}")]
    public static partial void SliceGranted(ILogger logger, string slice, string node);

    [LoggerMessage(EventId = 401, Level = LogLevel.Information, Message = "Identity slice {Slice} reclaimed from capture node {Node}")]
    public static partial void SliceReclaimed(ILogger logger, string slice, string node);

    [LoggerMessage(EventId = 403, Level = LogLevel.Information, Message = "Dashboard on http://{Endpoint}/ ; status API and Prometheus metrics on http://{Endpoint}/api/status and /metrics")]
    public static partial void HttpListening(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 402, Level = LogLevel.Warning, Message = "No identity slice for capture node {Node}: all {Capacity} slices of {Range} are taken")]
    public static partial void SlicesExhausted(ILogger logger, string node, int capacity, string range);
}
