using Akka.Actor;
using ReplayCluster.Coordinator.Http;
using ReplayCluster.Coordinator.Statistics;
using ReplayCluster.Statistics;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Coordinator.Tests.Statistics;

/// <summary>The capture nodes' relay latency histograms, aggregated like reply latency: recent, since start, per run, /metrics.</summary>
public sealed class RelayLatencyAggregationSpecs() : Akka.TestKit.Xunit.TestKit(Akka.Configuration.ConfigurationFactory.ParseString("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0\nakka.cluster.roles = [capture, intercept]"))
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public void Relay_latency_adds_up_since_start_over_the_recent_window_and_apart_from_reply_latency()
    {
        var aggregator = Sys.ActorOf(StatisticsAggregator.Props(TimeProvider.System));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        aggregator.Tell(Report(now - 5_000, (5_000, 100)));
        aggregator.Tell(Report(now, (5_000, 100), (40, 300)));

        aggregator.Tell(GetClusterStatistics.Instance);
        var statistics = ExpectMsg<ClusterStatistics>(cancellationToken: Cancellation);

        Assert.Equal(300, statistics.RelayLatency!.Recent.Count);
        Assert.InRange(statistics.RelayLatency.Recent.P99Ms!.Value, 0.02, 0.05);
        Assert.Equal(400, statistics.RelayLatency.SinceStart.Count);
        Assert.InRange(statistics.RelayLatency.SinceStart.P90Ms!.Value, 2, 5);
        Assert.Equal(0, statistics.ReplyLatency!.SinceStart.Count);
    }

    [Fact]
    public void A_run_reports_the_relay_latency_of_the_replies_during_it()
    {
        var aggregator = Sys.ActorOf(StatisticsAggregator.Props(TimeProvider.System));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        aggregator.Tell(Report(now, (5_000, 50)));
        aggregator.Tell(StartRun.Instance);
        Assert.Equal(0, ExpectMsg<RunReport>(cancellationToken: Cancellation).RelayLatency.Count);

        aggregator.Tell(Report(now + 1000, (5_000, 50), (150, 20)));
        aggregator.Tell(StopRun.Instance);
        var report = ExpectMsg<RunReport>(cancellationToken: Cancellation);

        Assert.Equal(20, report.RelayLatency.Count);
        Assert.InRange(report.RelayLatency.P50Ms!.Value, 0.1, 0.2);
        Assert.Equal(0.15, report.RelayLatency.MeanMs!.Value, 6);
        Assert.Matches(@"relay latency    p50 [\d.]+ ms  p90 [\d.]+ ms  p99 [\d.]+ ms  mean 0.15 ms  \(n=20\)", report.Summary());
    }

    [Fact]
    public void Prometheus_text_has_the_relay_latency_histogram_in_seconds_and_no_node_gauges_for_it()
    {
        var totals = Histogram((15, 3), (700, 2), (2_000_000, 1));
        var node = new NodeStatistics("akka.tcp://replaycluster@10.0.0.11:4000", "capture", 10, totals, new Dictionary<string, double>());

        var lines = PrometheusText.Render(new ClusterStatistics([node], totals, 0, 0, 0)).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Contains("# TYPE replaycluster_relay_latency_seconds histogram", lines);
        Assert.Contains("replaycluster_relay_latency_seconds_bucket{le=\"1E-05\"} 0", lines);
        Assert.Contains("replaycluster_relay_latency_seconds_bucket{le=\"2E-05\"} 3", lines);
        Assert.Contains("replaycluster_relay_latency_seconds_bucket{le=\"0.001\"} 5", lines);
        Assert.Contains("replaycluster_relay_latency_seconds_bucket{le=\"1\"} 5", lines);
        Assert.Contains("replaycluster_relay_latency_seconds_bucket{le=\"+Inf\"} 6", lines);
        Assert.Contains("replaycluster_relay_latency_seconds_count 6", lines);
        Assert.Contains("replaycluster_relay_latency_seconds_sum 2.001445", lines);
        Assert.DoesNotContain(lines, l => l.StartsWith("replaycluster_node_relay_latency", StringComparison.Ordinal));
    }

    /// <summary>A capture node's counters after relaying <c>count</c> records of each latency (µs).</summary>
    private static Dictionary<string, long> Histogram(params (long Microseconds, int Count)[] samples) =>
        LatencyCounters.Histogram(LatencyHistogramLayout.RelayLatency, samples);

    private static NodeStatisticsReport Report(long at, params (long Microseconds, int Count)[] samples) => new("capture", at, Histogram(samples));
}
