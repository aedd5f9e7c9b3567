using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Lab.Tests.Nodes;
using LabHost = ReplayCluster.Lab.Tests.Lab.Lab;

namespace ReplayCluster.Lab.Tests.Coordinator;

/// <summary>
/// The coordinator's acceptance criteria with several online hosts, each with its own nginx, clients and capture
/// node, all replaying into one target: the target serves the sum, the run report says what the access logs say, a
/// capture node added mid-run raises the rate without restarting anything, and a SIGKILLed one is marked gone and
/// its slice reclaimed while the others keep replaying. The load is curl at a fixed rate per host (a few hundred
/// requests/s, not a flood: the machine has two noisy cores) with one URL per request, so every request can be
/// followed from an online access log to the target's.
/// </summary>
[Collection(MeasuredAloneCollection.Name)]
public sealed partial class DistributedRunLabTests(TwoHostClusterFixture fixture) : IClassFixture<TwoHostClusterFixture>
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
        var target = await WaitForDrainAsync(Target, online.Sum(), TimeSpan.FromSeconds(30));

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
        await WaitForDrainAsync(() => TargetOf(survivorHost.Index).Count, onlineSurvivor.Count, TimeSpan.FromSeconds(30));
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

    [Fact]
    public async Task A_third_capture_node_added_mid_run_raises_the_target_rate_by_half_without_restarting_anything()
    {
        await using var lab = await LabHost.StartAsync(new LabOptions { Onlines = 3 }, Cancellation);
        await using var cluster = await ReplayNodes.StartAsync(lab, lab.Onlines.Take(2));
        var third = lab.Onlines[2];
        var pids = cluster.Processes.Select(p => p.Pid).ToList();

        // The same constant load on all three hosts for the whole run; host 3's requests are not replayed until
        // its capture node captures. curl --rate never catches up on a late request, so each host gets four slow
        // clients (two keep-alive, two connection-per-request, 35/s each) rather than two fast ones: a request
        // delayed by a busy core then rarely costs the client its pace.
        const string Case = "case=dist-grow";
        // 40 s of load: with mutual TLS the third node took 11-23 s from its start to capturing on the loaded lab
        // machine (load average 20-30; its first certificate-chain check, OpenSSL's start and a handshake with every
        // member cost CPU it waits long for), 6-9 s without; 22 s of load then left no steady "after" window.
        const int PerClient = 1400;
        var loadStart = DateTimeOffset.UtcNow;
        var loads = lab.Onlines.SelectMany(h => new[] { "ka1", "ka2", "close1", "close2" }.Select(client =>
            Load.Start(lab, h, Case, client, PerClient, ratePerSecond: 35, keepAlive: client.StartsWith("ka", StringComparison.Ordinal)))).ToList();
        await Task.Delay(TimeSpan.FromSeconds(8), Cancellation);
        var thirdStarted = DateTimeOffset.UtcNow;
        // Its host's keep-alive clients are connected already: replaying them from where the node joins is asked for.
        var added = await cluster.AddCaptureAsync(third, "--set", "replaycluster.capture.join-mid-stream = on");
        var thirdCapturing = DateTimeOffset.UtcNow;
        await Load.WaitAllAsync(loads, TimeSpan.FromSeconds(60));
        var loadEnd = DateTimeOffset.UtcNow;

        IEnumerable<AccessLogEntry> Ours(IEnumerable<AccessLogEntry> log) => log.Where(e => e.Request.Contains(Case, StringComparison.Ordinal));
        var online = lab.Onlines.Select(h => Ours(lab.ReadAccessLog(h)).ToList()).ToList();
        var expected = online[0].Count + online[1].Count + online[2].Count(e => e.Time > thirdCapturing);
        await WaitForDrainAsync(() => Ours(lab.ReadAccessLog(LabRole.Target)).Count(), expected, TimeSpan.FromSeconds(30));
        var target = Ours(lab.ReadAccessLog(LabRole.Target)).ToList();
        List<AccessLogEntry> OnTarget(LabOnlineHost h) => [.. target.Where(e => e.Request.Contains($"host={h.Index}&", StringComparison.Ordinal))];

        // Rates over whole seconds of steady state: before = from 2 s into the load until the third node's process
        // started; after = from 4 s after it reported capturing until 1 s before the load ended.
        var before = (From: loadStart + TimeSpan.FromSeconds(2), To: thirdStarted);
        // after: 4 s, not 2: the new node's sessions catch up in a burst once the intercept knows the node (its first
        // route claims wait for that; 565 and 826 requests/s at the target against ~420 steady, in the 2nd and 3rd
        // second after "Capturing on" in one run).
        var after = (From: thirdCapturing + TimeSpan.FromSeconds(4), To: loadEnd - TimeSpan.FromSeconds(1));
        static double Rate(IEnumerable<AccessLogEntry> entries, (DateTimeOffset From, DateTimeOffset To) window) =>
            entries.Count(e => e.Time >= window.From && e.Time < window.To) / (window.To - window.From).TotalSeconds;
        var targetBefore = Rate(target, before);
        var targetAfter = Rate(target, after);
        var onlineBefore = Rate(online.SelectMany(h => h), before);
        var onlineAfter = Rate(online.SelectMany(h => h), after);
        var perSecond = target.GroupBy(e => (long)Math.Floor((e.Time - loadStart).TotalSeconds)).OrderBy(g => g.Key)
            .Select(g => $"{g.Key}:{g.Count()}");
        Report($"third capture node {added.Address}: process started {(thirdStarted - loadStart).TotalSeconds:F1} s into the load, capturing after {(thirdCapturing - loadStart).TotalSeconds:F1} s; load ran {(loadEnd - loadStart).TotalSeconds:F1} s");
        // For reading the numbers: the node's own log time of "Capturing on" (stdout reaches the test later under load).
        Report($"load started {loadStart.ToLocalTime():HH:mm:ss.fff}; the third node logged: {added.Process.Lines.FirstOrDefault(l => l.Contains("Capturing on", StringComparison.Ordinal))?[..12]}");
        Report($"target rate before {targetBefore:F1}/s ({(before.To - before.From).TotalSeconds:F1} s), after {targetAfter:F1}/s ({(after.To - after.From).TotalSeconds:F1} s): x{targetAfter / targetBefore:F3}; " +
               $"online rate of all three hosts before {onlineBefore:F1}/s, after {onlineAfter:F1}/s: x{onlineAfter / onlineBefore:F3}; " +
               $"share replayed before {targetBefore / onlineBefore:F3}, after {targetAfter / onlineAfter:F3}: x{targetAfter / onlineAfter / (targetBefore / onlineBefore):F3}");
        Report($"target requests per second of the load: {string.Join(' ', perSecond)}");
        Report($"online host1 {online[0].Count} host2 {online[1].Count} host3 {online[2].Count}; target host1 {OnTarget(lab.Onlines[0]).Count} host2 {OnTarget(lab.Onlines[1]).Count} host3 {OnTarget(third).Count}");

        // The target's rate rose by half. The clients share two cores with three nginx, the target and five nodes,
        // so the offered load itself can sag once a third node replays, and the three hosts' clients do not keep
        // the same pace (host 3 offered 23 % instead of a third before in one run). So the target serves what the
        // replayed hosts offer: hosts 1 and 2 before, all three after, each within 5 %.
        var replayedHostsBefore = Rate(online[0].Concat(online[1]), before);
        Report($"hosts 1 and 2 offered {replayedHostsBefore:F1}/s before: target / that {targetBefore / replayedHostsBefore:F3}; after, target / all {targetAfter / onlineAfter:F3}");
        Assert.True(targetAfter / targetBefore > 1.3,
            $"the target's rate rose only x{targetAfter / targetBefore:F3} ({targetBefore:F1}/s -> {targetAfter:F1}/s); the online hosts offered x{onlineAfter / onlineBefore:F3}");
        Assert.InRange(targetBefore / replayedHostsBefore, 0.95, 1.05);
        Assert.InRange(targetAfter / onlineAfter, 0.95, 1.05);

        // Hosts 1 and 2 lost nothing, the third node's arrival included; host 3 is replayed from when it captures.
        foreach (var h in lab.Onlines.Take(2))
        {
            Assert.Equal(online[h.Index - 1].Select(e => e.Request).Order(StringComparer.Ordinal), OnTarget(h).Select(e => e.Request).Order(StringComparer.Ordinal));
        }

        var thirdReplayed = OnTarget(third);
        Assert.Equal(thirdReplayed.Count, thirdReplayed.Select(e => e.Request).Distinct(StringComparer.Ordinal).Count()); // the catch-up replays nothing twice
        Assert.All(thirdReplayed, e => Assert.True(e.Time >= thirdStarted, $"{e.Request} reached the target at {e.Time:O}, before host 3's capture node started"));
        Assert.All(thirdReplayed, e => Assert.True(added.Slice.Contains(e.RemoteAddress), $"{e.RemoteAddress} is outside host 3's slice {added.Slice}"));
        var thirdOnlineWhileCapturing = online[2].Where(e => e.Time > thirdCapturing + TimeSpan.FromSeconds(1)).Select(e => e.Request).ToList();
        var thirdReplayedRequests = thirdReplayed.Select(e => e.Request).ToHashSet(StringComparer.Ordinal);
        Assert.True(thirdOnlineWhileCapturing.Count > 500, $"only {thirdOnlineWhileCapturing.Count} requests on host 3 while its node captured");
        var missing = thirdOnlineWhileCapturing.Where(r => !thirdReplayedRequests.Contains(r)).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} requests to host 3 after its node captured never reached the target, e.g. {string.Join(", ", missing.Take(3))}");

        // Nothing was restarted: the same processes still run, each joined the cluster once, and all four nodes report.
        Assert.Equal(pids, cluster.Processes.Take(pids.Count).Select(p => p.Pid));
        Assert.All(cluster.Processes, p => Assert.False(p.HasExited, $"'{p.CommandLine}' exited with {p.ExitCode}"));
        Assert.All(cluster.Processes, p => Assert.True(Directory.Exists($"/proc/{p.Pid}"), $"PID {p.Pid} is gone"));
        Assert.All(cluster.Processes, p => Assert.Single(p.Lines, l => l.Contains("Joined cluster as", StringComparison.Ordinal)));
        var nodes = await cluster.NodesAsync();
        Assert.Equal(cluster.ReportingAddresses.Order(StringComparer.Ordinal), nodes.Select(n => n.Address).Order(StringComparer.Ordinal));
        Assert.All(nodes, n => Assert.Equal("up", n.State));
    }

    /// <summary>
    /// Waits until <paramref name="count"/> reaches <paramref name="expected"/>, or stops rising for 3 s, or
    /// <paramref name="timeout"/> passes; returns the last count (the caller asserts on it).
    /// </summary>
    private static async Task<int> WaitForDrainAsync(Func<int> count, int expected, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var last = count();
        var since = DateTime.UtcNow;
        while (last < expected && DateTime.UtcNow < deadline && DateTime.UtcNow - since < TimeSpan.FromSeconds(3))
        {
            await Task.Delay(200, Cancellation);
            var now = count();
            if (now != last)
            {
                (last, since) = (now, DateTime.UtcNow);
            }
        }

        // A request nginx is still logging, or one more the replay has not finished: one short look more.
        await Task.Delay(500, Cancellation);
        return count();
    }
}
