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

/// <summary>A curl client in the client namespace sending one URL per request to one online host at a fixed rate.</summary>
internal static class Load
{
    /// <summary>
    /// <c>curl --rate R/s URL?...&amp;n=[1-COUNT]</c>: exactly <paramref name="count"/> requests, each with its own
    /// URL, over one keep-alive connection or (<paramref name="keepAlive"/> false) one connection per request.
    /// </summary>
    public static LabProcess Start(LabHost lab, LabOnlineHost host, string @case, string client, int count, int ratePerSecond, bool keepAlive)
    {
        List<string> command = ["curl", "-sS", "--max-time", "5", "--rate", $"{ratePerSecond}/s", "-o", "/dev/null"];
        if (!keepAlive)
        {
            command.AddRange(["-H", "Connection: close"]);
        }

        command.Add($"http://{host.Ip}/1k?{@case}&host={host.Index}&client={client}&n=[1-{count}]");
        return lab.StartProcessIn(lab.ClientNamespace, command);
    }

    /// <summary>Waits for every client to finish; fails naming the first that did not finish or did not succeed.</summary>
    public static async Task WaitAllAsync(IReadOnlyList<LabProcess> loads, TimeSpan timeout)
    {
        try
        {
            await Task.WhenAll(loads.Select(l => l.Exited)).WaitAsync(timeout, TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            var stuck = loads.First(l => !l.HasExited);
            throw new TimeoutException($"'{stuck.CommandLine}' still ran after {timeout.TotalSeconds:0} s:\n{string.Join('\n', stuck.Lines.TakeLast(10))}");
        }

        var failed = loads.FirstOrDefault(l => l.ExitCode != 0);
        Assert.True(failed is null, failed is null ? string.Empty : $"'{failed.CommandLine}' exited with {failed.ExitCode}:\n{string.Join('\n', failed.Lines.TakeLast(10))}");
    }
}

/// <summary>One node's entry in <c>/api/status</c>.</summary>
/// <param name="State">nodes[].state ("up", "unreachable", "removed"); null while the coordinator does not report it.</param>
public sealed record StatusNode(string Address, string Role, string? State, long AgeMs, long RequestsCaptured, long RequestsDelivered);

/// <summary>A capture node that has its identity slice and captures.</summary>
public sealed record CaptureNode(LabOnlineHost Host, LabProcess Process, string Address, IPNetwork Slice);

/// <summary>
/// A coordinator (with the fake client range, handing out /24 slices) on the target, an intercept on the assistant,
/// and capture nodes without <c>-c</c> on online hosts; the lab disposes every process it started.
/// </summary>
public sealed partial class ReplayNodes : IAsyncDisposable
{
    private readonly List<CaptureNode> _captures = [];
    private readonly bool _ownsLab;

    private ReplayNodes(LabHost lab, LabProcess coordinator, LabProcess intercept, string interceptAddress, bool ownsLab)
    {
        Lab = lab;
        Coordinator = coordinator;
        Intercept = intercept;
        InterceptAddress = interceptAddress;
        _ownsLab = ownsLab;
    }

    public LabHost Lab { get; }

    public LabProcess Coordinator { get; }

    public LabProcess Intercept { get; }

    public string InterceptAddress { get; }

    public string Seed => $"{Lab.TargetIp}:4053";

    /// <summary>The capture nodes in the order they were added (a replaced one takes its predecessor's place).</summary>
    public IReadOnlyList<CaptureNode> Captures => _captures;

    /// <summary>The online hosts that have capture nodes.</summary>
    public IReadOnlyList<LabOnlineHost> Hosts => [.. _captures.Select(c => c.Host)];

    /// <summary>Coordinator, intercept, then the capture nodes.</summary>
    public IReadOnlyList<LabProcess> Processes => [Coordinator, Intercept, .. _captures.Select(c => c.Process)];

    /// <summary>Addresses that report statistics (the coordinator itself does not).</summary>
    public IEnumerable<string> ReportingAddresses => [InterceptAddress, .. _captures.Select(c => c.Address)];

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    /// <summary>Starts the coordinator and intercept, then a capture node on each of <paramref name="hosts"/>.</summary>
    public static async Task<ReplayNodes> StartAsync(LabHost lab, IEnumerable<LabOnlineHost> hosts, bool ownsLab = false)
    {
        var coordinator = NodeProcesses.StartNode(lab, LabRole.Target, "coordinator",
            "--hostname", lab.TargetIp.ToString(), "--port", "4053", "-c", lab.FakeRange, "--slice-prefix", "24");
        await coordinator.WaitForLogAsync(TimeSpan.FromSeconds(45), Cancellation, "Dashboard on http://127.0.0.1:8080/");
        var intercept = NodeProcesses.StartNode(lab, LabRole.Assistant, "intercept",
            "--hostname", lab.AssistantIp.ToString(), "--seed", $"{lab.TargetIp}:4053", "-i", lab.SinkInterface);
        var nodes = new ReplayNodes(lab, coordinator, intercept, JoinedAs(await intercept.WaitJoinedAsync(Cancellation)), ownsLab);
        var started = hosts.Select(h => (Host: h, Process: nodes.StartCaptureProcess(h))).ToList();
        foreach (var (host, process) in started)
        {
            nodes._captures.Add(await WaitCapturingAsync(host, process));
        }

        return nodes;
    }

    /// <summary>Starts one more capture node and returns once it has its slice and captures.</summary>
    public async Task<CaptureNode> AddCaptureAsync(LabOnlineHost host, params string[] extra)
    {
        var capture = await WaitCapturingAsync(host, StartCaptureProcess(host, extra));
        _captures.Add(capture);
        return capture;
    }

    /// <summary>Replaces every capture node that has exited (a test killed it) with a new one on the same host.</summary>
    public async Task EnsureCapturesAsync()
    {
        for (var i = 0; i < _captures.Count; i++)
        {
            if (_captures[i].Process.HasExited)
            {
                await _captures[i].Process.DisposeAsync();
                _captures[i] = await WaitCapturingAsync(_captures[i].Host, StartCaptureProcess(_captures[i].Host));
            }
        }
    }

    /// <summary>Every node entry of <c>/api/status</c>.</summary>
    public async Task<IReadOnlyList<StatusNode>> NodesAsync()
    {
        using var status = await GetAsync("/api/status");
        return [.. status.RootElement.GetProperty("nodes").EnumerateArray().Select(n => new StatusNode(
            n.GetProperty("address").GetString() ?? string.Empty,
            n.GetProperty("role").GetString() ?? string.Empty,
            n.TryGetProperty("state", out var state) ? state.GetString() : null,
            n.GetProperty("ageMs").GetInt64(),
            Counter(n, "requests_captured"),
            Counter(n, "requests_delivered")))];
    }

    /// <summary>
    /// Waits until exactly this cluster's nodes report (a killed node's entry is gone), each report is fresh, and
    /// the capture nodes' request counters have not moved for 3 s: nothing from before is still being counted.
    /// </summary>
    public async Task WaitIdleAsync()
    {
        var expected = ReportingAddresses.Order(StringComparer.Ordinal).ToList();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(45);
        string? last = null;
        var since = DateTime.UtcNow;
        var seen = string.Empty;
        while (DateTime.UtcNow < deadline)
        {
            var all = await NodesAsync();
            seen = string.Join(", ", all.Select(n => $"{n.Role} {n.Address} {n.State} age {n.AgeMs} ms captured {n.RequestsCaptured} delivered {n.RequestsDelivered}"));
            // A node that left stays listed as "removed" for a while; a killed one is "unreachable" until downed.
            var nodes = all.Where(n => n.State != "removed").ToList();
            var complete = nodes.Select(n => n.Address).Order(StringComparer.Ordinal).SequenceEqual(expected) && nodes.All(n => n.AgeMs < 2000 && n.State is null or "up");
            var key = complete ? string.Join(';', nodes.Select(n => $"{n.Address}={n.RequestsCaptured}/{n.RequestsDelivered}")) : null;
            if (key is null || key != last)
            {
                (last, since) = (key, DateTime.UtcNow);
            }
            else if (DateTime.UtcNow - since >= TimeSpan.FromSeconds(3))
            {
                return;
            }

            await Task.Delay(500, Cancellation);
        }

        throw new TimeoutException($"The cluster did not settle within 45 s; expected reports from {string.Join(", ", expected)}; last status: {seen}");
    }

    /// <summary>Waits until the current run's online and replayed counts have not moved for 3 s (nodes report every second).</summary>
    public async Task WaitForSettledReportAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        (long, long)? last = null;
        var since = DateTime.UtcNow;
        while (DateTime.UtcNow < deadline)
        {
            using var report = await GetAsync("/api/report");
            var now = (report.RootElement.GetProperty("onlineRequests").GetInt64(), report.RootElement.GetProperty("replayedRequests").GetInt64());
            if (now != last)
            {
                (last, since) = (now, DateTime.UtcNow);
            }
            else if (DateTime.UtcNow - since >= TimeSpan.FromSeconds(3))
            {
                return;
            }

            await Task.Delay(500, Cancellation);
        }

        throw new TimeoutException($"The run report was still changing after {timeout.TotalSeconds:0} s (last {last}).");
    }

    /// <summary>GET on the coordinator's HTTP endpoint (loopback inside the target namespace), parsed as JSON.</summary>
    public Task<JsonDocument> GetAsync(string path) => CurlJsonAsync(path, []);

    /// <summary>POST on the coordinator's HTTP endpoint, parsed as JSON.</summary>
    public Task<JsonDocument> PostAsync(string path) => CurlJsonAsync(path, ["-X", "POST"]);

    public async ValueTask DisposeAsync()
    {
        // Capture nodes first, so that none replays into a target whose intercept is already gone.
        foreach (var process in Enumerable.Reverse(Processes))
        {
            await process.DisposeAsync();
        }

        if (_ownsLab)
        {
            await Lab.DisposeAsync();
        }
    }

    private async Task<JsonDocument> CurlJsonAsync(string path, string[] method)
    {
        var result = await Lab.ExecAsync(LabRole.Target, CoordinatorApi.Curl(Lab, ["-sSf", .. method, $"{CoordinatorApi.Url}{path}"]), TimeSpan.FromSeconds(10), Cancellation);
        result.EnsureSuccess($"{string.Join(' ', method)} {path}");
        return JsonDocument.Parse(result.StdOut);
    }

    private LabProcess StartCaptureProcess(LabOnlineHost host, params string[] extra) =>
        NodeProcesses.StartNode(Lab, host.Namespace, "capture",
            ["--hostname", host.UplinkIp.ToString(), "--seed", Seed, "-i", host.Interface, "-x", $"80-{host.TargetIp}:80", .. extra]);

    private static async Task<CaptureNode> WaitCapturingAsync(LabOnlineHost host, LabProcess process)
    {
        var address = JoinedAs(await process.WaitJoinedAsync(Cancellation));
        var slice = IPNetwork.Parse(SliceInLog().Match(await process.WaitForLogAsync(TimeSpan.FromSeconds(45), Cancellation, "Using identity slice")).Groups["slice"].Value);
        await process.WaitForLogAsync(TimeSpan.FromSeconds(20), Cancellation, "Capturing on");
        return new CaptureNode(host, process, address, slice);
    }

    private static string JoinedAs(string line) => JoinedInLog().Match(line).Groups["address"].Value;

    private static long Counter(JsonElement node, string name) =>
        node.TryGetProperty("counters", out var counters) && counters.TryGetProperty(name, out var value) ? value.GetInt64() : 0;

    [GeneratedRegex(@"Using identity slice (?<slice>\S+)")]
    private static partial Regex SliceInLog();

    [GeneratedRegex(@"Joined cluster as (?<address>\S+)")]
    private static partial Regex JoinedInLog();
}

/// <summary>
/// A two-online-host lab with a whole cluster for the tests that share it, started on first use (so a test of the
/// class that brings its own lab does not pay for it) and torn down with the class.
/// </summary>
public sealed class TwoHostClusterFixture : IAsyncLifetime
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ReplayNodes? _cluster;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async Task<ReplayNodes> GetAsync()
    {
        await _gate.WaitAsync(TestContext.Current.CancellationToken);
        try
        {
            if (_cluster is null)
            {
                var lab = await LabHost.StartAsync(new LabOptions { Onlines = 2 }, TestContext.Current.CancellationToken);
                try
                {
                    _cluster = await ReplayNodes.StartAsync(lab, lab.Onlines, ownsLab: true);
                }
                catch
                {
                    await lab.DisposeAsync();
                    throw;
                }
            }

            return _cluster;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }

        _gate.Dispose();
    }
}
