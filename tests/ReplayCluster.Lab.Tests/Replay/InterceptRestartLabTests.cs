using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Lab.Tests.Nodes;
using LabHost = ReplayCluster.Lab.Tests.Lab.Lab;

namespace ReplayCluster.Lab.Tests.Replay;

/// <summary>
/// The intercept dies mid-run and comes back on the same address: the capture node announces its
/// live sessions to the new incarnation, and sessions that waited meanwhile are replayed by
/// retransmission once replies can come back again.
/// </summary>
public sealed class InterceptRestartLabTests
{
    private const string InterceptPort = "4054";

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Sessions_waiting_while_the_intercept_restarts_are_replayed_once_it_is_back()
    {
        await using var lab = await LabHost.StartAsync(new LabOptions(), Cancellation);
        var coordinatorSeed = $"{lab.TargetIp}:4053";
        var interceptSeed = $"{lab.AssistantIp}:{InterceptPort}";
        LabProcess StartIntercept() => NodeProcesses.StartNode(lab, LabRole.Assistant, "intercept", "--hostname", lab.AssistantIp.ToString(),
            "--port", InterceptPort, "--seed", coordinatorSeed, "--seed", interceptSeed, "-i", lab.SinkInterface);

        await using var coordinator = NodeProcesses.StartNode(lab, LabRole.Target, "coordinator", "--hostname", lab.TargetIp.ToString(),
            "--port", "4053", "-c", lab.FakeRange, "--seed", coordinatorSeed, "--seed", interceptSeed);
        var intercept = StartIntercept();
        await using var capture = NodeProcesses.StartNode(lab, LabRole.Online, "capture", "--hostname", lab.OnlineUplinkIp.ToString(),
            "--seed", coordinatorSeed, "--seed", interceptSeed, "-i", lab.OnlineInterface, "-x", $"80-{lab.TargetIp}:80");
        try
        {
            await capture.WaitForLogAsync(TimeSpan.FromSeconds(60), Cancellation, "Capturing on");

            // A keep-alive client that stays connected across the restart, and short connections.
            await using var keepAlive = lab.StartProcess(LabRole.Client, ["curl", "-s", "-o", "/dev/null", "--rate", "4/s",
                .. Enumerable.Range(0, 40).Select(i => $"http://{lab.OnlineIp}/1k?case=irestart-kept&n={i}")]);
            await RequestsAsync(lab, "before");

            var down = System.Diagnostics.Stopwatch.StartNew();
            await intercept.StopAsync(LabNative.SigKill);
            await RequestsAsync(lab, "during");
            var linesBefore = capture.Lines.Count;
            await intercept.DisposeAsync();
            intercept = StartIntercept();
            try
            {
                await intercept.WaitJoinedAsync(Cancellation);
            }
            catch (TimeoutException)
            {
                // The other side of a join that never came: what the coordinator said meanwhile.
                TestContext.Current.TestOutputHelper?.WriteLine(string.Join(Environment.NewLine, coordinator.Lines.TakeLast(60)));
                throw;
            }
            await WaitForNewLineAsync(capture, linesBefore, "Intercept node", "joined: announcing");
            TestContext.Current.TestOutputHelper?.WriteLine($"replies had no intercept for {down.Elapsed.TotalSeconds:F1} s");
            await RequestsAsync(lab, "after");

            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(40);
            int Replayed(string phase) => lab.ReadAccessLog(LabRole.Target).Count(e => e.Request.Contains($"case=irestart-{phase}&", StringComparison.Ordinal));
            int Online(string phase) => lab.ReadAccessLog(LabRole.Online).Count(e => e.Request.Contains($"case=irestart-{phase}&", StringComparison.Ordinal));
            while ((Replayed("before") < 5 || Replayed("during") < 5 || Replayed("after") < 5 || Replayed("kept") < Online("kept") || Online("kept") < 40)
                && DateTime.UtcNow < deadline)
            {
                await Task.Delay(250, Cancellation);
            }

            Assert.Equal((5, 5, 5), (Replayed("before"), Replayed("during"), Replayed("after")));
            Assert.Equal(40, Online("kept"));
            Assert.Equal(40, Replayed("kept"));
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

    private static async Task WaitForNewLineAsync(LabProcess process, int after, params string[] fragments)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!process.Lines.Skip(after).Any(l => fragments.All(f => l.Contains(f, StringComparison.Ordinal))))
        {
            Assert.True(DateTime.UtcNow < deadline, $"no new line with '{string.Join("', '", fragments)}' within 30 s");
            await Task.Delay(200, Cancellation);
        }
    }
}
