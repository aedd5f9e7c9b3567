using System.Text.Json;
using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Lab.Tests.Nodes;
using LabHost = ReplayCluster.Lab.Tests.Lab.Lab;

namespace ReplayCluster.Lab.Tests.Coordinator;

/// <summary>
/// The replay plan changed at run time through the CLI and the API, judged by what the target's nginx
/// saw: a capture node with no flags of its own follows it, every change applies without a restart,
/// and a refused change leaves the running plan as it was.
/// </summary>
public sealed class ReplayPlanLabTests
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_capture_node_follows_plan_changes_without_a_restart_and_an_invalid_plan_changes_nothing()
    {
        await using var lab = await LabHost.StartAsync(new LabOptions(), Cancellation);
        var launcher = new ReplayLab(lab);
        await using var coordinator = await launcher.StartCoordinatorAsync("-c", lab.FakeRange);
        await using var intercept = await launcher.StartInterceptAsync();

        // No -x, no -c: targets and identities both come from the coordinator, targets only inside allowed-targets.
        await using var captureNode = launcher.Start("capture", lab.OnlineNamespace, lab.OnlineUplinkIp, "--seed", launcher.Seed, "-i", lab.OnlineInterface,
            "--set", $"replaycluster.capture.allowed-targets = [\"{lab.TargetIp}\"]");
        var capture = captureNode.Process;
        await captureNode.WaitForAsync(r => r.Reasons.Contains("waiting for the coordinator's replay plan", StringComparison.Ordinal), "waiting for a plan",
            TimeSpan.FromSeconds(45));

        var set = await PlanAsync(lab, "set", "-x", $"80-{lab.TargetIp}:80");
        Assert.True(set.ExitCode == 0, set.StdOut + set.StdErr);
        Assert.Contains("plan version 2, followed by 1 capture node(s)", set.StdOut, StringComparison.Ordinal);
        await captureNode.WaitReadyAsync(TimeSpan.FromSeconds(20));

        await Load.CurlAsync(lab, "plan-one", 10);
        Assert.Equal(10, await ReplayedAsync(lab, "plan-one", expected: 10));

        // The multiplier, raised while the node runs.
        // Waits read what the node follows from its /readyz (planVersion, captureFilter), not its log.
        var three = await PlanAsync(lab, "set", "--copies", "3");
        await captureNode.WaitForAsync(r => r.Follows(VersionOf(three.EnsureSuccess("plan set --copies 3"))), "following the plan with 3 copies", TimeSpan.FromSeconds(10));
        await Load.CurlAsync(lab, "plan-three", 10);
        Assert.Equal(30, await ReplayedAsync(lab, "plan-three", expected: 30));
        var identities = lab.ReadAccessLog(LabRole.Target).Where(e => e.Request.Contains("case=plan-three", StringComparison.Ordinal))
            .Select(e => (e.RemoteAddress, e.RemotePort)).Distinct().Count();
        Assert.Equal(3, identities); // one keep-alive connection, three copies, three identities

        // Refused by the CLI (through the API) and by the API itself: each names its field.
        var refused = await PlanAsync(lab, "set", "--copies", "0", "--sample-percent", "50");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("plan refused, the running plan is unchanged: copies: 0 is out of range", refused.StdErr, StringComparison.Ordinal);
        var overlap = await lab.ExecAsync(LabRole.Target, CoordinatorApi.Curl(lab, "-s", "-w", "\n%{http_code}", "-X", "PATCH", "-H", "Content-Type: application/json",
            "--data", """{"fakeClientRange": "10.200.0.0/8"}""", $"{CoordinatorApi.Url}/api/plan"), TimeSpan.FromSeconds(10), Cancellation);
        Assert.EndsWith("\n400", overlap.StdOut.TrimEnd(), StringComparison.Ordinal);
        Assert.Contains("\"field\":\"fakeClientRange\"", overlap.StdOut, StringComparison.Ordinal);
        using (var shown = JsonDocument.Parse((await PlanAsync(lab, "show", "--json")).StdOut))
        {
            Assert.Equal(3, shown.RootElement.GetProperty("version").GetInt64());
            Assert.Equal(3, shown.RootElement.GetProperty("plan").GetProperty("copies").GetInt32());
            Assert.Equal(JsonValueKind.Null, shown.RootElement.GetProperty("plan").GetProperty("samplePercent").ValueKind);
        }

        // New targets re-filter the live capture: port 80 is no longer an online service of the plan.
        var unmapped = (await PlanAsync(lab, "set", "--copies", "1", "-x", $"8080-{lab.TargetIp}:80")).EnsureSuccess("plan set -x 8080");
        await captureNode.WaitForAsync(r => r.Follows(VersionOf(unmapped), "tcp and ((dst port 8080))"), "capturing port 8080 only", TimeSpan.FromSeconds(10));
        await Load.CurlAsync(lab, "plan-unmapped", 10);
        await Task.Delay(2000, Cancellation);
        Assert.Equal(0, await ReplayedAsync(lab, "plan-unmapped", expected: 0));

        // The rate cap: a burst of 40 short connections, 5 sessions a second allowed.
        var capPlan = (await PlanAsync(lab, "set", "-x", $"80-{lab.TargetIp}:80", "--rate-cap", "5")).EnsureSuccess("plan set --rate-cap 5");
        await captureNode.WaitForAsync(r => r.Follows(VersionOf(capPlan), "tcp and ((dst port 80))"), "following the capped plan on port 80", TimeSpan.FromSeconds(10));
        var burst = string.Join(" & ", Enumerable.Range(0, 40).Select(i => $"curl -s -o /dev/null 'http://{lab.OnlineIp}/1k?case=plan-capped&n={i}'"));
        var started = DateTime.UtcNow;
        (await lab.ExecAsync(LabRole.Client, ["bash", "-c", burst + " & wait"], TimeSpan.FromSeconds(30), Cancellation)).EnsureSuccess("burst");
        var seconds = (DateTime.UtcNow - started).TotalSeconds;
        await Task.Delay(3000, Cancellation);
        var capped = await ReplayedAsync(lab, "plan-capped", expected: 0);
        Assert.Equal(40, lab.ReadAccessLog(LabRole.Online).Count(e => e.Request.Contains("case=plan-capped", StringComparison.Ordinal)));

        // One second's worth at once, then 5 a second while the burst lasted (plus scheduling slack).
        TestContext.Current.TestOutputHelper?.WriteLine($"rate cap 5/s: {capped} of 40 sessions replayed, burst lasted {seconds:F1} s");
        Assert.InRange(capped, 5, 5 + (int)Math.Ceiling(5 * (seconds + 1)));
        Assert.True(capped < 40);

        // The plan's run duration: a run started without its own stops by itself.
        (await PlanAsync(lab, "set", "--run-duration", "2s")).EnsureSuccess("plan set --run-duration 2s");
        (await lab.ExecAsync(LabRole.Target, CoordinatorApi.Cli(lab, "run", "start"), TimeSpan.FromSeconds(30), Cancellation)).EnsureSuccess("run start");
        await Task.Delay(3500, Cancellation);
        var report = await lab.ExecAsync(LabRole.Target, CoordinatorApi.Curl(lab, "-sf", $"{CoordinatorApi.Url}/api/report"), TimeSpan.FromSeconds(10), Cancellation);
        using var run = JsonDocument.Parse(report.StdOut);
        Assert.Equal(2, run.RootElement.GetProperty("plannedDurationSeconds").GetDouble());
        Assert.NotEqual(JsonValueKind.Null, run.RootElement.GetProperty("stoppedAt").ValueKind);
        Assert.InRange(run.RootElement.GetProperty("durationSeconds").GetDouble(), 1.9, 2.5);

        // A target outside the node's allowed-targets (here the online host itself): the coordinator takes the
        // plan, the capture node refuses it whole and keeps replaying the one it follows.
        (await PlanAsync(lab, "set", "-x", $"80-{lab.OnlineIp}:80")).EnsureSuccess("plan set -x online host");
        await capture.WaitForLogAsync(TimeSpan.FromSeconds(10), Cancellation, "Refused replay plan version", "not_allowed");
        await Load.CurlAsync(lab, "plan-kept", 5);
        Assert.Equal(5, await ReplayedAsync(lab, "plan-kept", expected: 5));
    }

    /// <summary>The version <c>plan set</c> says the coordinator gave the plan ("plan version N, followed by ...").</summary>
    private static long VersionOf(LabExecResult set)
    {
        var match = System.Text.RegularExpressions.Regex.Match(set.StdOut, @"plan version (\d+)");
        Assert.True(match.Success, $"plan set printed no version: {set.StdOut}");
        return long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task<LabExecResult> PlanAsync(LabHost lab, params string[] args) =>
        await lab.ExecAsync(LabRole.Target, CoordinatorApi.Cli(lab, ["plan", .. args]), TimeSpan.FromSeconds(30), Cancellation);

    // Waits (bounded) until the target saw the expected count, and returns what it saw.
    private static async Task<int> ReplayedAsync(LabHost lab, string name, int expected)
    {
        int Count() => lab.ReadAccessLog(LabRole.Target).Count(e => e.Request.Contains($"case={name}&", StringComparison.Ordinal));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (Count() < expected && DateTime.UtcNow < deadline && expected > 0)
        {
            await Task.Delay(200, Cancellation);
        }

        return Count();
    }
}
