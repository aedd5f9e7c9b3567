using ReplayCluster.Capture.Comparison;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Membership;
using ReplayCluster.Statistics;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Capture.Tests.Sessions;

public sealed class CaptureNodeStatisticsTests
{
    [Fact]
    public void Every_session_counter_reaches_the_report_and_the_log_line()
    {
        // A counter added to SessionCounters but not to the catalogue would reach no output: this fails.
        var properties = typeof(SessionCounters).GetProperties().Where(p => p.PropertyType == typeof(long)).ToList();
        var counters = new SessionCounters();
        var value = 1;
        foreach (var property in properties)
        {
            property.SetValue(counters, (long)value++ * 1000);
        }

        var statistics = new CaptureNodeStatistics();
        statistics.AddProgress(counters);
        var report = statistics.ToCounters();
        var line = statistics.Summary();
        foreach (var property in properties)
        {
            var expected = (long)property.GetValue(counters)!;
            var (name, _) = Assert.Single(CaptureNodeStatistics.SessionCounterCatalogue, c => c.Read(counters) == expected);
            Assert.Equal(expected, report[name]);
            Assert.Contains($"={expected}", line, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Every_reason_the_comparison_wiring_drops_for_reaches_the_report_and_the_log_line()
    {
        var statistics = new CaptureNodeStatistics();
        var drops = Enum.GetValues<CaptureComparisonDrop>();
        for (var i = 0; i < drops.Length; i++)
        {
            statistics.Comparison.Count(drops[i], 10 + i);
        }

        var report = statistics.ToCounters();
        var line = statistics.Summary();
        var total = drops.Select((_, i) => 10L + i).Sum();
        Assert.Equal(total, report["comparison_dropped"]);
        Assert.Contains($"comparison_dropped={total} (", line, StringComparison.Ordinal);
        for (var i = 0; i < drops.Length; i++)
        {
            var reason = CaptureComparisonCounters.NameOf(drops[i])["capture_".Length..];
            Assert.Equal(10 + i, report[$"comparison_dropped_{reason}"]);
            Assert.Contains($"{reason}={10 + i}", line, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_levels_a_capture_node_reports_are_exported_as_gauges_and_every_listed_level_is_reported_by_a_node()
    {
        // The catalogue's levels are what the coordinator exports as gauges; every other counter only grows.
        var statistics = new CaptureNodeStatistics();
        var levels = statistics.Metrics.Catalogue.Where(i => i.Kind == InstrumentKind.Gauge).Select(i => i.Name).ToList();
        var reported = statistics.ToCounters().Keys.ToHashSet(StringComparer.Ordinal);

        Assert.Contains("sessions_live", levels);
        Assert.Equal(levels.Order(StringComparer.Ordinal), reported.Where(NodeCounterKinds.IsGauge).Order(StringComparer.Ordinal));
        // The rest of the list is the intercept's (InterceptStatisticsTests): a level no node reports any more fails here.
        Assert.Equal(["claims_awaiting_member", "replies_parked", "routes"], NodeCounterKinds.Gauges.Except(reported).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Every_instrument_of_the_catalogue_reaches_the_report_the_log_line_and_the_nodes_metrics_with_its_type()
    {
        var identities = ReplayCluster.Capture.Identities.ClientIdentityMapper.FromRange("10.200.0.0/24", "-c");
        var statistics = new CaptureNodeStatistics { IdentitiesSource = () => identities };
        // Every family with a series: a family with none has nothing to export yet.
        statistics.CountRejected(ReplayCluster.Packets.ParseResult.IpFragment);
        statistics.AddEnded(SessionEndReason.SynTimeout, new SessionCounters { RequestsCaptured = 2 }, requestsUndelivered: 2);
        statistics.Refusals.Refuse(Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, "replay plan", "test", RefusalReasons.NotMember, "test");

        var scraped = await CatalogueExport.ScrapeAsync(statistics.Metrics, () =>
        {
            statistics.CaptureLatency.Record(TimeSpan.FromMicroseconds(40));
            statistics.RelayLatency.Record(TimeSpan.FromMicroseconds(300));
            statistics.ReplyLatency.Record(TimeSpan.FromMilliseconds(2));
        }, TestContext.Current.CancellationToken);

        Assert.Equal("counter", scraped["replaycluster_capture_sessions_ended"]);
        Assert.Equal("histogram", scraped["replaycluster_capture_reply_latency_seconds"]);
        CatalogueExport.AssertEveryInstrumentReported(statistics.Metrics, statistics.ToCounters(), statistics.Summary(), scraped);
        Assert.Contains("requests_lost=2 (syntimeout=2)", statistics.Summary(), StringComparison.Ordinal);
        Assert.Contains("packets_rejected=1 (ip_fragment=1)", statistics.Summary(), StringComparison.Ordinal);
        Assert.Equal(1, statistics.ToCounters()["packets_rejected_ip_fragment"]);
    }

    [Fact]
    public void The_log_line_ends_with_the_capture_relay_and_reply_latencies_and_a_dash_for_what_was_not_timed()
    {
        var statistics = new CaptureNodeStatistics();
        for (var i = 0; i < 100; i++)
        {
            statistics.CaptureLatency.Record(TimeSpan.FromMicroseconds(i < 99 ? 40 : 5000));
            statistics.RelayLatency.Record(TimeSpan.FromMicroseconds(300));
        }

        var latency = statistics.Summary()[statistics.Summary().IndexOf(" | latency ", StringComparison.Ordinal)..];
        var match = System.Text.RegularExpressions.Regex.Match(latency, @"^ \| latency capture p50=([0-9.]+)ms p99=([0-9.]+)ms relay p50=([0-9.]+)ms p99=([0-9.]+)ms reply=-$");
        Assert.True(match.Success, latency);
        double Ms(int group) => double.Parse(match.Groups[group].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(Ms(1), 0.01, 0.05);
        Assert.True(Ms(2) > Ms(1), latency);
        Assert.InRange(Ms(3), 0.1, 0.5);
        Assert.InRange(Ms(4), Ms(3), 0.5);
    }

    [Fact]
    public void Captured_requests_are_delivered_in_flight_or_lost_and_never_two_of_them()
    {
        var statistics = new CaptureNodeStatistics();
        statistics.AddProgress(new SessionCounters { RequestsCaptured = 10, RequestsDelivered = 4 });
        Assert.Equal((6L, 0L), (statistics.RequestsInFlight, statistics.RequestsLost));

        statistics.AddEnded(SessionEndReason.RetransmitLimit, new SessionCounters { RequestsDelivered = 1 }, requestsUndelivered: 2);
        Assert.Equal((3L, 2L), (statistics.RequestsInFlight, statistics.RequestsLost));
        Assert.Equal(2, statistics.RequestsLostByReason[SessionEndReason.RetransmitLimit]);
    }
}
