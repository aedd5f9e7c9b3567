using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using ReplayCluster.Coordinator.Identities;
using ReplayCluster.Coordinator.Plans;
using ReplayCluster.Replay;

namespace ReplayCluster.Coordinator.Tests.Identities;

public sealed class IdentitySliceAllocatorSpecs : Akka.TestKit.Xunit.TestKit
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public void Capture_nodes_get_disjoint_slices_and_a_gone_nodes_slice_is_reclaimed()
    {
        var allocator = Sys.ActorOf(IdentitySliceAllocator.Props(
            new IdentityRangeChanged("10.200.0.0/23", 24), NullLogger.Instance));
        var first = CreateTestProbe();
        var second = CreateTestProbe();
        var third = CreateTestProbe();

        allocator.Tell(new RequestIdentitySlice(null), first.Ref);
        Assert.Equal("10.200.0.0/24", first.ExpectMsg<IdentitySliceGranted>(cancellationToken: Cancellation).Range);
        allocator.Tell(new RequestIdentitySlice(null), second.Ref);
        Assert.Equal("10.200.1.0/24", second.ExpectMsg<IdentitySliceGranted>(cancellationToken: Cancellation).Range);
        allocator.Tell(new RequestIdentitySlice(null), third.Ref);
        Assert.Contains("are taken", third.ExpectMsg<IdentitySliceRefused>(cancellationToken: Cancellation).Reason, StringComparison.Ordinal);

        Sys.Stop(first.Ref);
        AwaitAssert(() =>
        {
            allocator.Tell(new RequestIdentitySlice(null), third.Ref);
            Assert.Equal("10.200.0.0/24", third.ExpectMsg<IdentitySliceGranted>(TimeSpan.FromMilliseconds(200), cancellationToken: Cancellation).Range);
        }, TimeSpan.FromSeconds(5), cancellationToken: Cancellation);
    }

    [Fact]
    public void Without_a_range_the_coordinator_refuses_and_says_why()
    {
        var allocator = Sys.ActorOf(IdentitySliceAllocator.Props(new IdentityRangeChanged(null, 24), NullLogger.Instance));
        allocator.Tell(new RequestIdentitySlice(null), TestActor);
        Assert.Contains("fake-client-range", ExpectMsg<IdentitySliceRefused>(cancellationToken: Cancellation).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void When_the_plan_moves_to_another_range_every_holder_gets_a_slice_of_it()
    {
        var allocator = Sys.ActorOf(IdentitySliceAllocator.Props(new IdentityRangeChanged("10.200.0.0/23", 24), NullLogger.Instance));
        var first = CreateTestProbe();
        var second = CreateTestProbe();
        allocator.Tell(new RequestIdentitySlice(null), first.Ref);
        allocator.Tell(new RequestIdentitySlice(null), second.Ref);
        first.ExpectMsg<IdentitySliceGranted>(cancellationToken: Cancellation);
        second.ExpectMsg<IdentitySliceGranted>(cancellationToken: Cancellation);

        allocator.Tell(new IdentityRangeChanged("10.210.0.0/16", 20), TestActor);

        var slices = new[] { first, second }.Select(p => IPNetwork.Parse(p.ExpectMsg<IdentitySliceGranted>(cancellationToken: Cancellation).Range)).ToList();
        Assert.All(slices, s => Assert.Equal(20, s.PrefixLength));
        Assert.All(slices, s => Assert.True(IPNetwork.Parse("10.210.0.0/16").Contains(s.BaseAddress)));
        Assert.NotEqual(slices[0], slices[1]);
    }
}
