using System.Globalization;
using Akka.Cluster;
using ReplayCluster.Configuration;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Tests.Cluster;

/// <summary>
/// In process, on loopback: nodes without a certificate of the cluster CA never become members of a TLS cluster,
/// while a certified node joins. The lab test (RogueNodeLabTests) does the same with real processes in namespaces.
/// </summary>
public sealed class RogueNodeSpecs : IDisposable
{
    private static readonly TimeSpan JoinTimeout = TimeSpan.FromSeconds(30);
    private readonly TestCertificateAuthority _otherCa = new();

    public void Dispose() => _otherCa.Dispose();

    [Fact]
    public async Task Nodes_without_a_cluster_certificate_never_join_a_tls_cluster_while_a_certified_node_does()
    {
        await using var coordinator = await InProcessNode.StartAsync(NodeRoles.Coordinator, new NodeConfigOverrides { Port = "0" });
        var seed = Seed(coordinator);
        await using var plain = await InProcessNode.StartAsync(NodeRoles.Capture,
            new NodeConfigOverrides { Seeds = [seed], Sets = ["replaycluster.cluster.tls = off"] });
        await using var foreign = await InProcessNode.StartAsync(NodeRoles.Capture,
            new NodeConfigOverrides { Seeds = [seed], Sets = _otherCa.TlsSets(NodeRoles.Capture) });
        await using var certified = await InProcessNode.StartAsync(NodeRoles.Intercept, new NodeConfigOverrides { Seeds = [seed] });

        await certified.Logs.WaitForAsync(l => l.Contains("Joined cluster as", StringComparison.Ordinal), JoinTimeout);
        // The rogues retry every 2 s (retry-unsuccessful-join-after); give them a few attempts.
        await Task.Delay(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);

        Assert.Equal(
            new HashSet<Akka.Actor.Address> { coordinator.Cluster.SelfAddress, certified.Cluster.SelfAddress },
            coordinator.Cluster.State.Members.Select(m => m.Address).ToHashSet());
        Assert.DoesNotContain(plain.Logs.Lines, l => l.Contains("Joined cluster as", StringComparison.Ordinal));
        Assert.DoesNotContain(foreign.Logs.Lines, l => l.Contains("Joined cluster as", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Without_tls_the_same_rogue_joins()
    {
        string[] off = ["replaycluster.cluster.tls = off"];
        await using var coordinator = await InProcessNode.StartAsync(NodeRoles.Coordinator, new NodeConfigOverrides { Port = "0", Sets = off });
        await using var rogue = await InProcessNode.StartAsync(NodeRoles.Capture, new NodeConfigOverrides { Seeds = [Seed(coordinator)], Sets = off });

        await rogue.Logs.WaitForAsync(l => l.Contains("Joined cluster as", StringComparison.Ordinal), JoinTimeout);
        Assert.Contains(coordinator.Cluster.State.Members, m => m.Address == rogue.Cluster.SelfAddress && m.Status == MemberStatus.Up);
        Assert.Contains(coordinator.Logs.Lines, l => l.Contains("Cluster TLS is OFF", StringComparison.Ordinal));
    }

    private static string Seed(InProcessNode node) =>
        $"{node.Cluster.SelfAddress.Host}:{node.Cluster.SelfAddress.Port!.Value.ToString(CultureInfo.InvariantCulture)}";
}
