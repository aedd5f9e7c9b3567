using System.Globalization;
using System.Text.RegularExpressions;
using ReplayCluster.Lab.Tests.Lab;
using LabHost = ReplayCluster.Lab.Tests.Lab.Lab;

namespace ReplayCluster.Lab.Tests.Replay;

/// <summary>
/// Load whose every request carries a unique id (<c>?id=RUN-N</c>), and the request-by-request comparison
/// of the online and target access logs: missing, duplicated, and how long the target kept growing after
/// the load ended.
/// </summary>
internal static partial class UniqueIdLoad
{
    /// <summary>A run name: <paramref name="name"/> and 6 random hex digits, so the requests of a run are its alone in the logs.</summary>
    public static string NewRun(string name) => $"{name}{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3))}";

    /// <summary>Runs wrk (one thread, Connection: close) from the client with <c>unique_ids.lua</c>; returns when it exits.</summary>
    public static async Task<WrkResult> RunShortConnectionsAsync(LabHost lab, string run, int connections, TimeSpan duration, int delayMs, CancellationToken cancellation)
    {
        var script = Path.Combine(LabHost.FindRepositoryRoot(), "tests", "ReplayCluster.Lab.Tests", "Replay", "unique_ids.lua");
        var seconds = Math.Max(1, (int)Math.Ceiling(duration.TotalSeconds));
        var result = await lab.ExecAsync(LabRole.Client,
            ["env", $"RUN={run}", $"DELAY={delayMs.ToString(CultureInfo.InvariantCulture)}",
             "wrk", "-t1", $"-c{connections.ToString(CultureInfo.InvariantCulture)}", $"-d{seconds.ToString(CultureInfo.InvariantCulture)}s", "--timeout", "2s",
             "-H", "Connection: close", "-s", script, $"http://{lab.OnlineIp}:{lab.OnlineNginxPort}/"],
            TimeSpan.FromSeconds(seconds + 15), cancellation);
        result.EnsureSuccess("wrk");
        return WrkResult.Parse(result.StdOut);
    }

    /// <summary>
    /// Waits until the target has every id of <paramref name="run"/> the online host logged, or its count
    /// stopped changing for <paramref name="quiet"/>, then compares. Drain is measured from
    /// <paramref name="loadEnded"/> to the target's last new line.
    /// </summary>
    public static async Task<Comparison> CompareAsync(LabHost lab, string run, DateTime loadEnded, TimeSpan quiet, TimeSpan timeout, CancellationToken cancellation)
    {
        var deadline = DateTime.UtcNow + timeout;
        var online = await lab.WaitForStableOnlineRequestCountAsync(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(10), cancellation);
        _ = online;
        var onlineIds = Ids(lab.ReadAccessLog(LabRole.Online), run);
        var lastCount = -1;
        var lastChange = DateTime.UtcNow;
        var longestQuiet = TimeSpan.Zero;
        while (DateTime.UtcNow < deadline)
        {
            var count = TargetLines(lab, run);
            if (count != lastCount)
            {
                // A quiet spell that ended with growth: the replay was behind and made no progress for that long.
                longestQuiet = TimeSpan.FromTicks(Math.Max(longestQuiet.Ticks, (DateTime.UtcNow - lastChange).Ticks));
                lastCount = count;
                lastChange = DateTime.UtcNow;
            }
            else if (count >= onlineIds.Count && DateTime.UtcNow - lastChange > TimeSpan.FromSeconds(1))
            {
                break;
            }
            else if (DateTime.UtcNow - lastChange > quiet)
            {
                break;
            }

            await Task.Delay(100, cancellation);
        }

        var target = lab.ReadAccessLog(LabRole.Target).Where(e => IdOf(e.Request, run) is not null).Select(e => IdOf(e.Request, run)!).ToList();
        var targetIds = target.ToHashSet(StringComparer.Ordinal);
        return new Comparison(
            run,
            onlineIds.Count,
            target.Count,
            onlineIds.Count(id => !targetIds.Contains(id)),
            target.Count - targetIds.Count,
            targetIds.Count(id => !onlineIds.Contains(id)),
            Math.Max(0, (lastChange - loadEnded).TotalSeconds),
            longestQuiet.TotalSeconds);
    }

    /// <summary>TCP extension counters (<c>/proc/net/netstat</c>, TcpExt) of a lab host: TcpExtPAWSTimewait, TcpExtTW, ...</summary>
    public static async Task<IReadOnlyDictionary<string, long>> TcpExtAsync(LabHost lab, LabRole role, CancellationToken cancellation)
    {
        var result = await lab.ExecAsync(role, ["cat", "/proc/net/netstat"], cancellationToken: cancellation);
        result.EnsureSuccess("cat /proc/net/netstat");
        var lines = result.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("TcpExt:", StringComparison.Ordinal)).ToArray();
        var counters = new Dictionary<string, long>(StringComparer.Ordinal);
        if (lines.Length >= 2)
        {
            var names = lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var values = lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            for (var i = 1; i < Math.Min(names.Length, values.Length); i++)
            {
                counters["TcpExt" + names[i]] = long.Parse(values[i], CultureInfo.InvariantCulture);
            }
        }

        return counters;
    }

    /// <summary>The counters that moved between two readings, as "name +delta" (for test output).</summary>
    public static string Deltas(IReadOnlyDictionary<string, long> before, IReadOnlyDictionary<string, long> after) =>
        string.Join(", ", after.Where(a => a.Value != before.GetValueOrDefault(a.Key))
            .Select(a => string.Create(CultureInfo.InvariantCulture, $"{a.Key} +{a.Value - before.GetValueOrDefault(a.Key)}")));

    /// <summary>Connections the host holds in TIME_WAIT right now.</summary>
    public static async Task<int> TimeWaitCountAsync(LabHost lab, LabRole role, CancellationToken cancellation)
    {
        var result = await lab.ExecAsync(role, ["ss", "-tanH", "state", "time-wait"], cancellationToken: cancellation);
        return result.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
    }

    /// <summary>Sessions that ended for <paramref name="reason"/> in a capture node's latest statistics line (0 when absent).</summary>
    public static long EndedFor(string statisticsLine, string reason)
    {
        // "sessions_ended=N (reason=n ...)": the family's series, by lower-case reason (none yet: no parentheses).
        if (statisticsLine.Length == 0)
        {
            return 0; // no line yet
        }

        var ended = Regex.Match(statisticsLine, @"\bsessions_ended=\d+(?: \(([^)]*)\))?");
        Assert.True(ended.Success, $"no sessions_ended in the statistics line: {statisticsLine}");
        var m = Regex.Match(ended.Groups[1].Value, $@"\b{Regex.Escape(reason.ToLowerInvariant())}=(\d+)");
        return m.Success ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }

    /// <summary>The capture node's latest statistics line.</summary>
    public static string LatestStatistics(LabProcess capture) =>
        capture.Lines.LastOrDefault(l => l.Contains("Capture statistics", StringComparison.Ordinal)) ?? string.Empty;

    // Polled every 100 ms while the target catches up: a plain scan, not a parse of every line.
    private static int TargetLines(LabHost lab, string run)
    {
        var marker = $"id={run}-";
        using var stream = new FileStream(lab.TargetAccessLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        var count = 0;
        while (reader.ReadLine() is { } line)
        {
            if (line.Contains(marker, StringComparison.Ordinal))
            {
                count++;
            }
        }

        return count;
    }

    private static HashSet<string> Ids(IEnumerable<AccessLogEntry> entries, string run) =>
        entries.Select(e => IdOf(e.Request, run)).OfType<string>().ToHashSet(StringComparer.Ordinal);

    private static string? IdOf(string request, string run)
    {
        var m = IdPattern().Match(request);
        return m.Success && m.Groups[1].Value.StartsWith(run + "-", StringComparison.Ordinal) ? m.Groups[1].Value : null;
    }

    [GeneratedRegex(@"[?&]id=([A-Za-z0-9._-]+)")]
    private static partial Regex IdPattern();

    /// <summary>One run's comparison.</summary>
    /// <param name="Run">The id prefix.</param>
    /// <param name="Online">Distinct ids the online host logged.</param>
    /// <param name="TargetLines">Lines of this run at the target.</param>
    /// <param name="Missing">Online ids the target never logged.</param>
    /// <param name="Duplicated">Target lines beyond one per id.</param>
    /// <param name="Unknown">Target ids the online host never logged.</param>
    /// <param name="DrainSeconds">From the end of the load to the target's last new line.</param>
    /// <param name="LongestQuietSeconds">The longest time the target's count stood still before it grew again (a stall while behind).</param>
    public sealed record Comparison(string Run, int Online, int TargetLines, int Missing, int Duplicated, int Unknown, double DrainSeconds, double LongestQuietSeconds = 0)
    {
        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"{Run}: online {Online}, target {TargetLines}, missing {Missing}, duplicated {Duplicated}, unknown {Unknown}, drain {DrainSeconds:0.0} s, longest stall {LongestQuietSeconds:0.0} s");
    }
}
