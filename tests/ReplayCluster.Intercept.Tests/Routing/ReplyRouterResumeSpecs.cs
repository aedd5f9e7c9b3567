using Akka.Actor;
using Akka.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using ReplayCluster.Configuration;
using ReplayCluster.Intercept.Routing;
using ReplayCluster.Replay;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Intercept.Tests.Routing;

/// <summary>
/// The router under the nodes' guardian strategy (ResumingGuardianStrategy): a failed turn keeps the route table,
/// and the router still drains what the capture thread queues afterwards.
/// </summary>
public sealed class ReplyRouterResumeSpecs() : Akka.TestKit.Xunit.TestKit(ConfigurationFactory.ParseString(
    "akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0\n" +
    "akka.actor.guardian-supervisor-strategy = \"ReplayCluster.Cluster.ResumingGuardianStrategy, ReplayCluster.Shared\""))
{
    private static readonly SessionEndpoints Session = new(0x0AC80001, 40000, 0x0A000202, 80);

    [Fact]
    public void A_turn_that_fails_keeps_the_routes_and_later_replies_still_go_out()
    {
        var queue = new ReplyQueue(1 << 12);
        var time = new FailingOnce();
        var owner = CreateTestProbe();
        var router = Sys.ActorOf(ReplyRouter.Props(new InterceptNodeSettings { Interface = "test0", Filter = "tcp" }, new InterceptStatistics(), queue, time,
            NullLogger.Instance, new SpecMembers(NodeRoles.Capture).Senders), "router");
        router.Tell(new RouteClaims(owner.Ref, [Session], []));
        Capture(router, queue, TestReplies.For(Session, 1));
        Assert.Equal(1u, owner.ExpectMsg<ResponseBatch>(cancellationToken: TestContext.Current.CancellationToken).Records[0].Sequence);

        // The turn of reply 2 fails after its batch went out (the hand-off clock throws); reply 3 comes after it.
        time.FailNext = true;
        Capture(router, queue, TestReplies.For(Session, 2));
        Assert.Equal(2u, owner.ExpectMsg<ResponseBatch>(cancellationToken: TestContext.Current.CancellationToken).Records[0].Sequence);
        AwaitCondition(() => !time.FailNext, cancellationToken: TestContext.Current.CancellationToken);
        Capture(router, queue, TestReplies.For(Session, 3));

        Assert.Equal(3u, owner.ExpectMsg<ResponseBatch>(TimeSpan.FromSeconds(3), cancellationToken: TestContext.Current.CancellationToken).Records[0].Sequence);
    }

    private static void Capture(IActorRef router, ReplyQueue queue, ResponseRecord reply)
    {
        Assert.True(queue.TryEnqueue(reply));
        if (queue.NeedsWake())
        {
            router.Tell(DrainReplies.Instance);
        }
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
