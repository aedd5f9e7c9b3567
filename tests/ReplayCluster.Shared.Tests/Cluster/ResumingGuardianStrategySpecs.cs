using Akka.Actor;
using Akka.Configuration;
using ReplayCluster.Cluster;
using ReplayCluster.Configuration;

namespace ReplayCluster.Tests.Cluster;

/// <summary>
/// Issue 10, finding 7: a top-level actor that throws keeps the state the cluster agreed on (plan, granted slices,
/// run, routes, live sessions) instead of being restarted from its constructor, and the fault is counted.
/// </summary>
public sealed class ResumingGuardianStrategySpecs() : Akka.TestKit.Xunit.TestKit(ConfigurationFactory.ParseString(
    "akka.actor.guardian-supervisor-strategy = \"ReplayCluster.Cluster.ResumingGuardianStrategy, ReplayCluster.Hosting\""))
{
    [Fact]
    public void A_top_level_actor_that_throws_keeps_its_state_and_the_fault_is_counted()
    {
        var keeper = Sys.ActorOf(Props.Create(() => new StateKeeper()), "keeper");
        keeper.Tell(5);
        keeper.Tell(7);
        var before = ResumingGuardianStrategy.Resumed;

        keeper.Tell("boom");
        keeper.Tell("get");

        Assert.Equal(12, ExpectMsg<int>(cancellationToken: TestContext.Current.CancellationToken));
        Assert.Equal(before + 1, ResumingGuardianStrategy.Resumed);
        var metrics = new ReplayCluster.Statistics.NodeMetrics("capture");
        metrics.NodeWide(new ReplayCluster.Membership.MessageRefusals());
        Assert.True(metrics.Read()["actor_faults_resumed"] >= 1);
    }

    [Fact]
    public void An_actor_that_fails_while_it_is_created_is_stopped_and_a_killed_one_too()
    {
        Assert.Equal(Directive.Stop, ResumingGuardianStrategy.Decide(new ActorInitializationException("constructor threw")));
        Assert.Equal(Directive.Stop, ResumingGuardianStrategy.Decide(new ActorKilledException("killed")));
        Assert.Equal(Directive.Resume, ResumingGuardianStrategy.Decide(new InvalidOperationException("a bad message")));
    }

    [Theory]
    [InlineData(NodeRoles.Coordinator)]
    [InlineData(NodeRoles.Capture)]
    [InlineData(NodeRoles.Intercept)]
    public void Every_role_supervises_its_top_level_actors_so(string role)
    {
        var node = NodeConfigLoader.Load(role, new NodeConfigOverrides { Seeds = ["10.1.2.3:4053"], Sets = ["replaycluster.cluster.tls = off"] });
        Assert.Equal("ReplayCluster.Cluster.ResumingGuardianStrategy, ReplayCluster.Hosting", node.Config.GetString("akka.actor.guardian-supervisor-strategy"));
    }

    private sealed class StateKeeper : ReceiveActor
    {
        private int _sum;

        public StateKeeper()
        {
            Receive<int>(n => _sum += n);
            Receive<string>(s => s == "boom", _ => throw new InvalidOperationException("a message this actor cannot handle"));
            Receive<string>(s => s == "get", _ => Sender.Tell(_sum));
        }
    }
}
