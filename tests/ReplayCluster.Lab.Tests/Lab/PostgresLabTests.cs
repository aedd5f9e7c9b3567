namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>
/// PostgreSQL in the lab (<c>lab.sh up --postgres</c>, <c>lab.sh postgres</c>): one cluster per host on the host's own
/// address, reachable with trust auth, identical pgbench data on both sides, and gone with the lab, also when adding it fails.
/// </summary>
public sealed class PostgresLabTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Script => Path.Combine(Lab.FindRepositoryRoot(), "deploy", "lab", "lab.sh");

    [Fact]
    public async Task Each_host_runs_its_own_cluster_with_the_same_pgbench_data_until_the_lab_is_disposed()
    {
        var lab = await Lab.StartAsync(new LabOptions(), Ct);
        int[] pids;
        try
        {
            var postgres = await PostgresLab.StartAsync(lab, Ct);
            pids = [postgres.OnlinePid, postgres.TargetPid];
            Assert.All(pids, pid => Assert.Equal("postgres", ProcessName(pid)));

            // Listening on the host's own address only.
            var online = await lab.ExecAsync(LabRole.Online, ["ss", "-Htln", $"sport = :{PostgresLab.Port}"], cancellationToken: Ct);
            Assert.Equal([$"{lab.OnlineIp}:{PostgresLab.Port}"], ListeningAddresses(online.StdOut));
            var target = await lab.ExecAsync(LabRole.Target, ["ss", "-Htln", $"sport = :{PostgresLab.Port}"], cancellationToken: Ct);
            Assert.Equal([$"{lab.TargetIp}:{PostgresLab.Port}"], ListeningAddresses(target.StdOut));

            await postgres.InitializePgbenchAsync(scale: 1, Ct);
            const string Accounts = "select count(*), md5(string_agg(aid || ':' || bid || ':' || abalance, ',' order by aid)) from pgbench_accounts";
            var onlineAccounts = await postgres.QueryAsync(LabRole.Online, Accounts, Ct);
            Assert.StartsWith("100000 ", onlineAccounts, StringComparison.Ordinal);
            Assert.Equal(onlineAccounts, await postgres.QueryAsync(LabRole.Target, Accounts, Ct));
            Assert.Equal(new HistorySummary(0, (await postgres.ReadHistoryAsync(LabRole.Online, Ct)).Digest), await postgres.ReadHistoryAsync(LabRole.Target, Ct));

            // A real client reaches the online server with trust auth (no password), through the client-facing link.
            var fromClient = await lab.ExecAsync(LabRole.Client,
                [Path.Combine(postgres.BinDirectory, "psql"), "-X", "-Atq", "-h", lab.OnlineIp.ToString(), "-U", "postgres", "-w", "-c", "select 42", "postgres"],
                cancellationToken: Ct);
            Assert.Equal("42", fromClient.EnsureSuccess("psql from the client").StdOut.Trim());

            var again = await CommandRunner.RunAsync("bash", [Script, "postgres", "--id", lab.Id], TimeSpan.FromSeconds(30), cancellationToken: Ct);
            Assert.False(again.Succeeded);
            Assert.Contains("already runs PostgreSQL", again.StdErr, StringComparison.Ordinal);
        }
        finally
        {
            await lab.DisposeAsync();
        }

        Assert.All(pids, pid => Assert.False(IsRunningPostgres(pid), $"postgres {pid} still runs"));
        Assert.False(Directory.Exists(lab.StateDirectory));
    }

    [Fact]
    public async Task A_failure_while_adding_postgres_stops_the_clusters_and_keeps_the_lab()
    {
        await using var lab = await Lab.StartAsync(new LabOptions(), Ct);

        var result = await CommandRunner.RunAsync("bash", [Script, "postgres", "--id", lab.Id], TimeSpan.FromSeconds(60),
            new Dictionary<string, string> { ["LAB_INJECT_FAILURE"] = "postgres" }, Ct);

        Assert.False(result.Succeeded);
        Assert.Contains("after step 'postgres'", result.StdErr, StringComparison.Ordinal);
        Assert.Empty(PostgresProcessesUnder(lab.StateDirectory));
        Assert.Empty(Directory.GetFileSystemEntries(lab.StateDirectory, "pg-*"));
        Assert.DoesNotContain("_PG_", await File.ReadAllTextAsync(Path.Combine(lab.StateDirectory, "lab.env"), Ct), StringComparison.Ordinal);
        Assert.Equal(200, (await lab.CurlAsync($"http://{lab.OnlineIp}/", cancellationToken: Ct)).HttpStatus);
    }

    [Fact]
    public async Task A_failed_up_with_postgres_leaves_no_cluster_namespace_or_state_behind()
    {
        var id = "p" + Guid.NewGuid().ToString("N")[..6];
        var stateRoot = Environment.GetEnvironmentVariable("LAB_STATE_DIR") is { Length: > 0 } root ? root : "/run/replaycluster-lab";
        LabCleanup.RegisterLab(id, Script);
        try
        {
            var result = await CommandRunner.RunAsync("bash", [Script, "up", "--id", id, "--postgres"], TimeSpan.FromSeconds(60),
                new Dictionary<string, string> { ["LAB_INJECT_FAILURE"] = "postgres" }, Ct);

            Assert.False(result.Succeeded);
            Assert.Contains("after step 'postgres'", result.StdErr, StringComparison.Ordinal);
            Assert.Empty(await LabLifecycleTests.LabNamespacesAsync(id));
            Assert.Empty(PostgresProcessesUnder(Path.Combine(stateRoot, id)));
            Assert.False(Directory.Exists(Path.Combine(stateRoot, id)));
        }
        finally
        {
            LabCleanup.Down(id, Script);
            LabCleanup.UnregisterLab(id);
        }
    }

    private static string[] ListeningAddresses(string ss) =>
        [.. ss.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3])];

    /// <summary>Live postgres processes whose command line names a data directory under <paramref name="directory"/>.</summary>
    private static List<int> PostgresProcessesUnder(string directory)
    {
        var found = new List<int>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (IsRunningPostgres(pid) && cmdline.Contains(directory + "/", StringComparison.Ordinal))
                {
                    found.Add(pid);
                }
            }
            catch (IOException)
            {
                // gone meanwhile
            }
            catch (UnauthorizedAccessException)
            {
                // not ours to read
            }
        }

        return found;
    }

    private static string? ProcessName(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static bool IsRunningPostgres(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return stat.Contains("(postgres)", StringComparison.Ordinal) && state is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }
}
