using Akka.Actor;
using Akka.Cluster;
using Microsoft.Extensions.Time.Testing;
using ReplayCluster.Coordinator.Statistics;
using ReplayCluster.Statistics;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Coordinator.Tests.Statistics;

/// <summary>
/// A node's state follows the cluster's reachability and membership events, and a capture node that
/// leaves keeps counting in the totals and in runs.
/// </summary>
public sealed class NodeStateSpecs() : Akka.TestKit.Xunit.TestKit(Akka.Configuration.ConfigurationFactory.ParseString("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0"))
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly SpecMembers _members = new("intercept");

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    // The one cluster member a spec can make: this actor system's own, standing in for a capture node.
    private Member CaptureMember => Akka.Cluster.Cluster.Get(Sys).SelfMember;

    [Fact]
    public void An_unreachable_node_is_marked_so_until_it_is_reachable_again()
    {
        var aggregator = Sys.ActorOf(NewAggregator());
        ReportFromCaptureMember(aggregator, captured: 10, delivered: 10);

        aggregator.Tell(new ClusterEvent.UnreachableMember(CaptureMember));
        Assert.Equal(NodeStates.Unreachable, CaptureNode(Statistics(aggregator)).State);

        aggregator.Tell(new ClusterEvent.ReachableMember(CaptureMember));
        Assert.Equal(NodeStates.Up, CaptureNode(Statistics(aggregator)).State);
    }

    [Fact]
    public void A_removed_node_is_listed_as_removed_for_a_minute_then_dropped()
    {
        var aggregator = Sys.ActorOf(NewAggregator());
        ReportFromCaptureMember(aggregator, captured: 10, delivered: 10);
        aggregator.Tell(new NodeStatisticsReport("intercept", NowMs, new Dictionary<string, long> { ["replies_routed"] = 5 }));

        aggregator.Tell(new ClusterEvent.UnreachableMember(CaptureMember));
        aggregator.Tell(Removed(CaptureMember));
        var statistics = Statistics(aggregator);
        Assert.Equal(NodeStates.Removed, CaptureNode(statistics).State);
        Assert.Equal(NodeStates.Up, statistics.Nodes.Single(n => n.Role == "intercept").State);

        _time.Advance(StatisticsAggregator.RemovedRetention - TimeSpan.FromSeconds(1));
        Assert.Equal(NodeStates.Removed, CaptureNode(Statistics(aggregator)).State);

        _time.Advance(TimeSpan.FromSeconds(1));
        statistics = Statistics(aggregator);
        Assert.Equal(["intercept"], statistics.Nodes.Select(n => n.Role));
        Assert.Equal(10, statistics.CaptureTotals["requests_delivered"]);
    }

    [Fact]
    public void A_removed_capture_nodes_counters_stay_in_the_totals_but_its_gauges_do_not()
    {
        var aggregator = Sys.ActorOf(NewAggregator());
        var other = new ReportSender(_members.Join(12, "capture"), ((ExtendedActorSystem)Sys).Provider);
        ReportFromCaptureMember(aggregator, captured: 100, delivered: 90, live: 7);
        aggregator.Tell(CaptureReport(NowMs, captured: 50, delivered: 50, live: 3), other);

        aggregator.Tell(Removed(CaptureMember));
        var totals = Statistics(aggregator).CaptureTotals;

        Assert.Equal(150, totals["requests_captured"]);
        Assert.Equal(140, totals["requests_delivered"]);
        Assert.Equal(3, totals["sessions_live"]);

        // A report that overtook the removal must not count the departed node twice.
        ReportFromCaptureMember(aggregator, captured: 101, delivered: 91, live: 7);
        totals = Statistics(aggregator).CaptureTotals;
        Assert.Equal(150, totals["requests_captured"]);
        Assert.Equal(NodeStates.Removed, CaptureNode(Statistics(aggregator)).State);
    }

    [Fact]
    public void A_run_keeps_the_requests_of_a_capture_node_that_crashed_during_it()
    {
        var aggregator = Sys.ActorOf(NewAggregator());
        var other = new ReportSender(_members.Join(12, "capture"), ((ExtendedActorSystem)Sys).Provider);
        ReportFromCaptureMember(aggregator, captured: 100, delivered: 100);
        aggregator.Tell(CaptureReport(NowMs, captured: 100, delivered: 100), other);
        aggregator.Tell(StartRun.Instance);
        ExpectMsg<RunReport>(cancellationToken: Cancellation);

        ReportFromCaptureMember(aggregator, captured: 160, delivered: 150);
        aggregator.Tell(new ClusterEvent.UnreachableMember(CaptureMember));
        aggregator.Tell(Removed(CaptureMember));
        _time.Advance(StatisticsAggregator.RemovedRetention * 2);
        aggregator.Tell(CaptureReport(NowMs, captured: 200, delivered: 200), other);
        aggregator.Tell(StopRun.Instance);
        var report = ExpectMsg<RunReport>(cancellationToken: Cancellation);

        Assert.Equal(160, report.OnlineRequests);
        Assert.Equal(150, report.ReplayedRequests);
        Assert.Equal(10.0 / 160, report.LossRatio, 6);
    }

    private Props NewAggregator()
    {
        _members.Join(CaptureMember.Address, "capture");
        return StatisticsAggregator.Props(_time, senders: _members.Senders);
    }

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    // A system that never joined reports its own member as removed already, which is what this needs.
    private static ClusterEvent.MemberRemoved Removed(Member member) =>
        new(member.Status == MemberStatus.Removed ? member : member.Copy(MemberStatus.Removed), MemberStatus.Down);

    private static NodeStatistics CaptureNode(ClusterStatistics statistics) =>
        statistics.Nodes.Single(n => n.Role == "capture" && n.Address.StartsWith("akka.tcp://", StringComparison.Ordinal) && !n.Address.Contains("10.0.0.12", StringComparison.Ordinal));

    private static NodeStatisticsReport CaptureReport(long at, long captured, long delivered, long live = 0) =>
        new("capture", at, new Dictionary<string, long> { ["requests_online"] = captured, ["requests_captured"] = captured, ["requests_delivered"] = delivered, ["requests_lost"] = captured - delivered, ["sessions_live"] = live });

    private void ReportFromCaptureMember(IActorRef aggregator, long captured, long delivered, long live = 0) =>
        aggregator.Tell(CaptureReport(NowMs, captured, delivered, live), new ReportSender(CaptureMember.Address, ((ExtendedActorSystem)Sys).Provider));

    private ClusterStatistics Statistics(IActorRef aggregator)
    {
        aggregator.Tell(GetClusterStatistics.Instance);
        return ExpectMsg<ClusterStatistics>(cancellationToken: Cancellation);
    }
}
