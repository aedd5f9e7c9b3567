using Akka.Actor;
using ReplayCluster.Coordinator.Http;
using ReplayCluster.Coordinator.Statistics;
using ReplayCluster.Statistics;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Coordinator.Tests.Statistics;

public sealed class StatisticsAggregatorSpecs() : Akka.TestKit.Xunit.TestKit(Akka.Configuration.ConfigurationFactory.ParseString("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0\nakka.cluster.roles = [capture, intercept]"))
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public void Reports_add_up_to_rates_totals_and_the_request_loss_ratio()
    {
        var aggregator = Sys.ActorOf(StatisticsAggregator.Props(TimeProvider.System));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        aggregator.Tell(Report("capture", now - 1000, captured: 1000, delivered: 990));
        aggregator.Tell(Report("capture", now, captured: 3000, delivered: 2970));
        aggregator.Tell(new NodeStatisticsReport("intercept", now, new Dictionary<string, long> { ["replies_routed"] = 5000 }));

        aggregator.Tell(GetClusterStatistics.Instance);
        var statistics = ExpectMsg<ClusterStatistics>(cancellationToken: Cancellation);

        Assert.Equal(["capture", "intercept"], statistics.Nodes.Select(n => n.Role));
        Assert.Equal(2000, statistics.OnlineRequestRate, 3);
        Assert.Equal(1980, statistics.ReplayedRequestRate, 3);
        Assert.Equal(30.0 / 3000, statistics.LossRatio, 6);
        Assert.Equal(3000, statistics.CaptureTotals["requests_captured"]);
    }

    [Fact]
    public void Prometheus_text_keeps_each_family_together_with_help_and_type()
    {
        var statistics = new ClusterStatistics(
            [
                new NodeStatistics("akka.tcp://replaycluster@10.0.0.11:4000", "capture", 10, new Dictionary<string, long> { ["requests_captured"] = 7, ["sessions_live"] = 3 }, new Dictionary<string, double>()),
                new NodeStatistics("akka.tcp://replaycluster@10.0.0.12:4000", "capture", 10, new Dictionary<string, long> { ["requests_captured"] = 9, ["sessions_live"] = 4 }, new Dictionary<string, double>()),
            ],
            new Dictionary<string, long>(), 1.5, 1.25, 0.001);

        var lines = PrometheusText.Render(statistics).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Contains("replaycluster_request_loss_ratio 0.001", lines);
        // A running total is a counter named ..._total; a level stays a gauge.
        var family = Array.IndexOf(lines, "# TYPE replaycluster_node_requests_captured_total counter");
        Assert.True(family > 0);
        Assert.Equal("replaycluster_node_requests_captured_total{node=\"akka.tcp://replaycluster@10.0.0.11:4000\",role=\"capture\"} 7", lines[family + 1]);
        Assert.Equal("replaycluster_node_requests_captured_total{node=\"akka.tcp://replaycluster@10.0.0.12:4000\",role=\"capture\"} 9", lines[family + 2]);
        var live = Array.IndexOf(lines, "# TYPE replaycluster_node_sessions_live gauge");
        Assert.True(live > 0);
        Assert.StartsWith("replaycluster_node_sessions_live{", lines[live + 1], StringComparison.Ordinal);
    }

    [Fact]
    public void Prometheus_text_has_the_clusters_reply_latency_as_a_histogram_in_seconds()
    {
        var totals = LatencyCounters.Histogram((TimeSpan.FromMilliseconds(0.15), 3), (TimeSpan.FromMilliseconds(7), 2), (TimeSpan.FromSeconds(20), 1));
        var node = new NodeStatistics("akka.tcp://replaycluster@10.0.0.11:4000", "capture", 10, totals, new Dictionary<string, double>());

        var lines = PrometheusText.Render(new ClusterStatistics([node], totals, 0, 0, 0)).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Contains("# TYPE replaycluster_reply_latency_seconds histogram", lines);
        Assert.Contains("replaycluster_reply_latency_seconds_bucket{le=\"0.0001\"} 0", lines);
        Assert.Contains("replaycluster_reply_latency_seconds_bucket{le=\"0.0002\"} 3", lines);
        Assert.Contains("replaycluster_reply_latency_seconds_bucket{le=\"0.01\"} 5", lines);
        Assert.Contains("replaycluster_reply_latency_seconds_bucket{le=\"10\"} 5", lines);
        Assert.Contains("replaycluster_reply_latency_seconds_bucket{le=\"+Inf\"} 6", lines);
        Assert.Contains("replaycluster_reply_latency_seconds_count 6", lines);
        Assert.Contains("replaycluster_reply_latency_seconds_sum 20.01445", lines);

        // The buckets are the histogram, not a gauge family per bucket and node.
        Assert.DoesNotContain(lines, l => l.StartsWith("replaycluster_node_reply_latency", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Prometheus_text_parses_with_the_prometheus_client_library()
    {
        const string python = "/usr/bin/python3";
        if (!File.Exists(python))
        {
            Assert.Skip("no /usr/bin/python3 (apt-get install python3-prometheus-client)");
        }

        var totals = LatencyCounters.Histogram((TimeSpan.FromMilliseconds(0.15), 3), (TimeSpan.FromMilliseconds(7), 2));
        totals["requests_captured"] = 7;
        totals["sessions_live"] = 2;
        var statistics = new ClusterStatistics(
            [
                new NodeStatistics("akka.tcp://replaycluster@10.0.0.11:4000", "capture", 10, totals, new Dictionary<string, double>()),
                new NodeStatistics("akka.tcp://replaycluster@10.0.0.12:4000", "capture", 10, new Dictionary<string, long> { ["requests_captured"] = 9 }, new Dictionary<string, double>(), NodeStates.Removed),
            ],
            totals, 1.5, 1.25, 0.001);
        var script = "import sys\nfrom prometheus_client.parser import text_string_to_metric_families as families\n" +
                     "for family in families(sys.stdin.read()):\n    for s in family.samples:\n        print(family.type, s.name, s.labels.get('le', ''), s.value)\n";
        var start = new System.Diagnostics.ProcessStartInfo(python, ["-c", script]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = System.Diagnostics.Process.Start(start)!;
        await process.StandardInput.WriteAsync(PrometheusText.Render(statistics).AsMemory(), Cancellation);
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync(Cancellation);
        var error = await process.StandardError.ReadToEndAsync(Cancellation);
        await process.WaitForExitAsync(Cancellation);
        if (error.Contains("No module named 'prometheus_client'", StringComparison.Ordinal))
        {
            Assert.Skip("python3-prometheus-client is not installed");
        }

        Assert.True(process.ExitCode == 0, error);
        var samples = (await output).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("histogram replaycluster_reply_latency_seconds_bucket 0.0002 3.0", samples);
        Assert.Contains("histogram replaycluster_reply_latency_seconds_bucket +Inf 5.0", samples);
        Assert.Contains("histogram replaycluster_reply_latency_seconds_count  5.0", samples);
        Assert.Contains("gauge replaycluster_nodes  1.0", samples);
        Assert.Contains("counter replaycluster_node_requests_captured_total  7.0", samples);
        Assert.Contains("gauge replaycluster_node_sessions_live  2.0", samples);
    }

    [Fact]
    public void A_run_reports_what_was_captured_and_replayed_between_start_and_stop()
    {
        var aggregator = Sys.ActorOf(StatisticsAggregator.Props(TimeProvider.System));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        aggregator.Tell(GetRunReport.Instance);
        ExpectMsg<NoRun>(cancellationToken: Cancellation);

        aggregator.Tell(Report("capture", now, captured: 100, delivered: 100));
        aggregator.Tell(StartRun.Instance);
        Assert.Equal(0, ExpectMsg<RunReport>(cancellationToken: Cancellation).OnlineRequests);
        aggregator.Tell(Report("capture", now + 1000, captured: 1100, delivered: 1098));
        aggregator.Tell(StopRun.Instance);
        var report = ExpectMsg<RunReport>(cancellationToken: Cancellation);

        Assert.Equal(1000, report.OnlineRequests);
        Assert.Equal(998, report.ReplayedRequests);
        Assert.Equal(0.002, report.LossRatio, 6);
        Assert.NotNull(report.StoppedAt);
        Assert.Contains("loss ratio       0.002000", report.Summary(), StringComparison.Ordinal);

        aggregator.Tell(StopRun.Instance);
        ExpectMsg<NoRun>(cancellationToken: Cancellation);
    }

    [Fact]
    public void With_copies_online_requests_count_once_and_the_amplification_is_the_copies_at_work()
    {
        var aggregator = Sys.ActorOf(StatisticsAggregator.Props(TimeProvider.System));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        aggregator.Tell(Report("capture", now - 1000, captured: 0, delivered: 0, copies: 3));
        aggregator.Tell(StartRun.Instance);
        ExpectMsg<RunReport>(cancellationToken: Cancellation);
        aggregator.Tell(Report("capture", now, captured: 3000, delivered: 2997, copies: 3));

        aggregator.Tell(GetClusterStatistics.Instance);
        var statistics = ExpectMsg<ClusterStatistics>(cancellationToken: Cancellation);
        aggregator.Tell(StopRun.Instance);
        var report = ExpectMsg<RunReport>(cancellationToken: Cancellation);

        Assert.Equal(1000, statistics.OnlineRequestRate, 3);
        Assert.Equal(2.997, statistics.Amplification, 6);
        Assert.Equal((1000, 2997), (report.OnlineRequests, report.ReplayedRequests));
        Assert.Equal(2.997, report.Amplification, 6);
        Assert.Equal(0.001, report.LossRatio, 6);
        Assert.Contains("amplification    3.00x", report.Summary(), StringComparison.Ordinal);
    }

    [Fact]
    public void Requests_in_flight_are_behind_not_lost_and_a_run_names_what_was_lost_and_why()
    {
        var aggregator = Sys.ActorOf(StatisticsAggregator.Props(TimeProvider.System));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        aggregator.Tell(Report("capture", now, captured: 0, delivered: 0));
        aggregator.Tell(StartRun.Instance);
        ExpectMsg<RunReport>(cancellationToken: Cancellation);

        // 1000 captured: 900 acknowledged, 95 still held by live sessions, 5 lost when their sessions gave up.
        aggregator.Tell(new NodeStatisticsReport("capture", now + 1000, new Dictionary<string, long>
        {
            ["requests_online"] = 1000, ["requests_captured"] = 1000, ["requests_delivered"] = 900,
            ["requests_in_flight"] = 95, ["requests_lost"] = 5, ["requests_lost_retransmitlimit"] = 5,
            ["sessions_ended_clientreset"] = 3, ["sessions_ended_completed"] = 2,
        }));
        aggregator.Tell(GetClusterStatistics.Instance);
        var statistics = ExpectMsg<ClusterStatistics>(cancellationToken: Cancellation);
        Assert.Equal((95L, 5L), (statistics.RequestsInFlight, statistics.RequestsLost));
        Assert.Equal(0.005, statistics.LossRatio, 6);

        aggregator.Tell(StopRun.Instance);
        var report = ExpectMsg<RunReport>(cancellationToken: Cancellation);
        Assert.Equal((1000L, 95L, 5L), (report.CapturedRequests, report.InFlightRequests, report.LostRequests));
        Assert.Equal(0.005, report.LossRatio, 6);
        Assert.Contains("lost             5 retransmitlimit=5", report.Summary(), StringComparison.Ordinal);
        Assert.Contains("in flight        95", report.Summary(), StringComparison.Ordinal);

        // End reasons longer than the label column still read apart from their counts.
        Assert.Contains("sessions clientreset 3", report.Summary(), StringComparison.Ordinal);
        Assert.Contains("sessions completed 2", report.Summary(), StringComparison.Ordinal);
    }

    [Fact]
    public void Behind_is_requests_in_flight_over_requests_leaving_per_second_and_status_names_losses_by_reason()
    {
        var aggregator = Sys.ActorOf(StatisticsAggregator.Props(TimeProvider.System));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Dictionary<string, long> Counters(long captured, long delivered, long inFlight, long timeout, long reset, long captureTimed)
        {
            var counters = new Dictionary<string, long>
            {
                ["requests_online"] = captured, ["requests_captured"] = captured, ["requests_delivered"] = delivered, ["requests_in_flight"] = inFlight,
                ["requests_lost"] = timeout + reset, ["requests_lost_timeout"] = timeout, ["requests_lost_reset"] = reset,
            };
            var capture = new LatencyHistogram(LatencyHistogramLayout.CaptureLatency);
            for (var i = 0; i < captureTimed; i++)
            {
                capture.RecordMicroseconds(80);
            }

            capture.WriteCounters(counters);
            return counters;
        }

        // A second apart: 900 requests acknowledged and 45 lost in it (945 leaving per second), 150 held at its end.
        aggregator.Tell(new NodeStatisticsReport("capture", now - 1000, Counters(1000, 900, 95, 3, 2, 0)));
        aggregator.Tell(new NodeStatisticsReport("capture", now, Counters(2000, 1800, 150, 30, 20, 10)));
        aggregator.Tell(new NodeStatisticsReport("intercept", now, new Dictionary<string, long> { ["replies_routed"] = 1800 }));
        aggregator.Tell(GetClusterStatistics.Instance);
        var statistics = ExpectMsg<ClusterStatistics>(cancellationToken: Cancellation);

        Assert.Equal(150, statistics.RequestsInFlight);
        Assert.Equal(45, statistics.LostRequestRate, 6);
        Assert.Equal(150 / 945.0, statistics.BehindSeconds!.Value, 6);
        Assert.Equal(new Dictionary<string, long> { ["timeout"] = 30, ["reset"] = 20 }, statistics.RequestsLostByReason);
        Assert.Equal(10, statistics.CaptureLatency!.Recent.Count);
        Assert.InRange(statistics.CaptureLatency.Recent.P99Ms!.Value, 0.05, 0.1);
        var capture = statistics.Nodes.Single(n => n.Role == "capture");
        Assert.Equal((150L, 50L), (capture.RequestsInFlight, capture.RequestsLost));
        Assert.Equal(150 / 945.0, capture.BehindSeconds!.Value, 6);
        Assert.Equal(statistics.RequestsLostByReason, capture.RequestsLostByReason);
        var intercept = statistics.Nodes.Single(n => n.Role == "intercept");
        Assert.Equal((null, null, null), (intercept.RequestsInFlight, intercept.BehindSeconds, intercept.RequestsLostByReason));

        // /api/status carries them under these names (the dashboard reads them).
        var json = System.Text.Json.JsonSerializer.SerializeToElement(statistics, System.Text.Json.JsonSerializerOptions.Web);
        Assert.Equal(150 / 945.0, json.GetProperty("behindSeconds").GetDouble(), 6);
        Assert.Equal(150, json.GetProperty("requestsInFlight").GetInt64());
        Assert.Equal(30, json.GetProperty("requestsLostByReason").GetProperty("timeout").GetInt64());
        Assert.Equal(10, json.GetProperty("captureLatency").GetProperty("recent").GetProperty("count").GetInt64());
        var node = json.GetProperty("nodes")[0];
        Assert.Equal(150 / 945.0, node.GetProperty("behindSeconds").GetDouble(), 6);
        Assert.Equal(20, node.GetProperty("requestsLostByReason").GetProperty("reset").GetInt64());

        // No request left in the last second while 150 are held: no finite estimate, not a made-up one.
        aggregator.Tell(new NodeStatisticsReport("capture", now + 1000, Counters(2000, 1800, 150, 30, 20, 10)));
        aggregator.Tell(GetClusterStatistics.Instance);
        var stalled = ExpectMsg<ClusterStatistics>(cancellationToken: Cancellation);
        Assert.Null(stalled.BehindSeconds);
        Assert.Null(stalled.Nodes.Single(n => n.Role == "capture").BehindSeconds);

        // Nothing held: not behind at all.
        aggregator.Tell(new NodeStatisticsReport("capture", now + 2000, Counters(2000, 1950, 0, 30, 20, 10)));
        aggregator.Tell(GetClusterStatistics.Instance);
        Assert.Equal(0, ExpectMsg<ClusterStatistics>(cancellationToken: Cancellation).BehindSeconds);
    }

    // One copy per session unless said otherwise: every captured request is also an online one. What the
    // target never acknowledged is lost here (no request in flight).
    private static NodeStatisticsReport Report(string role, long at, long captured, long delivered, int copies = 1) =>
        new(role, at, new Dictionary<string, long>
        {
            ["requests_online"] = captured / copies, ["requests_captured"] = captured, ["requests_delivered"] = delivered, ["requests_lost"] = captured - delivered,
        });
}
