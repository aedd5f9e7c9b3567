using Akka.Actor;
using Microsoft.Extensions.Logging;

namespace ReplayCluster.Capture.Sessions;

/// <summary>Logs the node's statistics line at its interval, and a last one when the node stops.</summary>
internal sealed class CaptureStatisticsLog : ReceiveActor, IWithTimers
{
    private readonly CaptureNodeStatistics _statistics;
    private readonly TimeSpan _interval;
    private readonly ILogger _logger;

    public CaptureStatisticsLog(CaptureNodeStatistics statistics, TimeSpan interval, ILogger logger)
    {
        _statistics = statistics;
        _interval = interval;
        _logger = logger;
        Receive<Log>(_ => CaptureLog.Statistics(_logger, _statistics.Summary()));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(CaptureNodeStatistics statistics, TimeSpan interval, ILogger logger) =>
        Akka.Actor.Props.Create(() => new CaptureStatisticsLog(statistics, interval, logger));

    protected override void PreStart() => Timers.StartPeriodicTimer("log", Log.Instance, _interval);

    protected override void PostStop() => CaptureLog.Statistics(_logger, _statistics.Summary());

    private sealed class Log
    {
        public static readonly Log Instance = new();
    }
}
