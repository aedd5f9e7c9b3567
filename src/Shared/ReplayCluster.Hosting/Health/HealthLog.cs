using Microsoft.Extensions.Logging;

namespace ReplayCluster.Health;

internal static partial class HealthLog
{
    [LoggerMessage(EventId = 1500, Level = LogLevel.Information, Message = "Health endpoint on http://{Endpoint}/healthz and /readyz")]
    public static partial void Listening(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 1501, Level = LogLevel.Debug, Message = "Health request from {Remote} dropped: {Reason}")]
    public static partial void Dropped(ILogger logger, string remote, string reason);
}
