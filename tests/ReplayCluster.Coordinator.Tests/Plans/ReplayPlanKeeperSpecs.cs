using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using Akka.TestKit;
using Microsoft.Extensions.Logging.Abstractions;
using ReplayCluster.Configuration;
using ReplayCluster.Coordinator.Plans;
using ReplayCluster.Membership;
using ReplayCluster.Plans;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Coordinator.Tests.Plans;

public sealed class ReplayPlanKeeperSpecs() : Akka.TestKit.Xunit.TestKit(ConfigurationFactory.ParseString("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0\nakka.cluster.roles = [coordinator]"))
{
    private readonly SpecMembers _members = new(NodeRoles.Coordinator);
    private readonly MessageRefusals _refusals = new();

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public void A_capture_node_gets_the_plan_when_it_subscribes_and_every_change_after()
    {
        var keeper = NewKeeper(new ReplayPlan { Copies = 2 });
        var (capture, node) = CaptureNode(11);

        keeper.Tell(new SubscribeReplayPlan(0, null), node);
        var first = capture.ExpectMsg<ReplayPlanAssigned>(cancellationToken: Cancellation);
        Assert.Equal((1, 2), (first.Version, first.Plan.Copies));

        keeper.Tell(Patch("""{"copies": 3, "samplePercent": 50}"""), TestActor);
        var answer = ExpectMsg<CurrentPlan>(cancellationToken: Cancellation);
        var pushed = capture.ExpectMsg<ReplayPlanAssigned>(cancellationToken: Cancellation);

        Assert.Equal(2, answer.Version);
        Assert.Equal(1, answer.CaptureNodes);
        Assert.Equal((2, 3, 50.0), (pushed.Version, pushed.Plan.Copies, pushed.Plan.SamplePercent));
    }

    [Fact]
    public void A_refused_change_names_the_field_leaves_the_running_plan_and_pushes_nothing()
    {
        var keeper = NewKeeper(new ReplayPlan { Copies = 2 });
        var (capture, node) = CaptureNode(11);
        keeper.Tell(new SubscribeReplayPlan(0, null), node);
        capture.ExpectMsg<ReplayPlanAssigned>(cancellationToken: Cancellation);

        keeper.Tell(Patch("""{"samplePercent": 40, "copies": 0}"""), TestActor);
        var refused = ExpectMsg<PlanRefused>(cancellationToken: Cancellation);
        keeper.Tell(GetReplayPlan.Instance, TestActor);
        var current = ExpectMsg<CurrentPlan>(cancellationToken: Cancellation);

        Assert.Equal("copies", refused.Error.Field);
        Assert.Equal(1, refused.RunningVersion);
        Assert.Equal((1, 2, (double?)null), (current.Version, current.Plan.Copies, current.Plan.SamplePercent));
        capture.ExpectNoMsg(TimeSpan.FromMilliseconds(200), Cancellation);
    }

    [Fact]
    public void The_rate_cap_is_shared_by_the_capture_nodes_and_reshared_when_one_goes()
    {
        var keeper = NewKeeper(new ReplayPlan { RateCap = 300 });
        var (first, firstNode) = CaptureNode(11);
        var (second, secondNode) = CaptureNode(12);
        var (third, thirdNode) = CaptureNode(13);

        keeper.Tell(new SubscribeReplayPlan(0, null), firstNode);
        Assert.Equal(300, first.ExpectMsg<ReplayPlanAssigned>(cancellationToken: Cancellation).RateCapShare);
        keeper.Tell(new SubscribeReplayPlan(0, null), secondNode);
        keeper.Tell(new SubscribeReplayPlan(0, null), thirdNode);
        Assert.Equal(100, third.ExpectMsg<ReplayPlanAssigned>(cancellationToken: Cancellation).RateCapShare);

        // A node goes when the cluster removes it (no remote death watch: untrusted mode turns it off).
        _members.Leave(13);
        keeper.Tell(SpecMembers.Removed(thirdNode.Path.Address, NodeRoles.Capture));

        first.FishForMessage<ReplayPlanAssigned>(m => m.RateCapShare == 150, TimeSpan.FromSeconds(3), cancellationToken: Cancellation);
        second.FishForMessage<ReplayPlanAssigned>(m => m.RateCapShare == 150, TimeSpan.FromSeconds(3), cancellationToken: Cancellation);
    }

    [Fact]
    public void Several_actors_of_one_node_are_one_subscriber_and_cannot_dilute_the_rate_cap()
    {
        var keeper = NewKeeper(new ReplayPlan { RateCap = 300 });
        var (first, firstNode) = CaptureNode(11);
        var probe = CreateTestProbe();

        keeper.Tell(new SubscribeReplayPlan(0, null), firstNode);
        first.ExpectMsg<ReplayPlanAssigned>(cancellationToken: Cancellation);
        foreach (var i in Enumerable.Range(0, 5))
        {
            keeper.Tell(new SubscribeReplayPlan(0, null), RemoteStandIn.For(Sys, SpecMembers.Node(11), probe.Ref, $"other-{i}"));
        }

        Assert.Equal(300, probe.ExpectMsg<ReplayPlanAssigned>(cancellationToken: Cancellation).RateCapShare);
        keeper.Tell(GetReplayPlan.Instance, TestActor);
        Assert.Equal(1, ExpectMsg<CurrentPlan>(cancellationToken: Cancellation).CaptureNodes);
    }

    [Fact]
    public void Replacing_the_plan_drops_the_fields_the_new_one_does_not_give()
    {
        var keeper = NewKeeper(new ReplayPlan { Copies = 2, SamplePercent = 50 });

        keeper.Tell(new ChangeReplayPlan(JsonNode.Parse("""{"rateCap": 10}""")!.AsObject(), Replace: true), TestActor);
        var current = ExpectMsg<CurrentPlan>(cancellationToken: Cancellation);

        Assert.Equal(((int?)null, (double?)null, (double?)10), (current.Plan.Copies, current.Plan.SamplePercent, current.Plan.RateCap));
    }

    [Fact]
    public void A_range_change_reaches_the_slice_allocator()
    {
        var slices = CreateTestProbe();
        var keeper = Sys.ActorOf(ReplayPlanKeeper.Props(new ReplayPlan { FakeClientRange = "10.200.0.0/16" }, slices.Ref, NullLogger.Instance));

        keeper.Tell(Patch("""{"fakeClientRange": "10.201.0.0/16", "slicePrefix": 20}"""), TestActor);
        ExpectMsg<CurrentPlan>(cancellationToken: Cancellation);

        Assert.Equal(new IdentityRangeChanged("10.201.0.0/16", 20), slices.ExpectMsg<IdentityRangeChanged>(cancellationToken: Cancellation));
    }

    [Fact]
    public void A_restarted_coordinator_takes_back_the_newer_plan_its_capture_nodes_follow()
    {
        var keeper = NewKeeper(new ReplayPlan { Copies = 1 });
        var (capture, node) = CaptureNode(11);

        keeper.Tell(new SubscribeReplayPlan(7, new ReplayPlan { Copies = 4 }), node);

        var assigned = capture.ExpectMsg<ReplayPlanAssigned>(cancellationToken: Cancellation);
        Assert.Equal((7, 4), (assigned.Version, assigned.Plan.Copies));
    }

    [Fact]
    public void One_capture_node_of_three_cannot_impose_its_newer_plan_but_a_majority_that_agrees_does()
    {
        var keeper = NewKeeper(new ReplayPlan { Copies = 1 });
        var (liar, liarNode) = CaptureNode(11);
        var (first, firstNode) = CaptureNode(12);
        var (second, secondNode) = CaptureNode(13);
        var agreed = new ReplayPlan { Copies = 3 };

        keeper.Tell(new SubscribeReplayPlan(900, new ReplayPlan { Copies = 1000 }), liarNode);
        keeper.Tell(new SubscribeReplayPlan(5, agreed), firstNode);
        keeper.Tell(GetReplayPlan.Instance, TestActor);
        Assert.Equal(1, ExpectMsg<CurrentPlan>(cancellationToken: Cancellation).Version);

        // The second node following version 5 makes a majority of the three capture nodes.
        keeper.Tell(new SubscribeReplayPlan(5, agreed), secondNode);

        Assert.Equal((5, 3), Versioned(second.ExpectMsg<ReplayPlanAssigned>(cancellationToken: Cancellation)));
        Assert.Equal((5, 3), Versioned(first.ExpectMsg<ReplayPlanAssigned>(cancellationToken: Cancellation)));
        liar.ExpectNoMsg(TimeSpan.FromMilliseconds(200), Cancellation);
    }

    [Fact]
    public void A_reported_version_beyond_any_a_coordinator_reaches_is_refused_and_cannot_push_the_next_version_to_overflow()
    {
        var keeper = NewKeeper(new ReplayPlan { Copies = 1 });
        var (capture, node) = CaptureNode(11);

        keeper.Tell(new SubscribeReplayPlan(long.MaxValue, new ReplayPlan { Copies = 2 }), node);

        Assert.Equal((1, 1), Versioned(capture.ExpectMsg<ReplayPlanAssigned>(cancellationToken: Cancellation)));
        Assert.Equal(1, _refusals.ByReason[RefusalReasons.StaleVersion]);
        keeper.Tell(Patch("""{"copies": 2}"""), TestActor);
        Assert.Equal(2, ExpectMsg<CurrentPlan>(cancellationToken: Cancellation).Version);
    }

    [Fact]
    public void Subscriptions_from_a_non_member_or_a_member_of_another_role_are_refused_counted_and_get_nothing()
    {
        var keeper = NewKeeper(new ReplayPlan { Copies = 1 });
        var probe = CreateTestProbe();
        var stranger = RemoteStandIn.For(Sys, SpecMembers.Node(50), probe.Ref);
        var intercept = RemoteStandIn.For(Sys, _members.Join(51, NodeRoles.Intercept), probe.Ref);

        keeper.Tell(new SubscribeReplayPlan(7, new ReplayPlan { Copies = 9 }), stranger);
        keeper.Tell(new SubscribeReplayPlan(7, new ReplayPlan { Copies = 9 }), intercept);
        keeper.Tell(new SubscribeReplayPlan(0, null), TestActor); // this node itself: a coordinator, no capture node

        probe.ExpectNoMsg(TimeSpan.FromMilliseconds(200), Cancellation);
        keeper.Tell(GetReplayPlan.Instance, TestActor);
        var current = ExpectMsg<CurrentPlan>(cancellationToken: Cancellation);
        Assert.Equal((1, 1, 0), (current.Version, current.Plan.Copies ?? 0, current.CaptureNodes));
        Assert.Equal(1, _refusals.ByReason[RefusalReasons.NotMember]);
        Assert.Equal(2, _refusals.ByReason[RefusalReasons.WrongRole]);
    }

    [Fact]
    public void The_api_refuses_a_target_that_is_never_one_and_a_public_fake_range()
    {
        var keeper = NewKeeper(ReplayPlan.Empty);

        keeper.Tell(Patch("""{"targets": ["80-127.0.0.1:80"]}"""), TestActor);
        Assert.Contains("loopback", ExpectMsg<PlanRefused>(cancellationToken: Cancellation).Error.Problem, StringComparison.Ordinal);
        keeper.Tell(Patch("""{"fakeClientRange": "8.8.0.0/16"}"""), TestActor);
        Assert.Contains("not private", ExpectMsg<PlanRefused>(cancellationToken: Cancellation).Error.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_plan_changed_here_is_not_overwritten_by_an_older_nodes_plan()
    {
        var keeper = NewKeeper(ReplayPlan.Empty);
        keeper.Tell(Patch("""{"copies": 9}"""), TestActor);
        ExpectMsg<CurrentPlan>(cancellationToken: Cancellation);
        var (capture, node) = CaptureNode(11);

        keeper.Tell(new SubscribeReplayPlan(5, new ReplayPlan { Copies = 4 }), node);

        // It keeps its newer-numbered plan for now (it would refuse ours), and takes the next change, numbered above it.
        capture.ExpectNoMsg(TimeSpan.FromMilliseconds(200), Cancellation);
        keeper.Tell(Patch("""{"copies": 8}"""), TestActor);
        Assert.Equal(6, ExpectMsg<CurrentPlan>(cancellationToken: Cancellation).Version);
        var assigned = capture.ExpectMsg<ReplayPlanAssigned>(cancellationToken: Cancellation);
        Assert.Equal((6, 8), (assigned.Version, assigned.Plan.Copies));
    }

    private IActorRef NewKeeper(ReplayPlan initial) =>
        Sys.ActorOf(ReplayPlanKeeper.Props(initial, CreateTestProbe().Ref, NullLogger.Instance, senders: _members.Senders, refusals: _refusals));

    // A capture node's plan follower: a member with the capture role, whose messages reach the returned probe.
    private (TestProbe Probe, IActorRef Follower) CaptureNode(int n)
    {
        var probe = CreateTestProbe();
        return (probe, RemoteStandIn.For(Sys, _members.Join(n, NodeRoles.Capture), probe.Ref, "plan-follower"));
    }

    private static (long Version, int Copies) Versioned(ReplayPlanAssigned assigned) => (assigned.Version, assigned.Plan.Copies ?? 0);

    private static ChangeReplayPlan Patch(string json) => new(JsonNode.Parse(json)!.AsObject(), Replace: false);
}
