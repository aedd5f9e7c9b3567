using Microsoft.Extensions.Logging;

namespace ReplayCluster.Coordinator.Http;

/// <summary>The HTTP API's log lines (stable wording: operators and lab tests read them).</summary>
internal static partial class HttpApiLog
{
    [LoggerMessage(EventId = 440, Level = LogLevel.Warning,
        Message = "HTTP API refused {Method} {Path} from {Remote} ({Reason}): {Detail}; {Unlogged} earlier refusals of this kind not logged")]
    public static partial void Refused(ILogger logger, string reason, string method, string path, string remote, string detail, long unlogged);

    [LoggerMessage(EventId = 403, Level = LogLevel.Information,
        Message = "Dashboard on {Scheme}://{Endpoint}/ ; status API and Prometheus metrics on {Scheme}://{Endpoint}/api/status and /metrics, with the bearer token in {TokenFile}")]
    public static partial void Listening(ILogger logger, string scheme, string endpoint, string tokenFile);

    [LoggerMessage(EventId = 441, Level = LogLevel.Information, Message = "HTTP API token created in {File} (mode 0600); the CLI and the dashboard need it")]
    public static partial void TokenCreated(ILogger logger, string file);

    [LoggerMessage(EventId = 442, Level = LogLevel.Information, Message = "HTTP API token read from {File}")]
    public static partial void TokenRead(ILogger logger, string file);
}
