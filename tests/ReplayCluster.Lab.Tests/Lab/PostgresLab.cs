using System.Globalization;

namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>
/// PostgreSQL in a running lab, added by <c>deploy/lab/lab.sh postgres</c>: one cluster on the online host (on
/// <see cref="Lab.OnlineIp"/>) and one on the target (on <see cref="Lab.TargetIp"/>), port 5432, database and user
/// <c>postgres</c>, trust auth for the lab and the fake range. <c>lab.sh down</c> (disposing the lab) stops them by PID.
/// Administrative queries run inside each host's own namespace, so they never cross a capture on the client side.
/// </summary>
public sealed class PostgresLab
{
    /// <summary>The port every lab cluster listens on.</summary>
    public const int Port = 5432;

    private readonly Lab _lab;

    private PostgresLab(Lab lab, IReadOnlyDictionary<string, string> facts)
    {
        _lab = lab;
        Facts = facts;
        BinDirectory = Fact("PG_BIN");
        OnlinePid = int.Parse(Fact("ONLINE_PG_PID"), CultureInfo.InvariantCulture);
        TargetPid = int.Parse(Fact("TARGET_PG_PID"), CultureInfo.InvariantCulture);
    }

    /// <summary>The KEY=VALUE lines <c>lab.sh postgres</c> printed.</summary>
    public IReadOnlyDictionary<string, string> Facts { get; }

    /// <summary>Where psql and pgbench of the running server version live.</summary>
    public string BinDirectory { get; }

    /// <summary>The online cluster's postmaster PID.</summary>
    public int OnlinePid { get; }

    /// <summary>The target cluster's postmaster PID.</summary>
    public int TargetPid { get; }

    /// <summary>Starts PostgreSQL on the online host and the target of <paramref name="lab"/> (about 3 s).</summary>
    public static async Task<PostgresLab> StartAsync(Lab lab, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lab);
        var script = Path.Combine(Lab.FindRepositoryRoot(), "deploy", "lab", "lab.sh");
        var result = await CommandRunner.RunAsync("bash", [script, "postgres", "--id", lab.Id], TimeSpan.FromSeconds(60), cancellationToken: cancellationToken);
        result.EnsureSuccess($"lab.sh postgres --id {lab.Id}");
        var facts = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in result.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                facts[line[..eq]] = line[(eq + 1)..];
            }
        }

        return new PostgresLab(lab, facts);
    }

    /// <summary>Runs one SQL command against <paramref name="role"/>'s database; returns psql's unaligned output.</summary>
    public async Task<string> QueryAsync(LabRole role, string sql, CancellationToken cancellationToken = default)
    {
        var result = await _lab.ExecAsync(role,
            [Tool("psql"), "-X", "-Atq", "-F", " ", "-h", Address(role), "-p", $"{Port}", "-U", "postgres", "-c", sql, "postgres"],
            TimeSpan.FromSeconds(30), cancellationToken);
        return result.EnsureSuccess($"psql on {role}").StdOut.Trim();
    }

    /// <summary>
    /// <c>pgbench -i -s SCALE</c> on the online and the target database, each from its own namespace: both start
    /// with the same accounts, tellers and branches and an empty history.
    /// </summary>
    public async Task InitializePgbenchAsync(int scale = 1, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(scale, 1);
        var online = _lab.ExecAsync(LabRole.Online, InitCommand(LabRole.Online, scale), TimeSpan.FromSeconds(60), cancellationToken);
        var target = _lab.ExecAsync(LabRole.Target, InitCommand(LabRole.Target, scale), TimeSpan.FromSeconds(60), cancellationToken);
        (await online).EnsureSuccess("pgbench -i on the online host");
        (await target).EnsureSuccess("pgbench -i on the target");
    }

    /// <summary>
    /// The load: <c>pgbench -n -c CLIENTS -T SECONDS -l</c> (TPC-B) from the client against the online PostgreSQL.
    /// <c>-n</c> skips pgbench's vacuum and history truncation, which would run on a connection of its own that a
    /// replayer may deliver after the load's first transactions; the per-transaction log gives the load window.
    /// </summary>
    public async Task<PgbenchRun> RunPgbenchAsync(int clients, TimeSpan duration, CancellationToken cancellationToken = default) =>
        await RunPgbenchAsync(clients, duration, rate: null, cancellationToken);

    /// <summary>
    /// Runs pgbench from the client namespace; with <paramref name="rate"/> it is throttled to that many transactions
    /// a second (<c>pgbench -R</c>, Poisson-scheduled like real clients), otherwise it runs as fast as it can.
    /// </summary>
    public async Task<PgbenchRun> RunPgbenchAsync(int clients, TimeSpan duration, int? rate, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(clients, 1);
        if (rate is { } r)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(r, 1, nameof(rate));
        }

        var seconds = Math.Max(1, (int)Math.Ceiling(duration.TotalSeconds));
        var prefix = Path.Combine(_lab.StateDirectory, $"pgbench-{Guid.NewGuid():N}");
        var result = await _lab.ExecAsync(LabRole.Client,
            [Tool("pgbench"), "-n", "-c", $"{clients}", "-T", $"{seconds}", "-l", $"--log-prefix={prefix}",
             .. (rate is { } perSecond ? (string[])["-R", $"{perSecond}"] : []),
             "-h", _lab.OnlineIp.ToString(), "-p", $"{Port}", "-U", "postgres", "postgres"],
            TimeSpan.FromSeconds(seconds + 30), cancellationToken);
        result.EnsureSuccess("pgbench");
        var directory = Path.GetDirectoryName(prefix)!;
        var logs = Directory.GetFiles(directory, Path.GetFileName(prefix) + ".*");
        return PgbenchRun.Parse(result.StdOut, logs.SelectMany(File.ReadLines));
    }

    /// <summary>Row count and a digest of the (tid, bid, aid, delta) multiset of <c>pgbench_history</c>.</summary>
    public async Task<HistorySummary> ReadHistoryAsync(LabRole role, CancellationToken cancellationToken = default)
    {
        const string Sql = "select count(*), md5(coalesce(string_agg(tid || ':' || bid || ':' || aid || ':' || delta, ',' " +
                           "order by tid, bid, aid, delta), '')) from pgbench_history";
        var fields = (await QueryAsync(role, Sql, cancellationToken)).Split(' ');
        return new HistorySummary(long.Parse(fields[0], CultureInfo.InvariantCulture), fields[1]);
    }

    /// <summary>
    /// Polls <c>count(*)</c> of <paramref name="role"/>'s <c>pgbench_history</c> every 200 ms over one psql
    /// connection from inside its namespace, each sample stamped with the server's clock.
    /// </summary>
    public HistoryPoller StartHistoryPoller(LabRole role)
    {
        var loop = "while :; do echo 'select extract(epoch from clock_timestamp()), count(*) from pgbench_history;'; sleep 0.2; done | " +
                   $"{Tool("psql")} -X -Atq -F ' ' -h {Address(role)} -p {Port} -U postgres postgres";
        return new HistoryPoller(_lab.StartProcess(role, ["bash", "-c", loop]));
    }

    private string[] InitCommand(LabRole role, int scale) =>
        [Tool("pgbench"), "-i", "-s", $"{scale}", "-q", "-h", Address(role), "-p", $"{Port}", "-U", "postgres", "postgres"];

    private string Address(LabRole role) => role switch
    {
        LabRole.Online => _lab.OnlineIp.ToString(),
        LabRole.Target => _lab.TargetIp.ToString(),
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, "PostgreSQL runs on the online host and the target."),
    };

    private string Tool(string name) => Path.Combine(BinDirectory, name);

    private string Fact(string key) =>
        Facts.TryGetValue(key, out var value) && value.Length > 0 ? value : throw new LabException($"lab.sh postgres printed no {key}=... line.");
}

/// <summary>What <c>pgbench_history</c> holds: one row per committed TPC-B transaction.</summary>
/// <param name="Count">Rows.</param>
/// <param name="Digest">md5 of the sorted (tid, bid, aid, delta) rows: equal digests mean the same transactions.</param>
public sealed record HistorySummary(long Count, string Digest);

/// <summary>One sample of a history count.</summary>
/// <param name="Epoch">The server's clock when it counted, in Unix seconds.</param>
/// <param name="Count">Rows of <c>pgbench_history</c> then.</param>
public readonly record struct HistorySample(double Epoch, long Count);

/// <summary>A running poller of a <c>pgbench_history</c> count (see <see cref="PostgresLab.StartHistoryPoller"/>).</summary>
public sealed class HistoryPoller : IAsyncDisposable
{
    private readonly LabProcess _process;

    internal HistoryPoller(LabProcess process) => _process = process;

    /// <summary>The samples so far, oldest first.</summary>
    public IReadOnlyList<HistorySample> Samples =>
        [.. _process.Lines.Select(Parse).OfType<HistorySample>()];

    /// <summary>The latest count, or 0 before the first sample.</summary>
    public long Latest => Samples.LastOrDefault().Count;

    /// <summary>Waits for the first sample (the psql connection is up).</summary>
    public Task WaitForFirstSampleAsync(CancellationToken cancellationToken = default) =>
        _process.WaitForOutputAsync(l => Parse(l) is not null, TimeSpan.FromSeconds(10), cancellationToken);

    /// <summary>
    /// Waits until the count settles: it reached <paramref name="expected"/> and held for 1 s, or it did not change
    /// for <paramref name="quiet"/>. Returns false when <paramref name="limit"/> passed first (still growing).
    /// </summary>
    public async Task<bool> WaitUntilSettledAsync(long expected, TimeSpan quiet, TimeSpan limit, CancellationToken cancellationToken = default)
    {
        var deadline = DateTime.UtcNow + limit;
        var last = -1L;
        var since = DateTime.UtcNow;
        while (DateTime.UtcNow < deadline)
        {
            var now = Latest;
            if (now != last)
            {
                last = now;
                since = DateTime.UtcNow;
            }

            var held = DateTime.UtcNow - since;
            if ((now >= expected && held >= TimeSpan.FromSeconds(1)) || held >= quiet)
            {
                return true;
            }

            await Task.Delay(100, cancellationToken);
        }

        return false;
    }

    public async ValueTask DisposeAsync() => await _process.DisposeAsync();

    private static HistorySample? Parse(string line)
    {
        var space = line.IndexOf(' ', StringComparison.Ordinal);
        return space > 0
               && double.TryParse(line.AsSpan(0, space), NumberStyles.Float, CultureInfo.InvariantCulture, out var epoch)
               && long.TryParse(line.AsSpan(space + 1), NumberStyles.Integer, CultureInfo.InvariantCulture, out var count)
            ? new HistorySample(epoch, count)
            : null;
    }
}
