using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using Microsoft.Extensions.Time.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using ReplayCluster.Intercept.Routing;
using ReplayCluster.Configuration;
using ReplayCluster.Membership;
using ReplayCluster.Replay;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Intercept.Tests.Routing;

public sealed class ReplyRouterSpecs() : Akka.TestKit.Xunit.TestKit(ConfigurationFactory.ParseString("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0"))
{
    private static readonly SessionEndpoints Session = new(0x0AC80001, 40000, 0x0A000202, 80);

    private readonly ReplyQueue _queue = new(1 << 12);
    private readonly InterceptStatistics _statistics = new();

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
    public void A_burst_from_the_capture_thread_wakes_the_router_once_and_goes_out_in_few_batches()
    {
        var owner = CreateTestProbe();
        var router = NewRouter();
        router.Tell(new RouteClaims(owner.Ref, [Session], []));
        owner.ExpectNoMsg(TimeSpan.FromMilliseconds(50), TestContext.Current.CancellationToken);

        // The whole burst is queued before the router runs: one wake-up, so at most one batch per 256 records.
        var wakes = 0;
        for (uint i = 0; i < 1000; i++)
        {
            Assert.True(_queue.TryEnqueue(Reply(Session, i)));
            wakes += _queue.NeedsWake() ? 1 : 0;
        }

        router.Tell(DrainReplies.Instance);
        var received = new List<uint>();
        var batches = 0;
        while (received.Count < 1000)
        {
            received.AddRange(owner.ExpectMsg<ResponseBatch>(cancellationToken: TestContext.Current.CancellationToken).Records.ToArray().Select(r => r.Sequence));
            batches++;
        }

        Assert.Equal(1, wakes);
        Assert.Equal(Enumerable.Range(0, 1000).Select(i => (uint)i), received);
        Assert.Equal(4, batches);
        AwaitAssert(() => Assert.Equal(1000, _statistics.HandOffLatency.Count), cancellationToken: TestContext.Current.CancellationToken);
    }

    [Fact]
    public void Replies_from_a_concurrent_capture_thread_all_arrive_in_order()
    {
        var owner = CreateTestProbe();
        var router = NewRouter();
        router.Tell(new RouteClaims(owner.Ref, [Session], []));
        owner.ExpectNoMsg(TimeSpan.FromMilliseconds(50), TestContext.Current.CancellationToken);

        // A real producer thread racing the router: no record may be left behind with the router idle.
        const int Total = 20_000;
        var producer = new Thread(() =>
        {
            for (uint i = 0; i < Total; i++)
            {
                var reply = Reply(Session, i);
                while (!_queue.TryEnqueue(reply))
                {
                    Thread.Yield();
                }

                if (_queue.NeedsWake())
                {
                    router.Tell(DrainReplies.Instance);
                }

                if (i % 97 == 0)
                {
                    Thread.Sleep(0);
                }
            }
        });
        producer.Start();

        var received = new List<uint>(Total);
        while (received.Count < Total)
        {
            received.AddRange(owner.ExpectMsg<ResponseBatch>(TimeSpan.FromSeconds(5), cancellationToken: TestContext.Current.CancellationToken).Records.ToArray().Select(r => r.Sequence));
        }

        producer.Join();
        Assert.Equal(Enumerable.Range(0, Total).Select(i => (uint)i), received);
        Assert.Equal(0, _statistics.RepliesDroppedQueueFull);
    }

    [Fact]
    public void A_router_started_after_a_lost_wake_up_drains_what_is_queued()
    {
        // As after a restart: records queued and the wake-up taken, but its message never processed.
        Assert.True(_queue.TryEnqueue(Reply(Session, 9)));
        Assert.True(_queue.NeedsWake());
        var owner = CreateTestProbe();

        var router = NewRouter();
        router.Tell(new RouteClaims(owner.Ref, [Session], []));

        Assert.Equal(9u, owner.ExpectMsg<ResponseBatch>(cancellationToken: TestContext.Current.CancellationToken).Records[0].Sequence);
        Capture(router, Reply(Session, 10));
        Assert.Equal(10u, owner.ExpectMsg<ResponseBatch>(cancellationToken: TestContext.Current.CancellationToken).Records[0].Sequence);
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
        Assert.Contains("refused messages=3", _statistics.Summary(), StringComparison.Ordinal);
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
        return Sys.ActorOf(ReplyRouter.Props(settings, _statistics, _queue, time ?? TimeProvider.System, NullLogger.Instance, _members.Senders));
    }

    /// <summary>What the capture pump does with a reply.</summary>
    private void Capture(IActorRef router, ResponseRecord reply)
    {
        Assert.True(_queue.TryEnqueue(reply));
        if (_queue.NeedsWake())
        {
            router.Tell(DrainReplies.Instance);
        }
    }

    private static ResponseRecord Reply(SessionEndpoints session, uint seq) => TestReplies.For(session, seq);
}
