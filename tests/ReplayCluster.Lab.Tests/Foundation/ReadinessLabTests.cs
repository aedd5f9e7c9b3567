using ReplayCluster.Lab.Tests.Lab;

namespace ReplayCluster.Lab.Tests.Foundation;

/// <summary>Readiness from data: a capture node's <c>/readyz</c> says not ready, and why, until it can replay.</summary>
public sealed class ReadinessLabTests
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_capture_node_is_alive_but_not_ready_before_it_joins_and_ready_with_its_slice_after()
    {
        await using var lab = await Lab.Lab.StartAsync(new LabOptions(), Cancellation);
        var launcher = new ReplayLab(lab);

        // No coordinator yet: the node runs, answers /healthz, and /readyz names the missing membership.
        // (Its start trim is set to 1 s after ready, so the test also sees that it waits for readiness.)
        var capture = launcher.StartCapture(null, "--set", "replaycluster.node.trim-memory-after=1s");
        NodeReadiness before;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        do
        {
            await Task.Delay(300, Cancellation);
            before = await capture.ProbeAsync(Cancellation);
        }
        while (before.Reasons.StartsWith("no answer", StringComparison.Ordinal) && DateTime.UtcNow < deadline && !capture.HasExited);

        var alive = await lab.ExecInAsync(capture.Process.Namespace, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", $"http://{capture.Health}/healthz"],
            cancellationToken: Cancellation);
        TestContext.Current.TestOutputHelper?.WriteLine($"before the coordinator: {before}");
        Assert.Equal("200", alive.StdOut);
        Assert.False(before.Ready);
        Assert.Contains("cluster: not joined", before.Reasons, StringComparison.Ordinal);
        Assert.Null(before.IdentitySlice);

        // The coordinator hands out slices, the intercept lets replies come back: then, and only then, ready.
        await launcher.StartCoordinatorAsync("-c", lab.FakeRange, "--slice-prefix", "24");
        var joinedNotReady = await capture.ProbeAsync(Cancellation);
        TestContext.Current.TestOutputHelper?.WriteLine($"with a coordinator, no intercept: {joinedNotReady}");
        Assert.False(joinedNotReady.Ready);

        await launcher.StartInterceptAsync();
        Assert.DoesNotContain(capture.Process.Lines, l => l.Contains(TrimLine, StringComparison.Ordinal));
        var after = await capture.WaitReadyAsync(TimeSpan.FromSeconds(45));
        TestContext.Current.TestOutputHelper?.WriteLine($"ready: {after}");
        Assert.True(after.Ready);
        Assert.NotNull(capture.Slice);
        Assert.True(System.Net.IPNetwork.Parse(lab.FakeRange).Contains(capture.Slice!.Value.BaseAddress), $"slice {capture.Slice} outside {lab.FakeRange}");
        Assert.Contains(lab.OnlineUplinkIp.ToString(), capture.Address, StringComparison.Ordinal);

        // Ready for the settle: the node gives back what its start left free, once, and says how much.
        var trim = await capture.Process.WaitForOutputAsync(l => l.Contains(TrimLine, StringComparison.Ordinal), TimeSpan.FromSeconds(15), Cancellation);
        TestContext.Current.TestOutputHelper?.WriteLine(trim);
        var resident = System.Text.RegularExpressions.Regex.Match(trim, @"resident (\d+) -> (\d+) MB");
        Assert.True(resident.Success, trim);
        Assert.True(int.Parse(resident.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture)
            <= int.Parse(resident.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), trim);
    }

    private const string TrimLine = "Memory the start left free given back";
}
