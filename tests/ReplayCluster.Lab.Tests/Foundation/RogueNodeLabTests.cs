using System.Diagnostics;
using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Lab.Tests.Nodes;

namespace ReplayCluster.Lab.Tests.Foundation;

/// <summary>
/// Issue 10, finding 1: a host that reaches the coordinator's cluster port must not be able to join. With mutual TLS
/// (the default) a node without a certificate (plain TCP) and a node with a certificate of another CA never become
/// members, while a node with a certificate of the lab's cluster CA joins. Without TLS the same rogue joins: the
/// second test shows the first one can fail.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class RogueNodeLabTests(LabFixture fixture, ITestOutputHelper output)
{
    private const string CoordinatorPort = "4053";
    private static readonly TimeSpan UpTimeout = TimeSpan.FromSeconds(30);

    // Rogues retry their join every 2 s (akka.cluster.retry-unsuccessful-join-after): 6 s is three attempts.
    private static readonly TimeSpan RogueAttempts = TimeSpan.FromSeconds(6);
    private readonly Lab.Lab _lab = fixture.Lab;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Seed => $"{_lab.TargetIp}:{CoordinatorPort}";

    [Fact]
    public async Task Rogue_nodes_without_a_cluster_certificate_never_join_while_a_certified_node_does()
    {
        var watch = Stopwatch.StartNew();
        var foreignCa = await CreateForeignCaAsync();
        var launcher = new ReplayLab(_lab);
        await using var coordinator = (await launcher.StartCoordinatorAsync()).Process;

        var rogueStart = Stopwatch.StartNew();
        await using var plain = Intercept(launcher, LabRole.Assistant, "--set", "replaycluster.cluster.tls = off");
        await using var foreign = Intercept(launcher, LabRole.Online,
            "--set", $"replaycluster.cluster.tls.ca-certificate = \"{foreignCa}/ca.crt\"",
            "--set", $"replaycluster.cluster.tls.certificate = \"{foreignCa}/rogue.crt\"",
            "--set", $"replaycluster.cluster.tls.private-key = \"{foreignCa}/rogue.key\"");
        await using var certified = Intercept(launcher, LabRole.Assistant);

        await certified.WaitReadyAsync(UpTimeout);
        await coordinator.WaitForLogAsync(UpTimeout, Ct, "Member up:", "roles=[intercept]");
        var left = RogueAttempts - rogueStart.Elapsed;
        if (left > TimeSpan.Zero)
        {
            await Task.Delay(left, Ct);
        }

        var members = coordinator.Lines.Where(l => l.Contains("Member up:", StringComparison.Ordinal)).ToList();
        foreach (var line in members)
        {
            output.WriteLine(line);
        }

        output.WriteLine($"{watch.Elapsed.TotalSeconds:0.0} s; plain rogue exited: {plain.Process.ExitCode?.ToString() ?? "no"}, foreign-CA rogue exited: {foreign.Process.ExitCode?.ToString() ?? "no"}");
        Assert.Equal(2, members.Count); // the coordinator and the certified intercept, nobody else
        Assert.Contains(members, l => l.Contains("roles=[coordinator]", StringComparison.Ordinal));
        Assert.Single(members, l => l.Contains($"@{_lab.AssistantIp}:", StringComparison.Ordinal) && l.Contains("roles=[intercept]", StringComparison.Ordinal));
        Assert.DoesNotContain(members, l => l.Contains($"@{_lab.OnlineUplinkIp}:", StringComparison.Ordinal));
        Assert.DoesNotContain(plain.Process.Lines, l => l.Contains("Joined cluster as", StringComparison.Ordinal));
        Assert.DoesNotContain(foreign.Process.Lines, l => l.Contains("Joined cluster as", StringComparison.Ordinal));
        foreach (var rogue in new[] { plain, foreign }.Where(r => !r.HasExited))
        {
            Assert.False((await rogue.ProbeAsync(Ct)).Ready, $"a rogue intercept ({rogue.Process.CommandLine}) says it is ready");
        }

        // Both were turned away at the handshake, before Akka read a byte of theirs.
        Assert.Contains(coordinator.Lines, l => l.Contains("not a TLS record", StringComparison.Ordinal));
        Assert.Contains(coordinator.Lines, l => l.Contains("Refused cluster peer", StringComparison.Ordinal) && l.Contains("CN=rogue", StringComparison.Ordinal));
        Assert.DoesNotContain(coordinator.Lines, l => l.Contains("Member unreachable", StringComparison.Ordinal));
        output.WriteLine($"done in {watch.Elapsed.TotalSeconds:0.0} s");
    }

    [Fact]
    public async Task Without_tls_the_same_rogue_joins()
    {
        var launcher = new ReplayLab(_lab);
        await using var coordinator = (await launcher.StartCoordinatorAsync("--set", "replaycluster.cluster.tls = off")).Process;
        await using var rogue = Intercept(launcher, LabRole.Assistant, "--set", "replaycluster.cluster.tls = off");

        await rogue.WaitReadyAsync(UpTimeout);
        var up = await coordinator.WaitForLogAsync(UpTimeout, Ct, "Member up:", $"@{_lab.AssistantIp}:", "roles=[intercept]");
        output.WriteLine(up);
        Assert.Contains(coordinator.Lines, l => l.Contains("Cluster TLS is OFF", StringComparison.Ordinal));
    }

    private LabNode Intercept(ReplayLab launcher, LabRole role, params string[] extra) =>
        launcher.Start("intercept", _lab.Namespace(role), role == LabRole.Assistant ? _lab.AssistantIp : _lab.OnlineUplinkIp,
            ["--seed", Seed, "-i", role == LabRole.Assistant ? _lab.SinkInterface : _lab.OnlineUplinkInterface, .. extra]);

    /// <summary>A second CA, made with the same command, and a valid-looking intercept certificate it signed.</summary>
    private async Task<string> CreateForeignCaAsync()
    {
        var directory = Path.Combine(_lab.StateDirectory, $"foreign-ca-{Guid.NewGuid():N}");
        var coordinator = NodeProcesses.LocateBinary("coordinator");
        foreach (var command in new[] { new[] { "certs", "init" }, ["certs", "issue", "--role", "intercept", "--name", "rogue"] })
        {
            (await CommandRunner.RunAsync("dotnet", [coordinator, .. command, "--dir", directory], TimeSpan.FromSeconds(30), cancellationToken: Ct))
                .EnsureSuccess(string.Join(' ', command));
        }

        return directory;
    }
}
