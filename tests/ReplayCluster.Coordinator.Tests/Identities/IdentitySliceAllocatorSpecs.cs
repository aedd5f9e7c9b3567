using System.Net;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Microsoft.Extensions.Logging.Abstractions;
using ReplayCluster.Configuration;
using ReplayCluster.Coordinator.Identities;
using ReplayCluster.Coordinator.Plans;
using ReplayCluster.Membership;
using ReplayCluster.Protocol;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Coordinator.Tests.Identities;

public sealed class IdentitySliceAllocatorSpecs() : Akka.TestKit.Xunit.TestKit(ConfigurationFactory.ParseString("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0\nakka.cluster.roles = [coordinator]"))
{
    private readonly SpecMembers _members = new(NodeRoles.Coordinator);
    private readonly MessageRefusals _refusals = new();

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public void Capture_nodes_get_disjoint_slices_and_a_gone_nodes_slice_is_reclaimed()
    {
        var allocator = NewAllocator("10.200.0.0/23", 24);
        var (first, firstNode) = CaptureNode(11);
        var (second, secondNode) = CaptureNode(12);
        var (third, thirdNode) = CaptureNode(13);

        allocator.Tell(new RequestIdentitySlice(null), firstNode);
        Assert.Equal("10.200.0.0/24", first.ExpectMsg<IdentitySliceGranted>(cancellationToken: Cancellation).Range);
        allocator.Tell(new RequestIdentitySlice(null), secondNode);
        Assert.Equal("10.200.1.0/24", second.ExpectMsg<IdentitySliceGranted>(cancellationToken: Cancellation).Range);
        allocator.Tell(new RequestIdentitySlice(null), thirdNode);
        Assert.Contains("are taken", third.ExpectMsg<IdentitySliceRefused>(cancellationToken: Cancellation).Reason, StringComparison.Ordinal);

        // Gone when the cluster removes it (no remote death watch: untrusted mode turns it off).
        _members.Leave(11);
        allocator.Tell(SpecMembers.Removed(firstNode.Path.Address, NodeRoles.Capture));

        allocator.Tell(new RequestIdentitySlice(null), thirdNode);
        Assert.Equal("10.200.0.0/24", third.ExpectMsg<IdentitySliceGranted>(cancellationToken: Cancellation).Range);
    }

    [Fact]
    public void With_an_ipv6_range_beside_the_ipv4_one_each_node_gets_the_ipv6_slice_of_its_ipv4_slices_index()
    {
        var allocator = NewAllocator("10.200.0.0/23,fd00:c8::/48", 24);
        var (first, firstNode) = CaptureNode(11);
        var (second, secondNode) = CaptureNode(12);

        allocator.Tell(new RequestIdentitySlice(null), firstNode);
        Assert.Equal("10.200.0.0/24,fd00:c8::/64", first.ExpectMsg<IdentitySliceGranted>(cancellationToken: Cancellation).Range);
        allocator.Tell(new RequestIdentitySlice(null), secondNode);
        Assert.Equal("10.200.1.0/24,fd00:c8:0:1::/64", second.ExpectMsg<IdentitySliceGranted>(cancellationToken: Cancellation).Range);

        // A node that names its slice (after a coordinator restart) gets it back, by its IPv4 part.
        _members.Leave(11);
        allocator.Tell(SpecMembers.Removed(firstNode.Path.Address, NodeRoles.Capture));
        _members.Leave(12);
        allocator.Tell(SpecMembers.Removed(secondNode.Path.Address, NodeRoles.Capture));
        var (third, thirdNode) = CaptureNode(13);
        allocator.Tell(new RequestIdentitySlice("10.200.1.0/24,fd00:c8:0:1::/64"), thirdNode);
        Assert.Equal("10.200.1.0/24,fd00:c8:0:1::/64", third.ExpectMsg<IdentitySliceGranted>(cancellationToken: Cancellation).Range);
    }

    [Fact]
    public void One_node_holds_one_slice_however_many_of_its_actors_ask()
    {
        var allocator = NewAllocator("10.200.0.0/23", 24);
        var probe = CreateTestProbe();
        var address = _members.Join(11, NodeRoles.Capture);
        var (other, otherNode) = CaptureNode(12);

        foreach (var i in Enumerable.Range(0, 4))
        {
            allocator.Tell(new RequestIdentitySlice(null), RemoteStandIn.For(Sys, address, probe.Ref, $"lease-{i}"));
            Assert.Equal("10.200.0.0/24", probe.ExpectMsg<IdentitySliceGranted>(cancellationToken: Cancellation).Range);
        }

        allocator.Tell(new RequestIdentitySlice(null), otherNode);
        Assert.Equal("10.200.1.0/24", other.ExpectMsg<IdentitySliceGranted>(cancellationToken: Cancellation).Range);
    }

    [Fact]
    public void Requests_from_a_non_member_or_a_member_of_another_role_are_refused_counted_and_take_no_slice()
    {
        var allocator = NewAllocator("10.200.0.0/24", 24);
        var probe = CreateTestProbe();

        allocator.Tell(new RequestIdentitySlice(null), RemoteStandIn.For(Sys, SpecMembers.Node(50), probe.Ref));
        allocator.Tell(new RequestIdentitySlice(null), RemoteStandIn.For(Sys, _members.Join(51, NodeRoles.Intercept), probe.Ref));
        allocator.Tell(new RequestIdentitySlice(null), RemoteStandIn.For(Sys, _members.Join(52, "rogue"), probe.Ref));
        probe.ExpectNoMsg(TimeSpan.FromMilliseconds(200), Cancellation);

        var (capture, node) = CaptureNode(11);
        allocator.Tell(new RequestIdentitySlice(null), node);
        Assert.Equal("10.200.0.0/24", capture.ExpectMsg<IdentitySliceGranted>(cancellationToken: Cancellation).Range);
        Assert.Equal((1, 2), (_refusals.ByReason[RefusalReasons.NotMember], _refusals.ByReason[RefusalReasons.WrongRole]));
    }

    [Fact]
    public void Without_a_range_the_coordinator_refuses_and_says_why()
    {
        var allocator = NewAllocator(null, 24);
        var (capture, node) = CaptureNode(11);
        allocator.Tell(new RequestIdentitySlice(null), node);
        Assert.Contains("fake-client-range", capture.ExpectMsg<IdentitySliceRefused>(cancellationToken: Cancellation).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void When_the_plan_moves_to_another_range_every_holder_gets_a_slice_of_it()
    {
        var allocator = NewAllocator("10.200.0.0/23", 24);
        var (first, firstNode) = CaptureNode(11);
        var (second, secondNode) = CaptureNode(12);
        allocator.Tell(new RequestIdentitySlice(null), firstNode);
        allocator.Tell(new RequestIdentitySlice(null), secondNode);
        first.ExpectMsg<IdentitySliceGranted>(cancellationToken: Cancellation);
        second.ExpectMsg<IdentitySliceGranted>(cancellationToken: Cancellation);

        allocator.Tell(new IdentityRangeChanged("10.210.0.0/16", 20), TestActor);

        var slices = new[] { first, second }.Select(p => IPNetwork.Parse(p.ExpectMsg<IdentitySliceGranted>(cancellationToken: Cancellation).Range)).ToList();
        Assert.All(slices, s => Assert.Equal(20, s.PrefixLength));
        Assert.All(slices, s => Assert.True(IPNetwork.Parse("10.210.0.0/16").Contains(s.BaseAddress)));
        Assert.NotEqual(slices[0], slices[1]);
    }

    private IActorRef NewAllocator(string? range, int prefix) =>
        Sys.ActorOf(IdentitySliceAllocator.Props(new IdentityRangeChanged(range, prefix), NullLogger.Instance, _members.Senders, _refusals));

    private (TestProbe Probe, IActorRef Lease) CaptureNode(int n)
    {
        var probe = CreateTestProbe();
        return (probe, RemoteStandIn.For(Sys, _members.Join(n, NodeRoles.Capture), probe.Ref, "identity-lease"));
    }
}
