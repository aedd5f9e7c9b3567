using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Lab.Tests.Nodes;
using LabHost = ReplayCluster.Lab.Tests.Lab.Lab;

namespace ReplayCluster.Lab.Tests.Replay;

/// <summary>
/// The intercept dies mid-run and comes back on the same address once the cluster removed the dead
/// one: the capture node announces its live sessions to the new incarnation, and a keep-alive
/// session that waited all that time is replayed by retransmission once replies can come back.
/// </summary>
/// <remarks>
/// The restart waits for the removal: a new incarnation started at once on the same address was
/// sometimes never answered by the coordinator (its InitJoinAck did not arrive for 45 s, about one
/// run in ten). New sessions are not started while no intercept is up (counted refused-no-intercept),
/// so only the long-lived session spans the gap.
/// </remarks>
public sealed class InterceptRestartLabTests
{
    private const string InterceptPort = "4054";

    // At 4 a second the keep-alive client outlasts the intercept's absence (about 15 s).
    private const int KeptRequests = 100;

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_session_waiting_while_the_intercept_restarts_is_replayed_once_it_is_back()
    {
        await using var lab = await LabHost.StartAsync(new LabOptions(), Cancellation);
        var launcher = new ReplayLab(lab);
        var interceptSeed = $"{lab.AssistantIp}:{InterceptPort}";
        LabNode StartIntercept() => launcher.Start("intercept", lab.AssistantNamespace, lab.AssistantIp,
            "--port", InterceptPort, "--seed", launcher.Seed, "--seed", interceptSeed, "-i", lab.SinkInterface);

        await using var coordinator = launcher.Start("coordinator", lab.TargetNamespace, lab.TargetIp,
            "--port", ReplayLab.CoordinatorPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "-c", lab.FakeRange,
            "--seed", launcher.Seed, "--seed", interceptSeed);
        var intercept = StartIntercept();
        await using var capture = launcher.StartCapture(args: ["--seed", interceptSeed]);
        try
        {
            await capture.WaitReadyAsync(TimeSpan.FromSeconds(60));

            // A keep-alive client that stays connected across the restart, and short connections.
            await using var keepAlive = lab.StartProcess(LabRole.Client, ["curl", "-s", "-o", "/dev/null", "--rate", "4/s",
                .. Enumerable.Range(0, KeptRequests).Select(i => $"http://{lab.OnlineIp}/1k?case=irestart-kept&n={i}")]);
            await RequestsAsync(lab, "before");
            int Replayed(string phase) => lab.ReadAccessLog(LabRole.Target).Count(e => e.Request.Contains($"case=irestart-{phase}&", StringComparison.Ordinal));
            int Online(string phase) => lab.ReadAccessLog(LabRole.Online).Count(e => e.Request.Contains($"case=irestart-{phase}&", StringComparison.Ordinal));

            // Short sessions still in their handshake when the intercept dies would be lost (see remarks).
            var replayedBefore = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (Replayed("before") < 5 && DateTime.UtcNow < replayedBefore)
            {
                await Task.Delay(100, Cancellation);
            }

            Assert.Equal(5, Replayed("before"));

            var down = System.Diagnostics.Stopwatch.StartNew();
            await intercept.StopAsync(LabNative.SigKill);
            // The capture node knows: its /readyz says it waits for an intercept.
            await capture.WaitForAsync(r => r.Reasons.Contains("no intercept", StringComparison.Ordinal), "without an intercept", TimeSpan.FromSeconds(40));

            // While no intercept is in the cluster, new connections are not replayed (their replies could not come
            // back: they would only retransmit SYNs into the target), and are counted.
            await RequestsAsync(lab, "gap");
            await capture.Process.WaitForLogAsync(TimeSpan.FromSeconds(15), Cancellation, "Capture statistics", " sessions_refused_no_intercept=5 ");
            await intercept.DisposeAsync();
            intercept = StartIntercept();
            try
            {
                await intercept.WaitReadyAsync(TimeSpan.FromSeconds(45));
            }
            catch (TimeoutException)
            {
                // The other side of a join that never came: what the coordinator said meanwhile.
                TestContext.Current.TestOutputHelper?.WriteLine(string.Join(Environment.NewLine, coordinator.Process.Lines.TakeLast(60)));
                throw;
            }
            await capture.WaitReadyAsync(TimeSpan.FromSeconds(30)); // an intercept knows it again
            TestContext.Current.TestOutputHelper?.WriteLine($"replies had no intercept for {down.Elapsed.TotalSeconds:F1} s");
            await RequestsAsync(lab, "after");

            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(40);
            while ((Replayed("before") < 5 || Replayed("after") < 5 || Replayed("kept") < Online("kept") || Online("kept") < KeptRequests)
                && DateTime.UtcNow < deadline)
            {
                await Task.Delay(250, Cancellation);
            }

            Assert.Equal((5, 5, 0), (Replayed("before"), Replayed("after"), Replayed("gap")));
            Assert.Equal(5, Online("gap"));
            Assert.Equal(KeptRequests, Online("kept"));
            Assert.Equal(KeptRequests, Replayed("kept"));
        }
        finally
        {
            await intercept.DisposeAsync();
        }
    }

    private static async Task RequestsAsync(LabHost lab, string phase)
    {
        var urls = Enumerable.Range(0, 5).Select(i => $"http://{lab.OnlineIp}/1k?case=irestart-{phase}&n={i}").ToArray();
        (await lab.ExecAsync(LabRole.Client, ["bash", "-c", string.Join(" & ", urls.Select(u => $"curl -s -o /dev/null '{u}'")) + " & wait"],
            TimeSpan.FromSeconds(20), Cancellation)).EnsureSuccess("curl");
    }
}
