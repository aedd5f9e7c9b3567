using System.Text.RegularExpressions;
using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Lab.Tests.Nodes;
using LabHost = ReplayCluster.Lab.Tests.Lab.Lab;

namespace ReplayCluster.Lab.Tests.Replay;

/// <summary>
/// The coordinator dies mid-run and comes back: replay goes on without it (the data path never touches
/// it), and the restarted coordinator joins the running cluster instead of forming its own, because its
/// seeds list itself first and a long-lived node (the intercept, on a fixed port) second.
/// </summary>
public sealed partial class CoordinatorRestartLabTests
{
    private const string InterceptPort = "4054";

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Replay_goes_on_while_the_coordinator_is_down_and_it_rejoins_the_running_cluster()
    {
        await using var lab = await LabHost.StartAsync(new LabOptions(), Cancellation);
        var launcher = new ReplayLab(lab);
        var interceptSeed = $"{lab.AssistantIp}:{InterceptPort}";
        LabNode StartCoordinator() => launcher.Start("coordinator", lab.TargetNamespace, lab.TargetIp,
            "--port", ReplayLab.CoordinatorPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "-c", lab.FakeRange,
            "--seed", launcher.Seed, "--seed", interceptSeed);

        var coordinator = StartCoordinator();
        await using var intercept = launcher.Start("intercept", lab.AssistantNamespace, lab.AssistantIp,
            "--port", InterceptPort, "--seed", launcher.Seed, "--seed", interceptSeed, "-i", lab.SinkInterface);
        await using var capture = launcher.StartCapture(args: ["--seed", interceptSeed]);
        try
        {
            // Ready from /readyz: the coordinator's API listens (its token file exists), the capture node captures.
            await coordinator.WaitReadyAsync(TimeSpan.FromSeconds(60));
            var slice = (await capture.WaitReadyAsync(TimeSpan.FromSeconds(60))).IdentitySlice;
            Assert.NotNull(slice);
            var token = CoordinatorApi.Token(lab);
            await coordinator.Process.WaitForLogAsync(TimeSpan.FromSeconds(10), Cancellation, "HTTP API token created in");
            await RequestsAsync(lab, "before");

            await coordinator.StopAsync(LabNative.SigKill);
            // An event, not readiness (the capture node stays ready without a coordinator): its membership monitor says so.
            await capture.Process.WaitForLogAsync(TimeSpan.FromSeconds(60), Cancellation, "Member removed", "roles=[coordinator]");
            await RequestsAsync(lab, "without");

            var linesBefore = capture.Process.Lines.Count;
            await coordinator.DisposeAsync();
            coordinator = StartCoordinator();
            await coordinator.WaitReadyAsync(TimeSpan.FromSeconds(45));
            // How it joined (the running cluster, not itself) is in Akka's log, written through its event stream and
            // possibly after ours: wait for the welcome.
            await coordinator.Process.WaitForLogAsync(TimeSpan.FromSeconds(10), Cancellation, "Welcome from");
            Assert.DoesNotContain(coordinator.Process.Lines, l => l.Contains("is JOINING itself", StringComparison.Ordinal));

            // The restarted coordinator keeps its API token: the CLI and scrapers need no new one.
            await coordinator.Process.WaitForLogAsync(TimeSpan.FromSeconds(20), Cancellation, "HTTP API token read from");
            Assert.Equal(token, CoordinatorApi.Token(lab));
            (await lab.ExecAsync(LabRole.Target, CoordinatorApi.Cli(lab, "status"), TimeSpan.FromSeconds(30), Cancellation)).EnsureSuccess("status after the restart");
            await RequestsAsync(lab, "after");

            // The same slice granted again (the node kept using it meanwhile, so its /readyz cannot tell): its log says so.
            var regranted = await WaitForNewLineAsync(capture.Process, linesBefore, "Using identity slice");
            Assert.Equal(slice, SliceInLog().Match(regranted).Groups["slice"].Value);

            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            int Replayed(string phase) => lab.ReadAccessLog(LabRole.Target).Count(e => e.Request.Contains($"case=restart-{phase}", StringComparison.Ordinal));
            while ((Replayed("before") < 5 || Replayed("without") < 5 || Replayed("after") < 5) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200, Cancellation);
            }

            Assert.Equal((5, 5, 5), (Replayed("before"), Replayed("without"), Replayed("after")));
        }
        finally
        {
            await coordinator.DisposeAsync();
        }
    }

    private static async Task RequestsAsync(LabHost lab, string phase)
    {
        var urls = Enumerable.Range(0, 5).Select(i => $"http://{lab.OnlineIp}/1k?case=restart-{phase}&n={i}").ToArray();
        (await lab.ExecAsync(LabRole.Client, ["curl", "-s", "-o", "/dev/null", .. urls], TimeSpan.FromSeconds(20), Cancellation)).EnsureSuccess("curl");
    }

    private static async Task<string> WaitForNewLineAsync(LabProcess process, int after, string fragment)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (process.Lines.Skip(after).FirstOrDefault(l => l.Contains(fragment, StringComparison.Ordinal)) is { } line)
            {
                return line;
            }

            await Task.Delay(200, Cancellation);
        }

        throw new TimeoutException($"no new '{fragment}' line within 30 s");
    }

    [GeneratedRegex(@"Using identity slice (?<slice>\S+)")]
    private static partial Regex SliceInLog();
}
