using Akka.Actor;
using Akka.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using ReplayCluster.Capture.Identities;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Capture.Tests.Sessions;
using ReplayCluster.Configuration;
using ReplayCluster.Membership;
using ReplayCluster.Packets;
using ReplayCluster.Plans;
using ReplayCluster.Protocol;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Capture.Tests.Identities;

/// <summary>
/// A node without a range of its own replays only from a slice of the plan's range that the coordinator
/// granted: never from the real client addresses, whatever happens to the slice.
/// </summary>
public sealed class IdentityLeaseSpecs() : Akka.TestKit.Xunit.TestKit(ConfigurationFactory.ParseString("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0"))
{
    private static readonly OnlineConnection Connection = new(0xC0A80105, 40_000, 0x0A0B0B01, 80);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public void Until_a_slice_is_granted_no_session_starts_and_each_is_counted_without_identity()
    {
        using var log = new CollectingLoggerProvider();
        var rig = NewRig(logger: log.CreateLogger("shard"), shards: 1);
        NewLease(rig);

        rig.Capture(Connection, CaptureNodeRig.Syn(1000));

        AwaitAssert(() => Assert.Equal(1, rig.Statistics.SessionsWithoutIdentity), cancellationToken: Token);
        Assert.Equal(0, rig.Statistics.SessionsStarted);
        Assert.Empty(rig.Transport.Segments);
        Assert.Contains("identity slice", rig.Readiness.Reason, StringComparison.Ordinal);

        // The refusal is logged with the client and why, once per interval (per shard) however many follow.
        rig.Capture(Connection with { ClientPort = 40_002 }, CaptureNodeRig.Syn(2000));
        AwaitAssert(() => Assert.Equal(2, rig.Statistics.SessionsWithoutIdentity), cancellationToken: Token);
        var line = Assert.Single(log.Lines, l => l.Contains("No identity for client", StringComparison.Ordinal));
        Assert.Contains("192.168.1.5:40000 toward 10.251.21.2:80: no identity slice from the coordinator yet; 1 sessions refused so far", line, StringComparison.Ordinal);
    }

    [Fact]
    public void A_refused_slice_leaves_the_node_waiting_never_on_real_addresses()
    {
        var rig = NewRig();
        var lease = NewLease(rig);
        Follow(rig, new ReplayPlan { FakeClientRange = "10.200.0.0/16" });

        lease.Tell(new IdentitySliceRefused("all 256 /24 slices of 10.200.0.0/16 are taken"), rig.Coordinator);
        rig.Capture(Connection, CaptureNodeRig.Syn(1000));

        AwaitAssert(() => Assert.Equal(1, rig.Statistics.SessionsWithoutIdentity), cancellationToken: Token);
        Assert.Null(rig.Identities.Mapper);
        Assert.Empty(rig.Transport.Segments);
        Assert.Contains("identity slice", rig.Readiness.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_slice_that_arrives_before_the_plan_waits_for_it_and_then_replays_from_the_slice()
    {
        var rig = NewRig();
        var lease = NewLease(rig);

        lease.Tell(new IdentitySliceGranted("10.200.7.0/24"), rig.Coordinator);
        ExpectNoMsg(TimeSpan.FromMilliseconds(100), Token);
        Assert.Null(rig.Identities.Mapper);

        Follow(rig, new ReplayPlan { FakeClientRange = "10.200.0.0/16" });

        AwaitAssert(() => Assert.Equal("10.200.7.0/24", rig.Identities.Slice), cancellationToken: Token);
        rig.Capture(Connection, CaptureNodeRig.Syn(1000));
        AwaitCondition(() => rig.Transport.Segments.Any(s => s.Flags == TcpFlags.Syn), cancellationToken: Token);
        Assert.All(rig.Transport.Segments, s => Assert.Equal(0x0AC80700u, s.SourceAddress.Ipv4 & 0xFFFFFF00u));
    }

    [Fact]
    public void A_slice_with_an_ipv6_half_gives_the_node_identities_of_both_families()
    {
        var rig = NewRig();
        var lease = NewLease(rig);
        Follow(rig, new ReplayPlan { FakeClientRange = "10.200.0.0/16,fd00:c8::/48" });

        lease.Tell(new IdentitySliceGranted("10.200.7.0/24,fd00:c8:0:7::/64"), rig.Coordinator);

        AwaitAssert(() => Assert.Equal("10.200.7.0/24,fd00:c8:0:7::/64", rig.Identities.Slice), cancellationToken: Token);
        Assert.Equal("10.200.7.0/24,fd00:c8:0:7::/64", rig.Identities.Mapper!.Ranges);
        Assert.True(rig.Identities.Mapper.Serves(System.Net.Sockets.AddressFamily.InterNetworkV6));
    }

    [Theory]
    [InlineData("10.200.7.0/24,fd00:c9:0:7::/64")] // the IPv6 half outside the plan's IPv6 range
    [InlineData("10.200.7.0/24,fd00:c8:0:7::/80")] // not a /64
    [InlineData("10.200.7.0/24,fd00:c8:0:7::1/64")] // not a network address
    [InlineData("10.200.7.0/24,10.200.8.0/24")] // two IPv4 halves
    [InlineData("10.200.7.0/24,fd00:c8:0:7::/64,fd00:c8:0:8::/64")]
    public void A_slice_whose_ipv6_half_is_not_a_slice_of_the_plans_ipv6_range_is_refused(string slice)
    {
        var rig = NewRig();
        var lease = NewLease(rig);
        Follow(rig, new ReplayPlan { FakeClientRange = "10.200.0.0/16,fd00:c8::/48" });

        lease.Tell(new IdentitySliceGranted(slice), rig.Coordinator);

        ExpectNoMsg(TimeSpan.FromMilliseconds(200), Token);
        Assert.Null(rig.Identities.Mapper);
    }

    [Theory]
    [InlineData("10.201.0.0/24")] // another range
    [InlineData("10.0.0.0/8")] // wider than the plan's range
    [InlineData("10.200.0.0/33")] // no prefix
    [InlineData("10.200.0.5/24")] // not a network address
    [InlineData("10.255.255.255/32")] // a single address, beyond the mapper's prefixes
    [InlineData("not a slice")]
    public void A_slice_outside_the_plans_range_is_refused_and_counted(string slice)
    {
        var rig = NewRig();
        var lease = NewLease(rig);
        Follow(rig, new ReplayPlan { FakeClientRange = "10.200.0.0/16" });

        lease.Tell(new IdentitySliceGranted(slice), rig.Coordinator);

        AwaitAssert(() => Assert.Equal(1, rig.Statistics.Refusals.ByReason.GetValueOrDefault(RefusalReasons.BadSlice)), cancellationToken: Token);
        Assert.Null(rig.Identities.Mapper);
    }

    [Fact]
    public void A_slice_from_anyone_but_the_coordinator_is_refused_and_a_slice_in_use_stays()
    {
        var rig = NewRig();
        var lease = NewLease(rig);
        Follow(rig, new ReplayPlan { FakeClientRange = "10.200.0.0/16" });
        lease.Tell(new IdentitySliceGranted("10.200.1.0/24"), rig.Coordinator);
        AwaitAssert(() => Assert.Equal("10.200.1.0/24", rig.Identities.Slice), cancellationToken: Token);
        var probe = CreateTestProbe();

        lease.Tell(new IdentitySliceGranted("10.200.2.0/24"), RemoteStandIn.For(Sys, SpecMembers.Node(50), probe.Ref, "identity-slices"));
        lease.Tell(new IdentitySliceGranted("10.200.3.0/24"), RemoteStandIn.For(Sys, rig.Members.Join(51, NodeRoles.Intercept), probe.Ref, "identity-slices"));
        lease.Tell(new IdentitySliceRefused("gone"), RemoteStandIn.For(Sys, rig.Members.Join(52, NodeRoles.Capture), probe.Ref, "identity-slices"));

        AwaitAssert(() => Assert.Equal(3, rig.Statistics.Refusals.Total), cancellationToken: Token);
        Assert.Equal("10.200.1.0/24", rig.Identities.Slice);
        Assert.True(rig.Readiness.Reason.Length == 0 || !rig.Readiness.Reason.Contains("identity", StringComparison.Ordinal));
    }

    [Fact]
    public void A_public_slice_of_a_public_range_needs_the_nodes_own_opt_in()
    {
        var rig = NewRig(allowPublic: false);
        var lease = NewLease(rig);

        // Set directly: no plan with a public range passes validation here, and the slice must be checked on its own too.
        rig.Plan.Set(rig.Plan.Current with { Version = 2, Plan = new ReplayPlan { FakeClientRange = "8.8.0.0/16" } });
        lease.Tell(new IdentitySliceGranted("8.8.1.0/24"), rig.Coordinator);

        AwaitAssert(() => Assert.Equal(1, rig.Statistics.Refusals.ByReason.GetValueOrDefault(RefusalReasons.BadSlice)), cancellationToken: Token);
        Assert.Null(rig.Identities.Mapper);
    }

    private CaptureNodeRig NewRig(bool allowPublic = false, Microsoft.Extensions.Logging.ILogger? logger = null, int shards = 2)
    {
        var rig = new CaptureNodeRig(Sys, CaptureNodeRig.DefaultSettings() with { FakeClientRange = null, AllowPublicFakeRange = allowPublic }, shards, logger: logger);
        rig.Readiness.SetIntercepts(1, 1);
        return rig;
    }

    private IActorRef NewLease(CaptureNodeRig rig) =>
        Sys.ActorOf(IdentityLease.Props(rig.Identities, rig.Plan, rig.Policy, rig.Readiness, rig.Statistics.Refusals, NullLogger.Instance, rig.Members.Senders));

    private void Follow(CaptureNodeRig rig, ReplayPlan plan)
    {
        var version = rig.Plan.Current.Version + 1;
        rig.PlanFollower.Tell(new ReplayPlanAssigned(version, plan, null), rig.Coordinator);
        AwaitAssert(() => Assert.Equal(version, rig.Plan.Current.Version), cancellationToken: Token);
    }
}
