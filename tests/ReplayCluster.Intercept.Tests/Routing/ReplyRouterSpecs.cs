using Akka.Actor;
using Akka.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using ReplayCluster.Intercept.Routing;
using ReplayCluster.Replay;

namespace ReplayCluster.Intercept.Tests.Routing;

public sealed class ReplyRouterSpecs() : Akka.TestKit.Xunit.TestKit(ConfigurationFactory.ParseString("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0"))
{
    private static readonly SessionEndpoints Session = new(0x0AC80001, 40000, 0x0A000202, 80);

    [Fact]
    public void Replies_of_a_claimed_session_reach_its_owner_in_order_as_batches()
    {
        var owner = CreateTestProbe();
        var router = NewRouter();
        router.Tell(new RouteClaims(owner.Ref, [Session], []));
        for (uint i = 0; i < 5; i++)
        {
            router.Tell(Reply(Session, i));
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
        router.Tell(Reply(Session, 42));

        var batch = owner.ExpectMsg<ResponseBatch>(cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(42u, batch.Records[0].Sequence);
    }

    [Fact]
    public void A_reply_that_beats_its_claim_is_delivered_when_the_claim_arrives()
    {
        var owner = CreateTestProbe();
        var router = NewRouter();
        router.Tell(Reply(Session, 7));
        owner.ExpectNoMsg(TimeSpan.FromMilliseconds(100), TestContext.Current.CancellationToken);
        router.Tell(new RouteClaims(owner.Ref, [Session], []));

        Assert.Equal(7u, owner.ExpectMsg<ResponseBatch>(cancellationToken: TestContext.Current.CancellationToken).Records[0].Sequence);
    }

    private IActorRef NewRouter() =>
        Sys.ActorOf(ReplyRouter.Props(new InterceptNodeSettings { Interface = "test0", Filter = "tcp" }, new InterceptStatistics(), TimeProvider.System, NullLogger.Instance));

    private static ResponseRecord Reply(SessionEndpoints session, uint seq) => TestReplies.For(session, seq);
}
