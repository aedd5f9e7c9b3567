using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Lab.Tests.Nodes;

namespace ReplayCluster.Lab.Tests.Coordinator;

/// <summary>
/// The coordinator's acceptance criteria with two online hosts, each with its own nginx, clients and capture node,
/// both replaying into one target: the target serves the sum, the run report says what the access logs say, and a
/// SIGKILLed capture node is marked gone and its slice reclaimed while the other keeps replaying (a node added
/// mid-run: <see cref="AddedCaptureNodeLabTests"/>). The load is curl at a fixed rate per host (a few hundred
/// requests/s, not a flood: the machine has two noisy cores) with one URL per request, so every request can be
/// followed from an online access log to the target's. These tests count requests, not rates, so they run beside
/// other collections.
/// </summary>
public sealed class DistributedRunLabTests(TwoHostClusterFixture fixture) : IClassFixture<TwoHostClusterFixture>
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    private static void Report(string line) => TestContext.Current.TestOutputHelper?.WriteLine(line);

    [Fact]
    public async Task Two_online_hosts_replay_twice_one_hosts_requests_and_the_run_report_matches_the_access_logs()
    {
        var cluster = await fixture.GetAsync();
        var lab = cluster.Lab;
        await cluster.EnsureCapturesAsync();
        // The run counts every request the capture nodes capture, so it starts only once no earlier test's
        // replay is still being counted, and nothing but this test's load reaches the online hosts until it stops.
        await cluster.WaitIdleAsync();
        var targetLinesBefore = lab.ReadAccessLog(LabRole.Target).Count;
        using (var started = await cluster.PostAsync("/api/run/start"))
        {
            Assert.Equal(0, started.RootElement.GetProperty("onlineRequests").GetInt64());
        }

        // Equal load on both hosts: a keep-alive client and a connection-per-request client each, 1000 requests at
        // 100/s apiece, so the target should serve exactly twice what one host served.
        const string Case = "case=dist-sum";
        const int PerClient = 1000;
        var loads = cluster.Hosts.SelectMany(h => new[]
        {
            Load.Start(lab, h, Case, "ka", PerClient, ratePerSecond: 100, keepAlive: true),
            Load.Start(lab, h, Case, "close", PerClient, ratePerSecond: 100, keepAlive: false),
        }).ToList();
        await Load.WaitAllAsync(loads, TimeSpan.FromSeconds(40));

        int Online(LabOnlineHost host) => lab.ReadAccessLog(host).Count(e => e.Request.Contains(Case, StringComparison.Ordinal));
        int Target() => lab.ReadAccessLog(LabRole.Target).Count(e => e.Request.Contains(Case, StringComparison.Ordinal));
        var online = cluster.Hosts.Select(Online).ToArray();
        var target = await Load.WaitForCountAsync(Target, online.Sum(), TimeSpan.FromSeconds(30));

        // Nodes report once a second: stop only when the run's numbers have settled, or the report misses the tail.
        await cluster.WaitForSettledReportAsync(TimeSpan.FromSeconds(20));
        using var stopped = await cluster.PostAsync("/api/run/stop");
        var report = stopped.RootElement;
        var reportOnline = report.GetProperty("onlineRequests").GetInt64();
        var reportReplayed = report.GetProperty("replayedRequests").GetInt64();
        var reportLoss = report.GetProperty("lossRatio").GetDouble();
        var targetLinesInRun = lab.ReadAccessLog(LabRole.Target).Count - targetLinesBefore;

        var onlineTotal = online.Sum();
        var logLoss = (double)(onlineTotal - target) / onlineTotal;
        var ratio = (double)target / online[0];
        Report($"online access logs: host1 {online[0]}, host2 {online[1]}, sum {onlineTotal}; target {target} ({targetLinesInRun} target lines in the run); " +
               $"target/one host {ratio:F3}; loss from the logs {logLoss:F6}");
        Report($"run report: onlineRequests {reportOnline}, replayedRequests {reportReplayed}, lossRatio {reportLoss:F6}, " +
               $"duration {report.GetProperty("durationSeconds").GetDouble():F1} s");

        Assert.All(online, count => Assert.Equal(2 * PerClient, count));
        Assert.Equal(onlineTotal, target);
        Assert.Equal(target, targetLinesInRun);
        Assert.InRange(ratio, 1.98, 2.02);

        // Not only the counts: every request of each host reached the target once, from that host's own slice.
        var replayed = lab.ReadAccessLog(LabRole.Target).Where(e => e.Request.Contains(Case, StringComparison.Ordinal)).ToList();
        foreach (var capture in cluster.Captures)
        {
            var marker = $"host={capture.Host.Index}&";
            var fromHost = replayed.Where(e => e.Request.Contains(marker, StringComparison.Ordinal)).ToList();
            Assert.Equal(
                lab.ReadAccessLog(capture.Host).Where(e => e.Request.Contains(Case, StringComparison.Ordinal)).Select(e => e.Request).Order(StringComparer.Ordinal),
                fromHost.Select(e => e.Request).Order(StringComparer.Ordinal));
            Assert.All(fromHost, e => Assert.True(capture.Slice.Contains(e.RemoteAddress), $"{e.RemoteAddress} is outside host {capture.Host.Index}'s slice {capture.Slice}"));
        }

        Assert.Equal(onlineTotal, reportOnline);
        Assert.Equal(target, reportReplayed);
        Assert.Equal(logLoss, reportLoss, 9);
    }

    [Fact]
    public async Task A_capture_node_killed_mid_run_is_marked_gone_and_reclaimed_while_the_other_keeps_replaying()
    {
        var cluster = await fixture.GetAsync();
        var lab = cluster.Lab;
        await cluster.EnsureCapturesAsync();
        await cluster.WaitIdleAsync();
        var survivor = cluster.Captures[0];
        var victim = cluster.Captures[1];
        var stateBefore = (await cluster.NodesAsync()).FirstOrDefault(n => n.Address == victim.Address)?.State;

        const string Case = "case=dist-kill";
        var loads = cluster.Hosts.SelectMany(h => new[]
        {
            Load.Start(lab, h, Case, "ka", 1500, ratePerSecond: 100, keepAlive: true),
            Load.Start(lab, h, Case, "close", 1500, ratePerSecond: 100, keepAlive: false),
        }).ToList();
        await Task.Delay(TimeSpan.FromSeconds(4), Cancellation);

        // A crash, not a leave: no CoordinatedShutdown, the coordinator learns of it only by missing heartbeats.
        var killedAt = DateTimeOffset.UtcNow;
        await victim.Process.StopAsync(LabNative.SigKill);

        // The contract of /api/status: nodes[].state is "up" | "unreachable" | "removed"; a node that is gone
        // may also have no entry at all any more.
        TimeSpan? markedAfter = null;
        string? lastState = "(not polled)";
        var markDeadline = killedAt + TimeSpan.FromSeconds(10);
        while (DateTimeOffset.UtcNow < markDeadline)
        {
            var entry = (await cluster.NodesAsync()).FirstOrDefault(n => n.Address == victim.Address);
            lastState = entry is null ? "(absent)" : entry.State ?? "(no state field)";
            if (entry is null || (entry.State is { } state && state != "up"))
            {
                markedAfter = DateTimeOffset.UtcNow - killedAt;
                break;
            }

            await Task.Delay(250, Cancellation);
        }

        var reclaimed = await cluster.Coordinator.WaitForLogAsync(TimeSpan.FromSeconds(40), Cancellation, "reclaimed", victim.Slice.ToString(), victim.Address);
        var reclaimedAfter = DateTimeOffset.UtcNow - killedAt;
        await Load.WaitAllAsync(loads, TimeSpan.FromSeconds(40));

        var survivorHost = survivor.Host;
        var marker = $"host={survivorHost.Index}&";
        var onlineSurvivor = lab.ReadAccessLog(survivorHost).Where(e => e.Request.Contains(Case, StringComparison.Ordinal)).ToList();
        List<AccessLogEntry> TargetOf(int index) =>
            [.. lab.ReadAccessLog(LabRole.Target).Where(e => e.Request.Contains(Case, StringComparison.Ordinal) && e.Request.Contains($"host={index}&", StringComparison.Ordinal))];
        await Load.WaitForCountAsync(() => TargetOf(survivorHost.Index).Count, onlineSurvivor.Count, TimeSpan.FromSeconds(30));
        var targetSurvivor = TargetOf(survivorHost.Index);
        var afterKill = onlineSurvivor.Where(e => e.Time > killedAt).Select(e => e.Request).ToHashSet(StringComparer.Ordinal);
        var afterKillReplayed = targetSurvivor.Count(e => afterKill.Contains(e.Request));
        var stateAfterReclaim = (await cluster.NodesAsync()).FirstOrDefault(n => n.Address == victim.Address) is { } gone ? gone.State ?? "(no state field)" : "(absent)";
        var onlineVictim = lab.ReadAccessLog(victim.Host).Count(e => e.Request.Contains(Case, StringComparison.Ordinal));
        var targetVictim = TargetOf(victim.Host.Index).Count;
        Report($"killed capture node {victim.Address} (host {victim.Host.Index}, slice {victim.Slice}); status entry before the kill: state {stateBefore ?? "(no state field)"}");
        Report($"marked gone after {(markedAfter is { } m ? $"{m.TotalSeconds:F1} s" : "never within 10 s")} (last seen: {lastState}); slice reclaimed after {reclaimedAfter.TotalSeconds:F1} s; " +
               $"state once the load drained: {stateAfterReclaim}");
        Report($"host {survivorHost.Index}: online {onlineSurvivor.Count}, target {targetSurvivor.Count}, of those after the kill {afterKill.Count} online, {afterKillReplayed} replayed; " +
               $"host {victim.Host.Index}: online {onlineVictim}, target {targetVictim}");

        // The survivor never noticed: every request of its host, also those after the kill, reached the target once.
        Assert.True(afterKill.Count > 500, $"only {afterKill.Count} requests on host {survivorHost.Index} after the kill");
        Assert.Equal(afterKill.Count, afterKillReplayed);
        Assert.Equal(onlineSurvivor.Select(e => e.Request).Order(StringComparer.Ordinal), targetSurvivor.Select(e => e.Request).Order(StringComparer.Ordinal));
        Assert.True(targetVictim < onlineVictim, $"host {victim.Host.Index}: {targetVictim} of {onlineVictim} replayed although its capture node was killed");
        Assert.False(survivor.Process.HasExited, "the surviving capture node exited");
        Assert.False(cluster.Coordinator.HasExited, "the coordinator exited");
        Assert.False(cluster.Intercept.HasExited, "the intercept exited");
        Assert.Contains(victim.Slice.ToString(), reclaimed, StringComparison.Ordinal);

        // Last, so that the replay checks above stand on their own: the status marks the node within 10 s.
        Assert.True(stateBefore == "up", $"before the kill the status entry of {victim.Address} had state '{stateBefore ?? "(no state field)"}', expected \"up\"");
        Assert.True(markedAfter is not null, $"10 s after the SIGKILL /api/status still showed {victim.Address} as {lastState}");
        Assert.True(stateAfterReclaim is "removed" or "(absent)", $"after its slice was reclaimed /api/status showed {victim.Address} as {stateAfterReclaim}");
    }

}
