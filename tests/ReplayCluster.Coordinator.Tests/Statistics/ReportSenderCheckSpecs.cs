using Akka.Actor;
using ReplayCluster.Coordinator.Statistics;
using ReplayCluster.Membership;
using ReplayCluster.Statistics;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Coordinator.Tests.Statistics;

/// <summary>Only members report, and only as the role they have: a stranger cannot invent nodes or totals.</summary>
public sealed class ReportSenderCheckSpecs() : Akka.TestKit.Xunit.TestKit(Akka.Configuration.ConfigurationFactory.ParseString("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0\nakka.cluster.roles = [coordinator]"))
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public void Reports_from_a_non_member_a_wrong_role_or_the_coordinator_role_are_refused_counted_and_left_out()
    {
        var members = new SpecMembers("coordinator");
        var refusals = new MessageRefusals();
        var aggregator = Sys.ActorOf(StatisticsAggregator.Props(TimeProvider.System, senders: members.Senders, refusals: refusals));
        var provider = ((ExtendedActorSystem)Sys).Provider;
        var capture = new ReportSender(members.Join(11, "capture"), provider);
        var intercept = new ReportSender(members.Join(12, "intercept"), provider);
        var stranger = new ReportSender(SpecMembers.Node(50), provider);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        aggregator.Tell(Report("capture", now, 100), capture);
        aggregator.Tell(Report("capture", now, 1_000_000), stranger); // not a member
        aggregator.Tell(Report("capture", now, 1_000_000), intercept); // an intercept claiming to be a capture node
        aggregator.Tell(Report("coordinator", now, 1_000_000), capture); // no node reports as the coordinator
        aggregator.Tell(Report("capture", now, 1_000_000)); // this node itself (a message without a sender arrives so)

        aggregator.Tell(GetClusterStatistics.Instance);
        var statistics = ExpectMsg<ClusterStatistics>(cancellationToken: Cancellation);

        Assert.Equal(["capture@10.0.0.11"], statistics.Nodes.Select(n => $"{n.Role}@{n.Address.Split('@')[1].Split(':')[0]}"));
        Assert.Equal(100, statistics.CaptureTotals["requests_captured"]);
        Assert.Equal(4, refusals.Total);
        Assert.Equal((1, 2, 1), (refusals.ByReason[RefusalReasons.NotMember], refusals.ByReason[RefusalReasons.WrongRole], refusals.ByReason[RefusalReasons.Impersonation]));
        Assert.Equal(4, statistics.Coordinator!["messages_refused"]);
        Assert.Equal(2, statistics.Coordinator["messages_refused_wrong_role"]);
    }

    private static NodeStatisticsReport Report(string role, long at, long captured) =>
        new(role, at, new Dictionary<string, long> { ["requests_captured"] = captured, ["requests_delivered"] = captured });
}
