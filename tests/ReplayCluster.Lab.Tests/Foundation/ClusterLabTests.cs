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
        var launcher = new ReplayLab(_lab);
        await using var coordinatorNode = launcher.Start("coordinator", _lab.TargetNamespace, _lab.TargetIp, "--port", port);
        await using var captureNode = launcher.Start("capture", _lab.OnlineNamespace, _lab.OnlineUplinkIp, "--seed", seed,
            "-i", _lab.OnlineInterface, "-x", $"{_lab.OnlineNginxPort}-{_lab.TargetIp}:{_lab.TargetNginxPort}", "-c", _lab.FakeRange);
        await using var interceptNode = launcher.Start("intercept", _lab.AssistantNamespace, _lab.AssistantIp, "--seed", seed, "-i", _lab.AssistantInterface);
        var (coordinator, capture, intercept) = (coordinatorNode.Process, captureNode.Process, interceptNode.Process);

        // The coordinator sees each member come up; addresses identify the nodes, roles confirm what they are.
        foreach (var (node, ip) in new[] { ("coordinator", _lab.TargetIp), ("capture", _lab.OnlineUplinkIp), ("intercept", _lab.AssistantIp) })
        {
            var line = await coordinator.WaitForLogAsync(UpTimeout, Ct, "Member up:", $"@{ip}:", node);
            output.WriteLine($"{watch.Elapsed.TotalSeconds,6:0.00} s  {line}");
        }

        output.WriteLine($"the coordinator saw all three members up {watch.Elapsed.TotalSeconds:0.00} s after the processes started");

        // Each node's own view, from its /readyz: its cluster check is met (an Up member), at the address it reports.
        foreach (var node in new[] { captureNode, interceptNode })
        {
            var joined = await node.WaitForAsync(r => r.Address is not null && !r.Reasons.Contains("cluster:", StringComparison.Ordinal), "joined", UpTimeout);
            output.WriteLine($"{node.Role}: joined as {joined.Address}");
            Assert.Contains($"@{(node == captureNode ? _lab.OnlineUplinkIp : _lab.AssistantIp)}:", joined.Address, StringComparison.Ordinal);
        }

        output.WriteLine($"capture and intercept both reported their join by {watch.Elapsed.TotalSeconds:0.00} s");

        // Capture and intercept leave on SIGTERM: removed after Exiting (a graceful leave, not a downed unreachable).
        var stopCapture = capture.StopAsync(timeout: LeaveTimeout);
        var stopIntercept = intercept.StopAsync(timeout: LeaveTimeout);
        var leaveWatch = Stopwatch.StartNew();
        var exitCodes = await Task.WhenAll(stopCapture, stopIntercept);
        output.WriteLine($"capture exited {exitCodes[0]}, intercept exited {exitCodes[1]} within {leaveWatch.Elapsed.TotalSeconds:0.00} s");
        foreach (var (node, code) in new[] { (captureNode, exitCodes[0]), (interceptNode, exitCodes[1]) }.Where(n => n.Item2 != 0))
        {
            // A node that did not leave cleanly says why in its last lines.
            output.WriteLine($"--- {node.Role} (exit {code}) ---{Environment.NewLine}{string.Join(Environment.NewLine, node.Process.Lines.TakeLast(30))}");
        }

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
