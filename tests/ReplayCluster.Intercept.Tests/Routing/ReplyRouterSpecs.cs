using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using Microsoft.Extensions.Time.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using ReplayCluster.Intercept.Routing;
using ReplayCluster.Configuration;
using ReplayCluster.Membership;
using ReplayCluster.Protocol;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Intercept.Tests.Routing;

/// <summary>
/// The router (claims checked on the actor) and the forwarder (replies routed on a capture thread) together, as in
/// the node: claims go to the router, replies to a <see cref="SimulatedCaptureThread"/>, batches to the owners.
/// </summary>
public sealed class ReplyRouterSpecs() : Akka.TestKit.Xunit.TestKit(ConfigurationFactory.ParseString("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0"))
{
    private static readonly SessionEndpoints Session = new(0x0AC80001, 40000, 0x0A000202, 80);

    private readonly InterceptStatistics _statistics = new();
    private readonly List<SimulatedCaptureThread> _captureThreads = [];
    private readonly Dictionary<IActorRef, SimulatedCaptureThread> _routers = [];

    // This spec's own system stands in for the capture node that claims (its probes are the owners).
    private readonly SpecMembers _members = new(NodeRoles.Capture);

    [Fact]
    public void Replies_of_a_claimed_session_reach_its_owner_in_order_as_batches()
    {
        var owner = CreateTestProbe();
        var router = NewRouter();
        router.Tell(new RouteClaims(owner.Ref, [Session], []));
        for (uint i = 0; i < 5; i++)
        {
            Capture(router, Reply(Session, i));
        }

        var received = new List<uint>();
        while (received.Count < 5)
        {
            var batch = owner.ExpectMsg<ResponseBatch>(cancellationToken: TestContext.Current.CancellationToken);
            received.AddRange(batch.Records.ToArray().Select(r => r.Sequence));
        }

        Assert.Equal([0u, 1u, 2u, 3u, 4u], received);
    }

    [Fact]
    public void A_release_and_a_new_claim_of_the_same_endpoints_in_one_message_keep_the_new_route()
    {
        var owner = CreateTestProbe();
        var router = NewRouter();
        router.Tell(new RouteClaims(owner.Ref, [Session], []));
        router.Tell(new RouteClaims(owner.Ref, [Session], [Session]));
        Capture(router, Reply(Session, 42));

        var batch = owner.ExpectMsg<ResponseBatch>(cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(42u, batch.Records[0].Sequence);
    }

    [Fact]
    public void A_reply_that_beats_its_claim_is_delivered_when_the_claim_arrives()
    {
        var owner = CreateTestProbe();
        var router = NewRouter();
        Capture(router, Reply(Session, 7));
        owner.ExpectNoMsg(TimeSpan.FromMilliseconds(100), TestContext.Current.CancellationToken);
        router.Tell(new RouteClaims(owner.Ref, [Session], []));

        Assert.Equal(7u, owner.ExpectMsg<ResponseBatch>(cancellationToken: TestContext.Current.CancellationToken).Records[0].Sequence);
    }

    [Fact]
    public void A_burst_goes_out_at_its_end_in_full_batches()
    {
        var owner = CreateTestProbe();
        var router = NewRouter();
        router.Tell(new RouteClaims(owner.Ref, [Session], []));
        AwaitAssert(() => Assert.Equal(1, _statistics.Routes), cancellationToken: TestContext.Current.CancellationToken);

        // One burst of 1,000 replies (one pcap_dispatch): batches of 256 as they fill, the rest at the burst's end.
        Capture(router, [.. Enumerable.Range(0, 1000).Select(i => Reply(Session, (uint)i))]);
        var received = new List<uint>();
        var batches = new List<int>();
        while (received.Count < 1000)
        {
            var batch = owner.ExpectMsg<ResponseBatch>(cancellationToken: TestContext.Current.CancellationToken);
            received.AddRange(batch.Records.ToArray().Select(r => r.Sequence));
            batches.Add(batch.Count);
        }

        Assert.Equal(Enumerable.Range(0, 1000).Select(i => (uint)i), received);
        Assert.Equal([256, 256, 256, 232], batches);
        AwaitAssert(() => Assert.Equal(1000, _statistics.HandOffLatency.Count), cancellationToken: TestContext.Current.CancellationToken);
    }

    [Fact]
    public void Claims_and_releases_posted_while_replies_stream_apply_in_order()
    {
        // Sessions come and go while the capture thread routes: each session's replies reach its owner in order,
        // and none after its release.
        var owner = CreateTestProbe();
        var router = NewRouter();
        const int Sessions = 200;
        var sessions = Enumerable.Range(0, Sessions).Select(i => new SessionEndpoints(0x0AC80001, (ushort)(20000 + i), 0x0A000202, 80)).ToArray();
        foreach (var session in sessions)
        {
            router.Tell(new RouteClaims(owner.Ref, [session], []));
            Capture(router, Reply(session, 1), Reply(session, 2));
        }

        var received = new Dictionary<ushort, List<uint>>();
        var total = 0;
        while (total < 2 * Sessions)
        {
            foreach (var record in owner.ExpectMsg<ResponseBatch>(TimeSpan.FromSeconds(5), cancellationToken: TestContext.Current.CancellationToken).Records)
            {
                (received.TryGetValue(record.ClientPort, out var list) ? list : received[record.ClientPort] = []).Add(record.Sequence);
                total++;
            }
        }

        Assert.All(received.Values, sequence => Assert.Equal([1u, 2u], sequence));
        Assert.Equal(Sessions, received.Count);

        router.Tell(new RouteClaims(owner.Ref, [], [.. sessions]));
        AwaitAssert(() => Assert.Equal(0, _statistics.Routes), cancellationToken: TestContext.Current.CancellationToken);
        Capture(router, Reply(sessions[0], 3));
        owner.ExpectNoMsg(TimeSpan.FromMilliseconds(200), TestContext.Current.CancellationToken);
    }

    [Fact]
    public void Claims_from_a_non_member_a_member_of_another_role_or_for_an_owner_on_another_node_are_refused_and_route_nothing()
    {
        var owner = CreateTestProbe();
        var rogue = CreateTestProbe();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var router = NewRouter(time);
        var stranger = RemoteStandIn.For(Sys, SpecMembers.Node(50), rogue.Ref, "sessions-0");
        var intercept = RemoteStandIn.For(Sys, _members.Join(51, NodeRoles.Intercept), rogue.Ref, "sessions-0");
        var otherCapture = RemoteStandIn.For(Sys, _members.Join(52, NodeRoles.Capture), rogue.Ref, "sessions-0");

        router.Tell(new RouteClaims(stranger, [Session], []), stranger);
        router.Tell(new RouteClaims(intercept, [Session], []), intercept);
        router.Tell(new RouteClaims(owner.Ref, [Session], []), otherCapture); // a capture node claiming for someone else's owner
        Capture(router, Reply(Session, 1));

        rogue.ExpectNoMsg(TimeSpan.FromMilliseconds(200), TestContext.Current.CancellationToken);
        owner.ExpectNoMsg(TimeSpan.FromMilliseconds(50), TestContext.Current.CancellationToken);
        Assert.Equal((1, 1), (_statistics.Refusals.ByReason[RefusalReasons.WrongRole], _statistics.Refusals.ByReason[RefusalReasons.Impersonation]));

        // The capture node's own claim still routes the parked reply to it.
        router.Tell(new RouteClaims(owner.Ref, [Session], []));
        Assert.Equal(1u, owner.ExpectMsg<ResponseBatch>(cancellationToken: TestContext.Current.CancellationToken).Records[0].Sequence);

        // The stranger's claims waited for a membership that never came, and are refused when the wait ends.
        Assert.Equal(1, _statistics.ClaimsAwaitingMember);
        time.Advance(TimeSpan.FromSeconds(11));
        AwaitAssert(() => Assert.Equal(3, _statistics.Refusals.Total), TimeSpan.FromSeconds(5), cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(1, _statistics.Refusals.ByReason[RefusalReasons.NotMember]);
        Assert.Equal(0, _statistics.ClaimsAwaitingMember);
        Assert.Equal(3, _statistics.ToCounters()["messages_refused"]);
        Assert.Contains("messages_refused=3", _statistics.Summary(), StringComparison.Ordinal);
        rogue.ExpectNoMsg(TimeSpan.FromMilliseconds(100), TestContext.Current.CancellationToken);
    }

    [Fact]
    public void Claims_that_arrive_before_their_node_is_a_member_here_route_once_gossip_brings_it()
    {
        // A capture node sees the intercept before the intercept sees it, and claims at once (lab: every claim of a
        // restarted capture node's first second came before its membership, and all its sessions were lost).
        var owner = CreateTestProbe();
        var router = NewRouter();
        var address = SpecMembers.Node(60);
        var early = RemoteStandIn.For(Sys, address, owner.Ref, "sessions-0");
        var other = new SessionEndpoints(0x0AC80002, 40001, 0x0A000202, 80);
        router.Tell(new RouteClaims(early, [Session], []), early);
        router.Tell(new RouteClaims(early, [other], []), early);
        Capture(router, Reply(Session, 1));
        Capture(router, Reply(other, 2));
        owner.ExpectNoMsg(TimeSpan.FromMilliseconds(200), TestContext.Current.CancellationToken);

        _members.Join(address, NodeRoles.Capture, MemberStatus.Joining);

        // Both claims applied (picked up by the next sweep), with the replies parked meanwhile.
        var received = new List<uint>();
        while (received.Count < 2)
        {
            received.AddRange(owner.ExpectMsg<ResponseBatch>(TimeSpan.FromSeconds(5), cancellationToken: TestContext.Current.CancellationToken).Records.ToArray().Select(r => r.Sequence));
        }

        Assert.Equal([1u, 2u], received);
        Assert.Equal(0, _statistics.Refusals.Total);
        Assert.Equal(0, _statistics.ClaimsAwaitingMember);
    }

    [Fact]
    public void A_reply_parked_on_an_idle_router_still_expires()
    {
        // The sweep timer runs only while routes or parked replies exist: the drain that parks must start it.
        var router = NewRouter(parkingTime: TimeSpan.FromMilliseconds(200));
        Capture(router, Reply(Session, 1));

        AwaitAssert(() => Assert.Equal(1, _statistics.RepliesDroppedUnrouted), TimeSpan.FromSeconds(5),
            cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(0, _statistics.Parked);
    }

    [Fact]
    public void A_route_claimed_after_the_table_emptied_still_expires()
    {
        // Claim, release (the table is empty again and the sweep stops), then a claim that is never released.
        var owner = CreateTestProbe();
        var router = NewRouter(routeLifetime: TimeSpan.FromMilliseconds(200));
        router.Tell(new RouteClaims(owner.Ref, [Session], []));
        router.Tell(new RouteClaims(owner.Ref, [], [Session]));
        AwaitAssert(() => Assert.Equal(0, _statistics.Routes), TimeSpan.FromSeconds(5), cancellationToken: TestContext.Current.CancellationToken);
        router.Tell(new RouteClaims(owner.Ref, [Session], []));
        AwaitAssert(() => Assert.Equal(1, _statistics.Routes), TimeSpan.FromSeconds(5), cancellationToken: TestContext.Current.CancellationToken);

        AwaitAssert(() => Assert.Equal(0, _statistics.Routes), TimeSpan.FromSeconds(5), cancellationToken: TestContext.Current.CancellationToken);
    }

    private IActorRef NewRouter(TimeProvider? time = null, TimeSpan? parkingTime = null, TimeSpan? routeLifetime = null)
    {
        var defaults = new InterceptNodeSettings { Interface = "test0", Filter = "tcp" };
        var settings = defaults with
        {
            ParkingTime = parkingTime ?? defaults.ParkingTime,
            RouteLifetime = routeLifetime ?? defaults.RouteLifetime,
        };
        var forwarder = new ReplyForwarder(settings, _statistics, time ?? TimeProvider.System, NullLogger<ReplyForwarder>.Instance);
        var router = Sys.ActorOf(ReplyRouter.Props(settings, _statistics, forwarder, time ?? TimeProvider.System, NullLogger.Instance, _members.Senders));
        _captureThreads.Add(new SimulatedCaptureThread(forwarder, router));
        _routers[router] = _captureThreads[^1];
        return router;
    }

    /// <summary>What the capture pump does with a burst of replies: hands them to the router's capture thread.</summary>
    private void Capture(IActorRef router, params ResponseRecord[] burst) => _routers[router].Capture(burst);

    protected override void AfterAll()
    {
        foreach (var thread in _captureThreads)
        {
            thread.Dispose();
        }

        base.AfterAll();
    }

    private static ResponseRecord Reply(SessionEndpoints session, uint seq) => TestReplies.For(session, seq);
}
