using Akka.Actor;
using Akka.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using ReplayCluster.Configuration;
using ReplayCluster.Intercept.Routing;
using ReplayCluster.Protocol;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Intercept.Tests.Routing;

/// <summary>
/// The router under the nodes' guardian strategy (ResumingGuardianStrategy): a turn that fails keeps what the router
/// holds (claims waiting for their node's membership), and later claims still route.
/// </summary>
public sealed class ReplyRouterResumeSpecs() : Akka.TestKit.Xunit.TestKit(ConfigurationFactory.ParseString(
    "akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0\n" +
    "akka.actor.guardian-supervisor-strategy = \"ReplayCluster.Cluster.ResumingGuardianStrategy, ReplayCluster.Hosting\""))
{
    private static readonly SessionEndpoints Session = new(0x0AC80001, 40000, 0x0A000202, 80);

    [Fact]
    public async Task A_turn_that_fails_keeps_the_waiting_claims_and_later_claims_still_route()
    {
        var time = new FailingOnce();
        var owner = CreateTestProbe();
        var members = new SpecMembers(NodeRoles.Capture);
        var settings = new InterceptNodeSettings { Interface = "test0", Filter = "tcp" };
        var statistics = new InterceptStatistics();
        var forwarder = new ReplyForwarder(settings, statistics, TimeProvider.System, NullLogger<ReplyForwarder>.Instance);
        var router = Sys.ActorOf(ReplyRouter.Props(settings, statistics, forwarder, time, NullLogger.Instance, members.Senders), "router");
        using var capture = new SimulatedCaptureThread(forwarder, router);

        // A claim from a node not yet a member waits; the next one's turn fails (the clock throws while it queues).
        var address = SpecMembers.Node(70);
        var early = RemoteStandIn.For(Sys, address, owner.Ref, "sessions-0");
        var other = new SessionEndpoints(0x0AC80002, 40001, 0x0A000202, 80);
        router.Tell(new RouteClaims(early, [Session], []), early);
        AwaitCondition(() => statistics.ClaimsAwaitingMember == 1, cancellationToken: TestContext.Current.CancellationToken);
        time.FailNext = true;
        router.Tell(new RouteClaims(early, [other], []), early);
        // Identify is answered in mailbox order, so after it the claim's turn has run. The clock's one failure went to
        // that turn, or to the router's retry of its waiting claims if that came first (a slow machine): then the
        // second claim queued as well.
        await router.Ask<ActorIdentity>(new Identify(null), TimeSpan.FromSeconds(3), TestContext.Current.CancellationToken);
        Assert.False(time.FailNext);
        var waiting = statistics.ClaimsAwaitingMember;
        Assert.InRange(waiting, 1, 2);

        // Resumed, not restarted: the waiting claims are still there and apply when the node becomes a member.
        members.Join(address, NodeRoles.Capture, Akka.Cluster.MemberStatus.Joining);
        AwaitAssert(() => Assert.Equal(waiting, statistics.Routes), TimeSpan.FromSeconds(5), cancellationToken: TestContext.Current.CancellationToken);
        capture.Capture(TestReplies.For(Session, 1));
        Assert.Equal(1u, owner.ExpectMsg<ResponseBatch>(TimeSpan.FromSeconds(3), cancellationToken: TestContext.Current.CancellationToken).Records[0].Sequence);
    }

    private sealed class FailingOnce : TimeProvider
    {
        private int _failNext;

        public bool FailNext
        {
            get => Volatile.Read(ref _failNext) == 1;
            set => Volatile.Write(ref _failNext, value ? 1 : 0);
        }

        public override DateTimeOffset GetUtcNow() =>
            Interlocked.Exchange(ref _failNext, 0) == 1 ? throw new InvalidOperationException("clock failure for the test") : base.GetUtcNow();
    }
}
