using Akka.Actor;
using ReplayCluster.Coordinator.Statistics;
using ReplayCluster.Statistics;
using ReplayCluster.Tests.TestSupport;
using static ReplayCluster.Tests.TestSupport.LatencyCounters;

namespace ReplayCluster.Coordinator.Tests.Statistics;

/// <summary>The capture nodes' reply latency histograms add up to cluster percentiles: recent, since start and per run.</summary>
public sealed class ReplyLatencyAggregationSpecs() : Akka.TestKit.Xunit.TestKit(Akka.Configuration.ConfigurationFactory.ParseString("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0\nakka.cluster.roles = [capture, intercept]"))
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public void Histograms_of_all_capture_nodes_add_up_since_start_and_over_the_recent_window()
    {
        var members = new SpecMembers("capture", "intercept");
        var aggregator = Sys.ActorOf(StatisticsAggregator.Props(TimeProvider.System, senders: members.Senders));
        var provider = ((ExtendedActorSystem)Sys).Provider;
        var first = new ReportSender(members.Join(11, "capture"), provider);
        var second = new ReportSender(members.Join(12, "capture"), provider);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        // Long ago both nodes saw slow replies; in the last seconds only fast ones.
        aggregator.Tell(Report(now - 30_000, (TimeSpan.FromSeconds(1.5), 100)), first);
        aggregator.Tell(Report(now - 5_000, (TimeSpan.FromSeconds(1.5), 100)), first);
        aggregator.Tell(Report(now, (TimeSpan.FromSeconds(1.5), 100), (TimeSpan.FromMilliseconds(0.3), 60)), first);
        aggregator.Tell(Report(now - 4_000, (TimeSpan.FromSeconds(1.5), 100)), second);
        aggregator.Tell(Report(now, (TimeSpan.FromSeconds(1.5), 100), (TimeSpan.FromMilliseconds(0.3), 40)), second);
        aggregator.Tell(new NodeStatisticsReport("intercept", now, Histogram((TimeSpan.FromSeconds(9), 1000))));

        aggregator.Tell(GetClusterStatistics.Instance);
        var latency = ExpectMsg<ClusterStatistics>(cancellationToken: Cancellation).ReplyLatency!;

        Assert.Equal(StatisticsAggregator.RecentWindow.TotalSeconds, latency.WindowSeconds);
        Assert.Equal(100, latency.Recent.Count);
        Assert.InRange(latency.Recent.P99Ms!.Value, 0.2, 0.5);
        Assert.Equal(300, latency.SinceStart.Count);
        Assert.InRange(latency.SinceStart.P50Ms!.Value, 1000, 2000);
        Assert.InRange(latency.SinceStart.P90Ms!.Value, 1000, 2000);
    }

    [Fact]
    public void A_single_report_says_nothing_about_the_recent_window()
    {
        var aggregator = Sys.ActorOf(StatisticsAggregator.Props(TimeProvider.System));
        aggregator.Tell(Report(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), (TimeSpan.FromMilliseconds(2), 10)));

        aggregator.Tell(GetClusterStatistics.Instance);
        var latency = ExpectMsg<ClusterStatistics>(cancellationToken: Cancellation).ReplyLatency!;

        Assert.Same(LatencyPercentiles.Empty, latency.Recent);
        Assert.Equal(10, latency.SinceStart.Count);
    }

    [Fact]
    public void A_run_reports_the_latency_of_the_replies_during_it()
    {
        var aggregator = Sys.ActorOf(StatisticsAggregator.Props(TimeProvider.System));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        aggregator.Tell(Report(now, (TimeSpan.FromSeconds(3), 50)));
        aggregator.Tell(StartRun.Instance);
        Assert.Equal(0, ExpectMsg<RunReport>(cancellationToken: Cancellation).ReplyLatency.Count);

        aggregator.Tell(Report(now + 1000, (TimeSpan.FromSeconds(3), 50), (TimeSpan.FromMilliseconds(4), 20)));
        aggregator.Tell(StopRun.Instance);
        var report = ExpectMsg<RunReport>(cancellationToken: Cancellation);

        Assert.Equal(20, report.ReplyLatency.Count);
        Assert.InRange(report.ReplyLatency.P50Ms!.Value, 2, 5);
        Assert.Equal(4, report.ReplyLatency.MeanMs!.Value, 6);
        Assert.Matches(@"reply latency    p50 [\d.]+ ms  p90 [\d.]+ ms  p99 [\d.]+ ms  mean 4 ms  \(n=20\)", report.Summary());
    }

    private static NodeStatisticsReport Report(long at, params (TimeSpan Latency, int Count)[] samples) =>
        new("capture", at, Histogram(samples));
}
