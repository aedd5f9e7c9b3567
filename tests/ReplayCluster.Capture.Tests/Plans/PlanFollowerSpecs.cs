using Akka.Actor;
using Akka.Configuration;
using ReplayCluster.Capture.Plans;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Capture.Tests.Sessions;
using ReplayCluster.Configuration;
using ReplayCluster.Membership;
using ReplayCluster.Packets;
using ReplayCluster.Plans;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Capture.Tests.Plans;

public sealed class PlanFollowerSpecs() : Akka.TestKit.Xunit.TestKit(ConfigurationFactory.ParseString("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0"))
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Without_targets_of_its_own_the_node_is_not_ready_until_the_plan_names_them()
    {
        var rig = new CaptureNodeRig(Sys, OwnTargetsNone(allowed: "10.251.21.0/24"));
        rig.Readiness.SetIntercepts(1, 1);
        rig.Readiness.SetIdentitiesSettled(true);
        Assert.False(rig.Readiness.IsReady);
        Assert.Contains("replay plan", rig.Readiness.Reason, StringComparison.Ordinal);
        Assert.Null(rig.Plan.Current.Filter);
        var changed = rig.Readiness.WaitForChangeAsync(Token);

        rig.PlanFollower.Tell(new ReplayPlanAssigned(3, new ReplayPlan { Targets = ["8080-10.251.21.2:80"] }, null), rig.Coordinator);

        // Pushed, not polled: the pump's wait completes.
        await changed.WaitAsync(TimeSpan.FromSeconds(5), Token);
        AwaitAssert(() => Assert.True(rig.Readiness.IsReady), cancellationToken: Token);
        Assert.Equal("tcp and ((dst port 8080))", rig.Plan.Current.Filter);
        rig.Capture(new OnlineConnection(0x0A0B0B02, 40_000, 0x0A0B0B01, 8080), CaptureNodeRig.Syn(1000));
        AwaitCondition(() => rig.Transport.Segments.Any(s => s.Flags == TcpFlags.Syn && s.DestinationPort == 80), cancellationToken: Token);
    }

    [Fact]
    public void A_plan_from_a_non_member_an_intercept_a_capture_node_or_this_node_itself_changes_nothing_and_is_counted()
    {
        var rig = new CaptureNodeRig(Sys, CaptureNodeRig.DefaultSettings());
        var probe = CreateTestProbe();
        var plan = new ReplayPlanAssigned(9, new ReplayPlan { Copies = 50 }, null);

        rig.PlanFollower.Tell(plan, RemoteStandIn.For(Sys, SpecMembers.Node(50), probe.Ref, "replay-plan"));
        rig.PlanFollower.Tell(plan, RemoteStandIn.For(Sys, rig.Members.Join(51, NodeRoles.Intercept), probe.Ref, "replay-plan"));
        rig.PlanFollower.Tell(plan, RemoteStandIn.For(Sys, rig.Members.Join(52, NodeRoles.Capture), probe.Ref, "replay-plan"));
        rig.PlanFollower.Tell(plan, ActorRefs.NoSender); // what arrives without a sender: this node's own dead letters

        AwaitAssert(() => Assert.Equal(4, rig.Statistics.Refusals.Total), cancellationToken: Token);
        Assert.Equal((1, 3), (rig.Statistics.Refusals.ByReason[RefusalReasons.NotMember], rig.Statistics.Refusals.ByReason[RefusalReasons.WrongRole]));
        Assert.Equal((0, 1), (rig.Plan.Current.Version, rig.Plan.Current.Copies));
        Assert.Equal(4, rig.Statistics.ToCounters()["messages_refused"]);
        Assert.Contains("messages_refused=4 (not_member=1 wrong_role=3)", rig.Statistics.Summary(), StringComparison.Ordinal);
    }

    [Fact]
    public void Versions_only_grow_the_same_version_may_only_reshare_the_rate_cap()
    {
        var rig = new CaptureNodeRig(Sys, CaptureNodeRig.DefaultSettings());
        var plan = new ReplayPlan { Copies = 2, RateCap = 100 };
        Follow(rig, new ReplayPlanAssigned(5, plan, 50));
        Assert.Equal((5, 2, 50.0), (rig.Plan.Current.Version, rig.Plan.Current.Copies, rig.Plan.Current.RateCap!.Value));

        rig.PlanFollower.Tell(new ReplayPlanAssigned(4, new ReplayPlan { Copies = 7 }, null), rig.Coordinator);
        rig.PlanFollower.Tell(new ReplayPlanAssigned(5, new ReplayPlan { Copies = 7 }, null), rig.Coordinator);
        rig.PlanFollower.Tell(new ReplayPlanAssigned(long.MaxValue, new ReplayPlan { Copies = 7 }, null), rig.Coordinator);
        rig.PlanFollower.Tell(new ReplayPlanAssigned(-1, new ReplayPlan { Copies = 7 }, null), rig.Coordinator);
        AwaitAssert(() => Assert.Equal(4, rig.Statistics.Refusals.ByReason[RefusalReasons.StaleVersion]), cancellationToken: Token);

        // The same plan again with the share of three nodes instead of two.
        Follow(rig, new ReplayPlanAssigned(5, new ReplayPlan { Copies = 2, RateCap = 100 }, 100.0 / 3));
        AwaitAssert(() => Assert.Equal(100.0 / 3, rig.Plan.Current.RateCap), cancellationToken: Token);
        Assert.Equal((5, 2), (rig.Plan.Current.Version, rig.Plan.Current.Copies));
    }

    [Theory]
    [InlineData("""{"copies": 0}""", RefusalReasons.InvalidPlan)]
    [InlineData("""{"rateCap": 10}""", RefusalReasons.InvalidPlan)] // a share above the cap: see below
    [InlineData("""{"fakeClientRange": "8.8.0.0/16"}""", RefusalReasons.InvalidPlan)]
    [InlineData("""{"fakeClientRange": "0.0.0.0/0"}""", RefusalReasons.InvalidPlan)]
    [InlineData("""{"targets": ["80-127.0.0.1:80"]}""", RefusalReasons.InvalidPlan)]
    [InlineData("""{"targets": ["80-255.255.255.255:80"]}""", RefusalReasons.InvalidPlan)]
    [InlineData("""{"targets": ["80-224.0.0.1:80"]}""", RefusalReasons.InvalidPlan)]
    [InlineData("""{"targets": ["80-169.254.1.1:80"]}""", RefusalReasons.InvalidPlan)]
    [InlineData("""{"targets": ["80-10.9.9.9:80"]}""", RefusalReasons.NotAllowed)] // not among this node's own -x
    [InlineData("""{"targets": ["80-10.251.21.2:80", "81-10.251.21.99:80"]}""", RefusalReasons.NotAllowed)]
    public void A_plan_that_fails_validation_or_this_nodes_own_rules_is_refused_whole(string json, string reason)
    {
        var rig = new CaptureNodeRig(Sys, CaptureNodeRig.DefaultSettings());
        var plan = ReplayPlanJson.Deserialize(json, out var unreadable);
        Assert.Null(unreadable);

        rig.PlanFollower.Tell(new ReplayPlanAssigned(2, plan!, plan!.RateCap is null ? null : 20), rig.Coordinator);

        AwaitAssert(() => Assert.Equal(1, rig.Statistics.Refusals.ByReason.GetValueOrDefault(reason)), cancellationToken: Token);
        Assert.Equal(0, rig.Plan.Current.Version);
        Assert.Equal("80-10.251.21.2:80", string.Join(",", rig.Plan.Current.Targets!.Routes));
    }

    [Fact]
    public void Allowed_targets_admit_a_network_but_never_this_hosts_own_address()
    {
        var rig = new CaptureNodeRig(Sys, OwnTargetsNone(allowed: "10.251.0.0/16"));
        rig.OwnAddresses.Add(Ipv4Address.Parse("10.251.9.9"));

        rig.PlanFollower.Tell(new ReplayPlanAssigned(2, new ReplayPlan { Targets = ["80-10.251.9.9:80"] }, null), rig.Coordinator);
        AwaitAssert(() => Assert.Equal(1, rig.Statistics.Refusals.ByReason.GetValueOrDefault(RefusalReasons.NotAllowed)), cancellationToken: Token);
        Follow(rig, new ReplayPlanAssigned(3, new ReplayPlan { Targets = ["80-10.251.21.2:80"] }, null));

        Assert.Equal((3, "80-10.251.21.2:80"), (rig.Plan.Current.Version, string.Join(",", rig.Plan.Current.Targets!.Routes)));
    }

    [Fact]
    public void Without_allowed_targets_and_own_targets_no_plan_target_is_allowed()
    {
        var rig = new CaptureNodeRig(Sys, OwnTargetsNone(allowed: null));
        rig.Readiness.SetIntercepts(1, 1);
        rig.Readiness.SetIdentitiesSettled(true);

        rig.PlanFollower.Tell(new ReplayPlanAssigned(2, new ReplayPlan { Targets = ["80-10.251.21.2:80"] }, null), rig.Coordinator);

        AwaitAssert(() => Assert.Equal(1, rig.Statistics.Refusals.ByReason.GetValueOrDefault(RefusalReasons.NotAllowed)), cancellationToken: Token);
        Assert.Null(rig.Plan.Current.Targets);
        Assert.Contains("replay plan", rig.Readiness.Reason, StringComparison.Ordinal);
    }

    private void Follow(CaptureNodeRig rig, ReplayPlanAssigned assigned)
    {
        var refused = rig.Statistics.Refusals.Total;
        rig.PlanFollower.Tell(assigned, rig.Coordinator);
        AwaitAssert(() => Assert.Equal(assigned.Version, rig.Plan.Current.Version), cancellationToken: Token);
        Assert.Equal(refused, rig.Statistics.Refusals.Total);
    }

    private static CaptureNodeSettings OwnTargetsNone(string? allowed) => CaptureNodeRig.DefaultSettings() with
    {
        Targets = null,
        ExplicitFilter = null,
        AllowedTargets = allowed is null ? [] : [AllowedNetwork.Parse(allowed, "test")],
    };
}
