using Microsoft.Extensions.Logging;

namespace ReplayCluster.Capture;

/// <summary>The capture node's log lines (stable wording: operators and lab tests read them).</summary>
internal static partial class CaptureLog
{
    [LoggerMessage(EventId = 200, Level = LogLevel.Information, Message = "Capture statistics: {Summary}")]
    public static partial void Statistics(ILogger logger, string summary);

    [LoggerMessage(EventId = 201, Level = LogLevel.Information, Message = "Capturing on {Interface} with filter '{Filter}'; replaying to {Targets}")]
    public static partial void CapturingLive(ILogger logger, string @interface, string filter, string targets);

    [LoggerMessage(EventId = 222, Level = LogLevel.Information,
        Message = "The capture on {Interface} is read by the {Shards} shard threads: {Buffer} of ring each, the kernel gives each connection to one")]
    public static partial void CapturingOnShardThreads(ILogger logger, string @interface, int shards, string buffer);

    [LoggerMessage(EventId = 202, Level = LogLevel.Information, Message = "Replaying {File} at speed {Speed} x{Loop}; to {Targets}")]
    public static partial void ReplayingFile(ILogger logger, string file, double speed, int loop, string targets);

    [LoggerMessage(EventId = 203, Level = LogLevel.Information, Message = "Pcap file replay finished: {Packets} packets read")]
    public static partial void FileFinished(ILogger logger, long packets);

    [LoggerMessage(EventId = 204, Level = LogLevel.Error, Message = "Capture stopped: {Reason}")]
    public static partial void CaptureFailed(ILogger logger, Exception exception, string reason);

    [LoggerMessage(EventId = 205, Level = LogLevel.Warning, Message = "Session {Endpoints} failed and was stopped: {Error}")]
    public static partial void SessionFailed(ILogger logger, string endpoints, string error);

    [LoggerMessage(EventId = 221, Level = LogLevel.Warning,
        Message = "No identity for client {Client} toward {Target}: {Reason}; {Refused} sessions refused so far")]
    public static partial void NoIdentity(ILogger logger, string client, string target, string reason, long refused);

    [LoggerMessage(EventId = 206, Level = LogLevel.Information, Message = "Intercept node {Address} joined: announcing {Count} live sessions")]
    public static partial void InterceptJoined(ILogger logger, string address, int count);

    [LoggerMessage(EventId = 220, Level = LogLevel.Information,
        Message = "Intercept node {Address} connected no reply channel within {Seconds} s: counting it as ready, its replies travel by remoting")]
    public static partial void InterceptAcceptWaitedOut(ILogger logger, string address, double seconds);

    [LoggerMessage(EventId = 208, Level = LogLevel.Warning, Message = "Not capturing yet after {Seconds} s: {Reason}")]
    public static partial void NotReady(ILogger logger, long seconds, string reason);

    [LoggerMessage(EventId = 209, Level = LogLevel.Information, Message = "Using identity slice {Range} from the coordinator for replayed clients")]
    public static partial void SliceGranted(ILogger logger, string range);

    [LoggerMessage(EventId = 210, Level = LogLevel.Warning, Message = "No identity slice ({Reason}): not replaying until the coordinator grants one (never with the real client addresses)")]
    public static partial void SliceRefused(ILogger logger, string reason);

    [LoggerMessage(EventId = 207, Level = LogLevel.Information, Message = "Kernel capture statistics: received={Received} dropped={Dropped} interface-dropped={InterfaceDropped}")]
    public static partial void KernelStatistics(ILogger logger, long received, long dropped, long interfaceDropped);

    [LoggerMessage(EventId = 211, Level = LogLevel.Information, Message = "Following replay plan version {Version}: copies={Copies} sample-percent={SamplePercent} rate-cap={RateCap} filter={Filter}")]
    public static partial void PlanApplied(ILogger logger, long version, int copies, double samplePercent, string rateCap, string filter);

    [LoggerMessage(EventId = 212, Level = LogLevel.Warning, Message = "No replay plan from the coordinator yet; {Consequence}")]
    public static partial void PlanUnanswered(ILogger logger, string consequence);

    [LoggerMessage(EventId = 213, Level = LogLevel.Error, Message = "Replay plan version {Version} cannot be applied, keeping the current one: {Problem}")]
    public static partial void PlanUnusable(ILogger logger, long version, string problem);

    [LoggerMessage(EventId = 214, Level = LogLevel.Information, Message = "Capture filter is now {Filter} (targets {Targets})")]
    public static partial void FilterChanged(ILogger logger, string filter, string targets);

    [LoggerMessage(EventId = 215, Level = LogLevel.Error, Message = "Capture filter {Filter} could not be applied: {Problem}")]
    public static partial void FilterChangeFailed(ILogger logger, Exception exception, string filter, string problem);

    [LoggerMessage(EventId = 216, Level = LogLevel.Information, Message = "Capture stopped; drained for {Seconds:F1} s: requests in flight {Before} -> {After}, {Live} sessions still live (aborted on shutdown)")]
    public static partial void Drained(ILogger logger, long before, long after, double seconds, long live);

    [LoggerMessage(EventId = 217, Level = LogLevel.Information, Message = "Reply channel listening on {Endpoint} (offered to intercepts as {PublicHost}:{Port})")]
    public static partial void ReplyChannelListening(ILogger logger, string endpoint, string publicHost, int port);

    [LoggerMessage(EventId = 218, Level = LogLevel.Information, Message = "Reply channel from {Remote} opened")]
    public static partial void ReplyChannelOpened(ILogger logger, string remote);

    [LoggerMessage(EventId = 219, Level = LogLevel.Information, Message = "Reply channel from {Remote} closed after {Frames} frames: {Reason}")]
    public static partial void ReplyChannelClosed(ILogger logger, string remote, ulong frames, string reason);
}
