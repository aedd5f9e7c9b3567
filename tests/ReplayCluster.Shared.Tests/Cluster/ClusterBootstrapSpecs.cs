using System.Globalization;
using Akka.Cluster;
using ReplayCluster.Configuration;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Tests.Cluster;

public sealed class ClusterBootstrapSpecs
{
    private static readonly TimeSpan JoinTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Three_roles_form_one_cluster_and_a_stopped_node_leaves_gracefully()
    {
        await using var coordinator = await InProcessNode.StartAsync(NodeRoles.Coordinator, new NodeConfigOverrides { Port = "0" });
        var seed = Seed(coordinator);
        await using var capture = await InProcessNode.StartAsync(NodeRoles.Capture, new NodeConfigOverrides { Seeds = [seed] });
        await using var intercept = await InProcessNode.StartAsync(NodeRoles.Intercept, new NodeConfigOverrides { Seeds = [seed] });

        await WaitUntilAsync(() => UpRoles(coordinator).SetEquals(NodeRoles.All), "all three roles Up");
        await capture.Logs.WaitForAsync(l => l.Contains("Joined cluster as", StringComparison.Ordinal), JoinTimeout);

        await capture.StopAsync();

        var removed = await coordinator.Logs.WaitForAsync(
            l => l.Contains("Member removed", StringComparison.Ordinal) && l.Contains("roles=[capture]", StringComparison.Ordinal), JoinTimeout);
        Assert.Contains("previous status Exiting", removed, StringComparison.Ordinal);
        // A leaving member that falls silent before its removal is logged as such, not warned about (on a loaded host
        // the removal may take longer than the failure detector's pause); any other unreachable member is a fault.
        var unreachable = coordinator.Logs.Lines.Where(l => l.Contains("Member unreachable", StringComparison.Ordinal)).ToList();
        Assert.True(unreachable.Count == 0, $"members went unreachable during a graceful leave:\n{string.Join('\n', unreachable)}");
        await WaitUntilAsync(() => UpRoles(coordinator).SetEquals([NodeRoles.Coordinator, NodeRoles.Intercept]), "capture gone");
    }

    [Fact]
    public async Task A_node_the_cluster_downs_says_so_and_marks_its_exit_a_failure()
    {
        await using var coordinator = await InProcessNode.StartAsync(NodeRoles.Coordinator, new NodeConfigOverrides { Port = "0" });
        await using var capture = await InProcessNode.StartAsync(NodeRoles.Capture, new NodeConfigOverrides { Seeds = [Seed(coordinator)] });
        await capture.Logs.WaitForAsync(l => l.Contains("Joined cluster as", StringComparison.Ordinal), JoinTimeout);
        try
        {
            coordinator.Cluster.Down(capture.Cluster.SelfAddress);

            var line = await capture.Logs.WaitForAsync(l => l.Contains("Node stopping without being asked to", StringComparison.Ordinal), JoinTimeout);
            Assert.Contains("the cluster downed this node", line, StringComparison.Ordinal);
            await capture.System.WhenTerminated.WaitAsync(JoinTimeout, TestContext.Current.CancellationToken);
            Assert.NotEqual(0, Environment.ExitCode);
        }
        finally
        {
            Environment.ExitCode = 0; // this test host's own status
        }
    }

    [Fact]
    public async Task A_node_its_host_stops_says_so_and_keeps_a_clean_exit()
    {
        await using var coordinator = await InProcessNode.StartAsync(NodeRoles.Coordinator, new NodeConfigOverrides { Port = "0" });

        await coordinator.StopAsync();

        Assert.Contains(coordinator.Logs.Lines, l => l.Contains("Node stopping: the host stops", StringComparison.Ordinal));
        Assert.DoesNotContain(coordinator.Logs.Lines, l => l.Contains("without being asked", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_node_whose_seed_is_down_says_so_and_joins_once_the_seed_starts()
    {
        var port = FreePorts.Next();
        var seed = $"127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";
        await using var capture = await InProcessNode.StartAsync(NodeRoles.Capture, new NodeConfigOverrides
        {
            Seeds = [seed],
            Sets = ["replaycluster.cluster.join-warning-interval = 300ms"],
        });

        var warning = await capture.Logs.WaitForAsync(l => l.Contains("Not joined the cluster", StringComparison.Ordinal), JoinTimeout);
        Assert.Contains(seed, warning, StringComparison.Ordinal);
        await WaitUntilAsync(() => capture.Logs.Lines.Count(l => l.Contains("Not joined the cluster", StringComparison.Ordinal)) >= 3,
            "the warning repeats while the seed is down");

        await using var coordinator = await InProcessNode.StartAsync(NodeRoles.Coordinator,
            new NodeConfigOverrides { Port = port.ToString(CultureInfo.InvariantCulture) });

        await capture.Logs.WaitForAsync(l => l.Contains("Joined cluster as", StringComparison.Ordinal), JoinTimeout);
        Assert.Equal(MemberStatus.Up, capture.Cluster.SelfMember.Status);
    }

    private static string Seed(InProcessNode node) =>
        $"{node.Cluster.SelfAddress.Host}:{node.Cluster.SelfAddress.Port!.Value.ToString(CultureInfo.InvariantCulture)}";

    private static HashSet<string> UpRoles(InProcessNode node) =>
        [.. node.Cluster.State.Members.Where(m => m.Status == MemberStatus.Up).SelectMany(m => m.Roles).Where(r => !r.StartsWith("dc-", StringComparison.Ordinal))];

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + JoinTimeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for: {what}");
            }

            await Task.Delay(100);
        }
    }
}
