using System.Globalization;
using System.Text;
using ReplayCluster.Statistics;

namespace ReplayCluster.Coordinator.Statistics;

/// <summary>
/// One run, from start to stop: what tcpcopy users compute from access logs by hand. Online requests
/// are counted once each (the sessions chosen for replay), replayed ones once per copy that the target
/// acknowledged. Every captured request is replayed, in flight or lost: the loss ratio is lost / captured
/// over all copies, with the reasons named, and requests still in flight when the run stopped are shown
/// apart (a replay that is behind has lost nothing).
/// </summary>
internal sealed record RunReport(
    DateTimeOffset StartedAt,
    DateTimeOffset? StoppedAt,
    double DurationSeconds,
    long OnlineRequests,
    long ReplayedRequests,
    double LossRatio,
    double OnlineRequestRate,
    double ReplayedRequestRate,
    long Retransmissions,
    IReadOnlyDictionary<string, long> SessionsEnded)
{
    /// <summary>Replayed / online requests: the copies at work (0 without online requests).</summary>
    public double Amplification => OnlineRequests > 0 ? (double)ReplayedRequests / OnlineRequests : 0;

    /// <summary>How long the run was planned to last (it stops itself then); null for a run stopped by hand.</summary>
    public double? PlannedDurationSeconds { get; init; }

    /// <summary>Requests captured during the run, over all copies.</summary>
    public long CapturedRequests { get; init; }

    /// <summary>Requests lost during the run: their session ended before the target acknowledged them.</summary>
    public long LostRequests { get; init; }

    /// <summary><see cref="LostRequests"/> by the end reason of their session.</summary>
    public IReadOnlyDictionary<string, long> LostByReason { get; init; } = new Dictionary<string, long>();

    /// <summary>Requests the capture nodes still held, unacknowledged, when the report was made.</summary>
    public long InFlightRequests { get; init; }

    /// <summary>Reply latency percentiles of the requests replayed during the run.</summary>
    public LatencyPercentiles ReplyLatency { get; init; } = LatencyPercentiles.Empty;

    /// <summary>Relay latency percentiles (intercept capture to capture node) of the replies relayed during the run.</summary>
    public LatencyPercentiles RelayLatency { get; init; } = LatencyPercentiles.Empty;

    /// <summary>The human summary (the CLI's <c>report</c>).</summary>
    public string Summary()
    {
        var planned = PlannedDurationSeconds is { } p ? string.Create(CultureInfo.InvariantCulture, $", planned {p:0.###} s") : string.Empty;
        var text = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"run              {StartedAt:u} - {(StoppedAt is { } end ? end.ToString("u", CultureInfo.InvariantCulture) : "running")} ({DurationSeconds:F1} s{planned})")
            .AppendLine(CultureInfo.InvariantCulture, $"online requests  {OnlineRequests} ({OnlineRequestRate:F1}/s)")
            .AppendLine(CultureInfo.InvariantCulture, $"replayed         {ReplayedRequests} ({ReplayedRequestRate:F1}/s)")
            .AppendLine(CultureInfo.InvariantCulture, $"amplification    {Amplification:F2}x  replayed / online")
            .AppendLine(CultureInfo.InvariantCulture, $"captured         {CapturedRequests}  (all copies)")
            .AppendLine(CultureInfo.InvariantCulture, $"in flight        {InFlightRequests}  (held by live sessions, not yet acknowledged)")
            .AppendLine(CultureInfo.InvariantCulture, $"lost             {LostRequests}{string.Concat(LostByReason.Where(l => l.Value > 0).OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $" {l.Key}={l.Value}"))}")
            .AppendLine(CultureInfo.InvariantCulture, $"loss ratio       {LossRatio:F6}  lost / captured, over all copies")
            .AppendLine(CultureInfo.InvariantCulture, $"reply latency    {ReplyLatency.Describe()}")
            .AppendLine(CultureInfo.InvariantCulture, $"relay latency    {RelayLatency.Describe()}")
            .AppendLine(CultureInfo.InvariantCulture, $"retransmissions  {Retransmissions}");
        foreach (var (reason, count) in SessionsEnded.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"{"sessions " + reason,-16} {count}");
        }

        return text.ToString();
    }
}

/// <summary>Starts a run (answer: <see cref="RunReport"/> of the new run); one with a duration stops itself after it.</summary>
internal sealed record StartRun(TimeSpan? Duration = null)
{
    public static readonly StartRun Instance = new();
}

/// <summary>Stops the current run (answer: its final <see cref="RunReport"/>, or <see cref="NoRun"/>).</summary>
internal sealed class StopRun
{
    public static readonly StopRun Instance = new();
}

/// <summary>Asks for the current or last run's report (answer: <see cref="RunReport"/> or <see cref="NoRun"/>).</summary>
internal sealed class GetRunReport
{
    public static readonly GetRunReport Instance = new();
}

/// <summary>There is no run to report on.</summary>
internal sealed class NoRun
{
    public static readonly NoRun Instance = new();
}
