using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Lab.Tests.Nodes;
using LabHost = ReplayCluster.Lab.Tests.Lab.Lab;

namespace ReplayCluster.Lab.Tests.Trust;

/// <summary>
/// A member that joined with the wrong role (an intercept: a valid certificate of the wrong role, once the
/// transport checks certificates) sends the capture node a plan that copies production traffic to the online
/// host itself, public identity slices, the coordinator a subscription with a huge plan version, fake
/// statistics and slice requests, the intercept route claims for every live session, and PoisonPill and Kill
/// to every actor peers address. Nothing changes, and the replay stays complete. The nodes run the reference
/// configuration as it is: the Kills and PoisonPills are neutralised on arrival (PeerCommandGuard) whether or
/// not untrusted mode is on.
/// </summary>
public sealed class RogueMemberLabTests
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_member_of_the_wrong_role_changes_no_plan_slice_route_or_actor_and_the_replay_stays_complete()
    {
        await using var lab = await LabHost.StartAsync(new LabOptions(), Cancellation);
        var seed = $"{lab.TargetIp}:4053";
        var (launcher, coordinatorNode, interceptNode) = await StartCoordinatorAndInterceptAsync(lab);
        await using var coordinator = coordinatorNode;
        await using var intercept = interceptNode;

        // No -c: identities come from the coordinator's slice, the ones a rogue would like to replace (from /readyz).
        var captureNode = await launcher.StartCaptureAsync(args: ["--set", "replaycluster.capture.statistics-interval = 1s"]);
        await using var capture = captureNode.Process;
        var slice = captureNode.Slice ?? throw new InvalidOperationException("a ready capture node without a slice");

        // The rogue runs on the online host; its plan would replay production traffic to that host itself.
        // It holds a valid intercept certificate of the lab's CA: a member of the wrong role for everything it sends.
        await using var rogue = lab.StartProcess(LabRole.Online, ["dotnet", RogueBinary(), .. NodeProcesses.ClusterTlsArguments("intercept"),
            "--hostname", lab.OnlineUplinkIp.ToString(), "--port", "4071",
            "--seed", seed, "--role", "intercept", "--steal-to", lab.OnlineIp.ToString(), "--seconds", "10"]);
        await rogue.WaitForOutputAsync(l => l.Contains("rogue: attack round 2 sent", StringComparison.Ordinal), TimeSpan.FromSeconds(45), Cancellation);

        // Traffic while the attacks go on: keep-alive connections, so route claims keep flowing to the rogue too.
        for (var batch = 0; batch < 4; batch++)
        {
            await Load.CurlAsync(lab, $"rogue{batch}", 10);
            await Task.Delay(1000, Cancellation);
        }

        await rogue.WaitForOutputAsync(l => l.Contains("rogue: done", StringComparison.Ordinal), TimeSpan.FromSeconds(30), Cancellation);
        try
        {
            await AssertUnchangedAsync(lab, coordinator, intercept, capture, slice);
        }
        catch
        {
            foreach (var (name, process) in new[] { ("coordinator", coordinator), ("intercept", intercept), ("capture", capture), ("rogue", rogue) })
            {
                foreach (var line in process.Lines.TakeLast(60))
                {
                    TestContext.Current.TestOutputHelper?.WriteLine($"{name}: {line}");
                }
            }

            throw;
        }
    }

    /// <summary>The coordinator (the seed, with the lab's fake range) and the intercept, both ready.</summary>
    internal static async Task<(ReplayLab Launcher, LabProcess Coordinator, LabProcess Intercept)> StartCoordinatorAndInterceptAsync(LabHost lab)
    {
        var launcher = new ReplayLab(lab);
        var coordinator = await launcher.StartCoordinatorAsync("-c", lab.FakeRange);
        var intercept = await launcher.StartInterceptAsync("--set", "replaycluster.intercept.statistics-interval = 1s");
        return (launcher, coordinator.Process, intercept.Process);
    }

    private static async Task AssertUnchangedAsync(LabHost lab, LabProcess coordinator, LabProcess intercept, LabProcess capture, IPNetwork slice)
    {
        var online = lab.ReadAccessLog(LabRole.Online).Count(e => e.Request.Contains("case=rogue", StringComparison.Ordinal));
        Assert.Equal(40, online);
        var replayed = await ReplayedAsync(lab, "rogue", online);
        TestContext.Current.TestOutputHelper?.WriteLine($"online {online}, target {replayed.Count} during the attacks");
        Assert.Equal(online, replayed.Count);
        Assert.All(replayed, e => Assert.True(slice.Contains(e.RemoteAddress), $"{e.RemoteAddress} is outside the granted slice {slice}"));

        // Every kind of message was refused where it arrived, and said so.
        await capture.WaitForLogAsync(TimeSpan.FromSeconds(15), Cancellation, "Refused replay plan version", "wrong_role");
        await capture.WaitForLogAsync(TimeSpan.FromSeconds(15), Cancellation, "Refused identity slice", "wrong_role");
        await coordinator.WaitForLogAsync(TimeSpan.FromSeconds(15), Cancellation, "Refused plan subscription", "wrong_role");
        await coordinator.WaitForLogAsync(TimeSpan.FromSeconds(15), Cancellation, "Refused identity slice request");
        await coordinator.WaitForLogAsync(TimeSpan.FromSeconds(15), Cancellation, "Refused capture statistics report", "wrong_role");
        await intercept.WaitForLogAsync(TimeSpan.FromSeconds(15), Cancellation, "Refused route claims", "wrong_role");
        Assert.DoesNotContain(capture.Lines, l => l.Contains("Following replay plan version", StringComparison.Ordinal) && !l.Contains("version 1:", StringComparison.Ordinal));
        Assert.Single(capture.Lines, l => l.Contains("Using identity slice", StringComparison.Ordinal));

        // The coordinator's plan is the one it started with, and it shows what it refused.
        using (var shown = JsonDocument.Parse((await PlanAsync(lab, "show", "--json")).StdOut))
        {
            Assert.Equal(1, shown.RootElement.GetProperty("version").GetInt64());
            Assert.Equal(JsonValueKind.Null, shown.RootElement.GetProperty("plan").GetProperty("copies").ValueKind);
        }

        var status = await lab.ExecAsync(LabRole.Target, CoordinatorApi.Curl(lab, "-sf", $"{CoordinatorApi.Url}/api/status"), TimeSpan.FromSeconds(10), Cancellation);
        using (var cluster = JsonDocument.Parse(status.EnsureSuccess("status").StdOut))
        {
            Assert.True(cluster.RootElement.GetProperty("coordinator").GetProperty("messages_refused").GetInt64() > 0);
            Assert.True(cluster.RootElement.GetProperty("captureTotals").GetProperty("requests_captured").GetInt64() < 1_000_000);
        }

        // Every actor the PoisonPills and Kills aimed at still works: a plan change reaches the capture node,
        // and its sessions replay with replies routed back.
        (await PlanAsync(lab, "set", "--copies", "2")).EnsureSuccess("plan set --copies 2");
        await capture.WaitForLogAsync(TimeSpan.FromSeconds(10), Cancellation, "Following replay plan version 2: copies=2");
        await Load.CurlAsync(lab, "after", 5);
        Assert.Equal(10, (await ReplayedAsync(lab, "after", 10)).Count);
        Assert.Contains(capture.Lines, l => l.Contains("Capture statistics:", StringComparison.Ordinal) && Regex.IsMatch(l, @" messages_refused=[1-9]"));
    }

    internal static string RogueBinary()
    {
        var framework = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Name;
        var path = Path.Combine(LabHost.FindRepositoryRoot(), "tests", "ReplayCluster.Rogue", "bin", NodeProcesses.Configuration, framework, "replaycluster-rogue.dll");
        return File.Exists(path) ? path : throw new LabException($"{path} does not exist: build the solution in {NodeProcesses.Configuration} first.");
    }

    private static async Task<LabExecResult> PlanAsync(LabHost lab, params string[] args) =>
        await lab.ExecAsync(LabRole.Target, CoordinatorApi.Cli(lab, ["plan", .. args]), TimeSpan.FromSeconds(30), Cancellation);

    /// <summary>The target's entries of requests whose case starts with <paramref name="name"/> (all batches of a name).</summary>
    internal static async Task<List<AccessLogEntry>> ReplayedAsync(LabHost lab, string name, int expected)
    {
        List<AccessLogEntry> Replayed() => [.. lab.ReadAccessLog(LabRole.Target).Where(e => e.Request.Contains($"case={name}", StringComparison.Ordinal))];
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (Replayed().Count < expected && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200, Cancellation);
        }

        return Replayed();
    }
}
