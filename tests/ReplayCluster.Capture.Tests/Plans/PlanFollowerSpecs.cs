using Akka.Actor;
using Akka.Configuration;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Capture.Tests.Sessions;
using ReplayCluster.Packets;
using ReplayCluster.Plans;

namespace ReplayCluster.Capture.Tests.Plans;

public sealed class PlanFollowerSpecs() : Akka.TestKit.Xunit.TestKit(ConfigurationFactory.ParseString("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0"))
{
    [Fact]
    public async Task Without_targets_of_its_own_the_node_is_not_ready_until_the_plan_names_them()
    {
        var rig = new CaptureNodeRig(Sys, CaptureNodeRig.DefaultSettings() with { Targets = null, ExplicitFilter = null });
        rig.Readiness.SetIntercepts(1);
        rig.Readiness.SetIdentitiesSettled(true);
        Assert.False(rig.Readiness.IsReady);
        Assert.Contains("replay plan", rig.Readiness.Reason, StringComparison.Ordinal);
        Assert.Null(rig.Plan.Current.Filter);
        var changed = rig.Readiness.WaitForChangeAsync(TestContext.Current.CancellationToken);

        rig.PlanFollower.Tell(new ReplayPlanAssigned(3, new ReplayPlan { Targets = ["8080-10.251.21.2:80"] }, null));

        // Pushed, not polled: the pump's wait completes.
        await changed.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        AwaitAssert(() => Assert.True(rig.Readiness.IsReady), cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal("tcp and ((dst port 8080))", rig.Plan.Current.Filter);
        rig.Capture(new OnlineConnection(0x0A0B0B02, 40_000, 0x0A0B0B01, 8080), CaptureNodeRig.Syn(1000));
        AwaitCondition(() => rig.Transport.Segments.Any(s => s.Flags == TcpFlags.Syn && s.DestinationPort == 80), cancellationToken: TestContext.Current.CancellationToken);
    }
}
