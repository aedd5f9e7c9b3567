using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Lab.Tests.Nodes;
using LabHost = ReplayCluster.Lab.Tests.Lab.Lab;

namespace ReplayCluster.Lab.Tests.Deploy;

/// <summary>
/// The published single-file binaries replay in the lab as a deployment runs them: no SDK on PATH (an
/// empty environment), and capture and intercept as an unprivileged user holding only the file
/// capabilities publish.sh set.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
[Collection(PublishCollection.Name)]
public sealed class PublishedBinariesLabTests(PublishFixture publish)
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Published_nodes_without_the_sdk_and_without_root_join_and_replay()
    {
        await using var lab = await LabHost.StartAsync(new LabOptions(), Cancellation);
        var launcher = new ReplayLab(lab);
        var seed = launcher.Seed;
        var (coordinatorHealth, coordinatorReady) = launcher.HealthEndpoint("coordinator", lab.TargetNamespace, lab.TargetIp);
        await using var coordinator = lab.StartProcess(LabRole.Target, Bare(publish.Binary("coordinator"),
            [.. NodeProcesses.ClusterTlsArguments("coordinator"), "--hostname", lab.TargetIp.ToString(), "--port", "4053",
             "--token-file", CoordinatorApi.TokenFile(lab), .. coordinatorHealth]));
        await launcher.Adopt("coordinator", coordinator, coordinatorReady).WaitReadyAsync(TimeSpan.FromSeconds(45));
        await using var intercept = lab.StartProcess(LabRole.Assistant,
            Unprivileged(publish.Binary("intercept"), [.. NodeProcesses.ClusterTlsArguments("intercept", ownerUid: 65534),
                "--hostname", lab.AssistantIp.ToString(), "--seed", seed, "-i", lab.SinkInterface]));
        var (captureHealth, captureReady) = launcher.HealthEndpoint("capture", lab.OnlineNamespace, lab.OnlineUplinkIp);
        await using var capture = lab.StartProcess(LabRole.Online, Unprivileged(publish.Binary("capture"),
            [.. NodeProcesses.ClusterTlsArguments("capture", ownerUid: 65534), "--hostname", lab.OnlineUplinkIp.ToString(), "--seed", seed, "-i", lab.OnlineInterface,
             "-x", $"80-{lab.TargetIp}:80", "-c", lab.FakeRange, .. captureHealth]));
        // Ready (its /readyz) needs the intercept too: replies can come back.
        await launcher.Adopt("capture", capture, captureReady).WaitReadyAsync(TimeSpan.FromSeconds(45));

        var urls = Enumerable.Range(0, 10).Select(i => $"http://{lab.OnlineIp}/1k?case=published&n={i}").ToArray();
        (await lab.ExecAsync(LabRole.Client, ["curl", "-s", "-o", "/dev/null", .. urls], TimeSpan.FromSeconds(20), Cancellation)).EnsureSuccess("curl");
        for (var i = 0; i < 10; i++)
        {
            (await lab.ExecAsync(LabRole.Client, ["curl", "-s", "-o", "/dev/null", $"http://{lab.OnlineIp}/1k?case=published-short&n={i}"],
                TimeSpan.FromSeconds(10), Cancellation)).EnsureSuccess("curl");
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        int Replayed() => lab.ReadAccessLog(LabRole.Target).Count(e => e.Request.Contains("case=published", StringComparison.Ordinal));
        while (Replayed() < 20 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200, Cancellation);
        }

        Assert.Equal(20, lab.ReadAccessLog(LabRole.Online).Count(e => e.Request.Contains("case=published", StringComparison.Ordinal)));
        Assert.Equal(20, Replayed());
        Assert.All(lab.ReadAccessLog(LabRole.Target).Where(e => e.Request.Contains("case=published", StringComparison.Ordinal)),
            e => Assert.StartsWith("10.200.", e.RemoteAddress.ToString(), StringComparison.Ordinal));

        // They leave the cluster and exit cleanly, unprivileged as they are.
        Assert.Equal(0, await capture.StopAsync(timeout: TimeSpan.FromSeconds(20)));
        Assert.Equal(0, await intercept.StopAsync(timeout: TimeSpan.FromSeconds(20)));
        Assert.Equal(0, await coordinator.StopAsync(timeout: TimeSpan.FromSeconds(20)));
    }

    /// <summary>An empty environment: no dotnet on PATH, nothing inherited from the test host.</summary>
    private static string[] Bare(string binary, params string[] arguments) =>
        ["env", "-i", "PATH=/nonexistent", "HOME=/tmp", binary, .. arguments];

    /// <summary>As nobody, with no inherited capabilities: only the binary's own file capabilities.</summary>
    private static string[] Unprivileged(string binary, params string[] arguments) =>
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--", .. Bare(binary, arguments)];
}
