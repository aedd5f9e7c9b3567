using Microsoft.Extensions.Logging;

namespace ReplayCluster.Coordinator;

/// <summary>The coordinator's log lines (stable wording: operators and lab tests read them).</summary>
internal static partial class CoordinatorLog
{
    [LoggerMessage(EventId = 400, Level = LogLevel.Information, Message = "Identity slice {Slice} granted to capture node {Node}")]
    public static partial void SliceGranted(ILogger logger, string slice, string node);

    [LoggerMessage(EventId = 401, Level = LogLevel.Information, Message = "Identity slice {Slice} reclaimed from capture node {Node}")]
    public static partial void SliceReclaimed(ILogger logger, string slice, string node);

    [LoggerMessage(EventId = 402, Level = LogLevel.Warning, Message = "No identity slice for capture node {Node}: all {Capacity} slices of {Range} are taken")]
    public static partial void SlicesExhausted(ILogger logger, string node, int capacity, string range);

    [LoggerMessage(EventId = 410, Level = LogLevel.Information, Message = "Replay plan version {Version}: {Plan}")]
    public static partial void PlanAccepted(ILogger logger, long version, string plan);

    [LoggerMessage(EventId = 411, Level = LogLevel.Warning, Message = "Replay plan change refused, the running plan (version {Version}) stays: {Error}")]
    public static partial void PlanRefused(ILogger logger, long version, string error);

    [LoggerMessage(EventId = 412, Level = LogLevel.Information, Message = "Capture node {Node} follows the replay plan ({Subscribers} capture nodes)")]
    public static partial void PlanSubscribed(ILogger logger, string node, int subscribers);

    [LoggerMessage(EventId = 404, Level = LogLevel.Information, Message = "Identity range is now {Range} in /{Prefix} slices; {Holders} capture nodes get new slices")]
    public static partial void RangeChanged(ILogger logger, string range, int prefix, int holders);
}
