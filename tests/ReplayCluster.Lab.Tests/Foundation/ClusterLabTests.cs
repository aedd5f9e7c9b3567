using System.Diagnostics;
using System.Globalization;
using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Lab.Tests.Nodes;

namespace ReplayCluster.Lab.Tests.Foundation;

/// <summary>
/// The three node executables form one cluster across three namespaces (coordinator on the target, capture on the
/// online host, intercept on the assistant) and dissolve it gracefully on SIGTERM.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class ClusterLabTests(LabFixture fixture, ITestOutputHelper output)
{
    private const int CoordinatorPort = 4053;
    private static readonly TimeSpan UpTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan LeaveTimeout = TimeSpan.FromSeconds(15);
    private readonly Lab.Lab _lab = fixture.Lab;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Three_nodes_in_three_namespaces_reach_member_up_and_leave_gracefully_on_sigterm()
    {
        var seed = $"{_lab.TargetIp}:{CoordinatorPort}";
        var port = CoordinatorPort.ToString(CultureInfo.InvariantCulture);
        var watch = Stopwatch.StartNew();
        await using var coordinator = NodeProcesses.StartNode(_lab, LabRole.Target, "coordinator", "--hostname", _lab.TargetIp.ToString(), "--port", port);
        await using var capture = NodeProcesses.StartNode(
            _lab,
            LabRole.Online,
            "capture",
            "--hostname", _lab.OnlineUplinkIp.ToString(), "--seed", seed,
            "-i", _lab.OnlineInterface, "-x", $"{_lab.OnlineNginxPort}-{_lab.TargetIp}:{_lab.TargetNginxPort}", "-c", _lab.FakeRange);
        await using var intercept = NodeProcesses.StartNode(
            _lab, LabRole.Assistant, "intercept", "--hostname", _lab.AssistantIp.ToString(), "--seed", seed, "-i", _lab.AssistantInterface);

        // The coordinator sees each member come up; addresses identify the nodes, roles confirm what they are.
        foreach (var (node, ip) in new[] { ("coordinator", _lab.TargetIp), ("capture", _lab.OnlineUplinkIp), ("intercept", _lab.AssistantIp) })
        {
            var line = await coordinator.WaitForLogAsync(UpTimeout, Ct, "Member up:", $"@{ip}:", node);
            output.WriteLine($"{watch.Elapsed.TotalSeconds,6:0.00} s  {line}");
        }

        output.WriteLine($"the coordinator saw all three members up {watch.Elapsed.TotalSeconds:0.00} s after the processes started");

        foreach (var (node, process) in new[] { ("capture", capture), ("intercept", intercept) })
        {
            var joined = await process.WaitForLogAsync(UpTimeout, Ct, "Joined cluster as");
            output.WriteLine($"{node}: {joined}");
        }

        output.WriteLine($"capture and intercept both logged their join by {watch.Elapsed.TotalSeconds:0.00} s");

        // Capture and intercept leave on SIGTERM: removed after Exiting (a graceful leave, not a downed unreachable).
        var stopCapture = capture.StopAsync(timeout: LeaveTimeout);
        var stopIntercept = intercept.StopAsync(timeout: LeaveTimeout);
        var leaveWatch = Stopwatch.StartNew();
        var exitCodes = await Task.WhenAll(stopCapture, stopIntercept);
        output.WriteLine($"capture exited {exitCodes[0]}, intercept exited {exitCodes[1]} within {leaveWatch.Elapsed.TotalSeconds:0.00} s");
        foreach (var (node, ip) in new[] { ("capture", _lab.OnlineUplinkIp), ("intercept", _lab.AssistantIp) })
        {
            var removed = await coordinator.WaitForLogAsync(TimeSpan.FromSeconds(5), Ct, "Member removed:", $"@{ip}:");
            output.WriteLine(removed);
            Assert.Contains(node, removed, StringComparison.Ordinal);
            Assert.EndsWith("previous status Exiting", removed.TrimEnd(), StringComparison.Ordinal);
        }

        Assert.Equal(0, exitCodes[0]);
        Assert.Equal(0, exitCodes[1]);
        Assert.True(leaveWatch.Elapsed < LeaveTimeout, $"leaving took {leaveWatch.Elapsed}");
        Assert.DoesNotContain(coordinator.Lines, l => l.Contains("Member unreachable", StringComparison.Ordinal));

        Assert.Equal(0, await coordinator.StopAsync(timeout: LeaveTimeout));
    }
}
