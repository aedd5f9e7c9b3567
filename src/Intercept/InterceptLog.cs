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
}
