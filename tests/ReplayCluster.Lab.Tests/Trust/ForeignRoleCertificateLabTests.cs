using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Lab.Tests.Nodes;
using LabHost = ReplayCluster.Lab.Tests.Lab.Lab;

namespace ReplayCluster.Lab.Tests.Trust;

/// <summary>
/// A member whose valid certificate names another role than the one it joins as is downed by the seed and changes
/// nothing. Apart from <see cref="RogueMemberLabTests"/> (whose lab helpers it uses) so that the two ~40 s tests can run
/// side by side: the suite runs three tests at a time (xunit.runner.json).
/// </summary>
public sealed class ForeignRoleCertificateLabTests
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_member_whose_certificate_carries_another_role_is_downed_and_changes_nothing()
    {
        await using var lab = await LabHost.StartAsync(new LabOptions(), Cancellation);
        var seed = $"{lab.TargetIp}:4053";
        var (launcher, coordinatorNode, interceptNode) = await RogueMemberLabTests.StartCoordinatorAndInterceptAsync(lab);
        await using var coordinator = coordinatorNode;
        await using var intercept = interceptNode;
        await using var capture = (await launcher.StartCaptureAsync()).Process;

        // A valid intercept certificate of the lab's CA, joining as a coordinator: with the role it claims it could
        // hand out plans and identity slices. The seed knows the certificate from the handshake and downs it after
        // its grace (10 s); the rogue attacks for longer than that, so that it is downed rather than leaving first.
        await using var rogue = lab.StartProcess(LabRole.Online, ["dotnet", RogueMemberLabTests.RogueBinary(), .. NodeProcesses.ClusterTlsArguments("intercept"),
            "--hostname", lab.OnlineUplinkIp.ToString(), "--port", "4072",
            "--seed", seed, "--role", "coordinator", "--steal-to", lab.OnlineIp.ToString(), "--seconds", "40"]);
        var downed = await coordinator.WaitForLogAsync(TimeSpan.FromSeconds(45), Cancellation, "Downing member", ":4072", "claims roles [coordinator]", "intercept]");
        TestContext.Current.TestOutputHelper?.WriteLine(downed);

        await Load.CurlAsync(lab, "certified", 10);
        var replayed = await RogueMemberLabTests.ReplayedAsync(lab, "certified", 10);
        foreach (var line in rogue.Lines.Concat(capture.Lines.Where(l => l.Contains("Refused", StringComparison.Ordinal) || l.Contains("plan version", StringComparison.Ordinal))))
        {
            TestContext.Current.TestOutputHelper?.WriteLine(line);
        }

        Assert.Equal(10, replayed.Count);
        Assert.DoesNotContain(capture.Lines, l => l.Contains("Following replay plan version", StringComparison.Ordinal) && !l.Contains("version 1:", StringComparison.Ordinal));
        await coordinator.WaitForLogAsync(TimeSpan.FromSeconds(20), Cancellation, "Member removed:", ":4072", "previous status Down");
    }
}
