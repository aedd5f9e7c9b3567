using Akka.Configuration;
using ReplayCluster.Comparison;
using ReplayCluster.Configuration;
using ReplayCluster.Coordinator.Comparison;
using ReplayCluster.Membership;

namespace ReplayCluster.Coordinator.Tests.Comparison;

public sealed class DiffKeeperSpecs() : Akka.TestKit.Xunit.TestKit(ConfigurationFactory.ParseString("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0"))
{
    private static ComparisonSummaryReport Delta(string endpoint, long compared) => new(new ComparisonSummary
    {
        Sessions = 1,
        PairsCompared = compared,
        Endpoints = [new EndpointSummary { Endpoint = endpoint, Compared = compared }],
    }.ToJson());

    [Fact]
    public void Capture_nodes_deltas_add_up_per_run_and_a_new_run_starts_from_zero()
    {
        // Local senders count as this node's roles: here, a capture node's.
        var keeper = Sys.ActorOf(DiffKeeper.Props(TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance,
            new ClusterSenders(() => [], new HashSet<string> { NodeRoles.Capture })));

        keeper.Tell(Delta("GET /a", 3), TestActor);
        keeper.Tell(Delta("GET /a", 2), TestActor);
        keeper.Tell(Delta("GET /b", 1), TestActor);
        keeper.Tell(new GetDiff(new NoiseOptions()), TestActor);
        var answer = ExpectMsg<DiffAnswer>(cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal((0, 3L, 6L), (answer.Run, answer.Report.Sessions, answer.Report.PairsCompared));
        Assert.Equal(5, Assert.Single(answer.Report.Endpoints, e => e.Endpoint == "GET /a").Compared);

        keeper.Tell(StartDiffRun.Instance, TestActor);
        keeper.Tell(Delta("GET /b", 4), TestActor);
        keeper.Tell(new GetDiff(new NoiseOptions()), TestActor);
        answer = ExpectMsg<DiffAnswer>(cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal((1, 4L), (answer.Run, answer.Report.PairsCompared));
        Assert.Equal("GET /b", Assert.Single(answer.Report.Endpoints).Endpoint);
    }

    [Fact]
    public void Summaries_from_other_roles_and_unreadable_ones_are_refused_and_counted()
    {
        var refusals = new MessageRefusals();
        var keeper = Sys.ActorOf(DiffKeeper.Props(TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance,
            new ClusterSenders(() => [], new HashSet<string> { NodeRoles.Intercept }), refusals));
        keeper.Tell(Delta("GET /a", 3), TestActor);
        var capture = Sys.ActorOf(DiffKeeper.Props(TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance,
            new ClusterSenders(() => [], new HashSet<string> { NodeRoles.Capture }), refusals));
        capture.Tell(new ComparisonSummaryReport("{\"version\": 99}"), TestActor);

        keeper.Tell(new GetDiff(new NoiseOptions()), TestActor);
        Assert.Equal(0, ExpectMsg<DiffAnswer>(cancellationToken: TestContext.Current.CancellationToken).Report.PairsCompared);
        AwaitAssert(() => Assert.Equal(2, refusals.Total), cancellationToken: TestContext.Current.CancellationToken);
    }
}
