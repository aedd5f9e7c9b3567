using System.Text.Json.Nodes;
using Akka.Actor;
using Microsoft.Extensions.Logging.Abstractions;
using ReplayCluster.Coordinator.Plans;
using ReplayCluster.Plans;

namespace ReplayCluster.Coordinator.Tests.Plans;

public sealed class ReplayPlanKeeperSpecs : Akka.TestKit.Xunit.TestKit
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public void A_capture_node_gets_the_plan_when_it_subscribes_and_every_change_after()
    {
        var keeper = NewKeeper(new ReplayPlan { Copies = 2 });
        var capture = CreateTestProbe();

        keeper.Tell(new SubscribeReplayPlan(0, null), capture.Ref);
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
        var capture = CreateTestProbe();
        keeper.Tell(new SubscribeReplayPlan(0, null), capture.Ref);
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
        var first = CreateTestProbe();
        var second = CreateTestProbe();
        var third = CreateTestProbe();

        keeper.Tell(new SubscribeReplayPlan(0, null), first.Ref);
        Assert.Equal(300, first.ExpectMsg<ReplayPlanAssigned>(cancellationToken: Cancellation).RateCapShare);
        keeper.Tell(new SubscribeReplayPlan(0, null), second.Ref);
        keeper.Tell(new SubscribeReplayPlan(0, null), third.Ref);
        Assert.Equal(100, third.ExpectMsg<ReplayPlanAssigned>(cancellationToken: Cancellation).RateCapShare);

        Sys.Stop(third.Ref);

        first.FishForMessage<ReplayPlanAssigned>(m => m.RateCapShare == 150, TimeSpan.FromSeconds(3), cancellationToken: Cancellation);
        second.FishForMessage<ReplayPlanAssigned>(m => m.RateCapShare == 150, TimeSpan.FromSeconds(3), cancellationToken: Cancellation);
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
        var capture = CreateTestProbe();

        keeper.Tell(new SubscribeReplayPlan(7, new ReplayPlan { Copies = 4 }), capture.Ref);

        var assigned = capture.ExpectMsg<ReplayPlanAssigned>(cancellationToken: Cancellation);
        Assert.Equal((7, 4), (assigned.Version, assigned.Plan.Copies));
    }

    [Fact]
    public void A_plan_changed_here_is_not_overwritten_by_an_older_nodes_plan()
    {
        var keeper = NewKeeper(ReplayPlan.Empty);
        keeper.Tell(Patch("""{"copies": 9}"""), TestActor);
        ExpectMsg<CurrentPlan>(cancellationToken: Cancellation);
        var capture = CreateTestProbe();

        keeper.Tell(new SubscribeReplayPlan(5, new ReplayPlan { Copies = 4 }), capture.Ref);

        Assert.Equal(9, capture.ExpectMsg<ReplayPlanAssigned>(cancellationToken: Cancellation).Plan.Copies);
    }

    private IActorRef NewKeeper(ReplayPlan initial) =>
        Sys.ActorOf(ReplayPlanKeeper.Props(initial, CreateTestProbe().Ref, NullLogger.Instance));

    private static ChangeReplayPlan Patch(string json) => new(JsonNode.Parse(json)!.AsObject(), Replace: false);
}
