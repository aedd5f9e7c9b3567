using Microsoft.Extensions.Logging;

namespace ReplayCluster.Intercept;

/// <summary>The intercept node's log lines (stable wording).</summary>
internal static partial class InterceptLog
{
    [LoggerMessage(EventId = 300, Level = LogLevel.Information, Message = "Intercept statistics: {Summary}")]
    public static partial void Statistics(ILogger logger, string summary);

    [LoggerMessage(EventId = 301, Level = LogLevel.Information, Message = "Capturing replies on {Interface} with filter '{Filter}'")]
    public static partial void Capturing(ILogger logger, string @interface, string filter);

    [LoggerMessage(EventId = 302, Level = LogLevel.Information, Message = "Capture node {Address} left: dropped its {Count} routes")]
    public static partial void OwnerLeft(ILogger logger, string address, int count);

    [LoggerMessage(EventId = 303, Level = LogLevel.Information, Message = "Kernel capture statistics: received={Received} dropped={Dropped} interface-dropped={InterfaceDropped}")]
    public static partial void KernelStatistics(ILogger logger, long received, long dropped, long interfaceDropped);

    [LoggerMessage(EventId = 304, Level = LogLevel.Information, Message = "Reply channel to capture node {Address} open ({Endpoint}); its replies go through it")]
    public static partial void ChannelOpened(ILogger logger, string address, string endpoint);

    [LoggerMessage(EventId = 305, Level = LogLevel.Warning, Message = "Reply channel to capture node {Address} could not open: {Reason}; replies go through remoting, retrying in {Seconds} s")]
    public static partial void ChannelFailed(ILogger logger, string address, string reason, double seconds);

    [LoggerMessage(EventId = 306, Level = LogLevel.Warning, Message = "Reply channel to capture node {Address} closed after {Frames} frames: {Reason}; replies go through remoting")]
    public static partial void ChannelClosed(ILogger logger, string address, ulong frames, string reason);

    [LoggerMessage(EventId = 307, Level = LogLevel.Information,
        Message = "Reply channel to capture node {Address} closed by that node after {Frames} frames (it stops, or offers a new one); replies go through remoting")]
    public static partial void ChannelEndedByPeer(ILogger logger, string address, ulong frames);
}
