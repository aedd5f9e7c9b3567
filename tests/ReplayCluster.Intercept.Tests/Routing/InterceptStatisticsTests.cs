using ReplayCluster.Intercept.Routing;
using ReplayCluster.Statistics;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Intercept.Tests.Routing;

public sealed class InterceptStatisticsTests
{
    // The intercept's levels; every other counter it reports only grows.
    private static readonly string[] Levels = ["reply_channels", "routes", "replies_parked", "claims_awaiting_member"];

    [Fact]
    public void The_levels_an_intercept_reports_are_exported_as_gauges_and_the_rest_as_counters()
    {
        var reported = new InterceptStatistics().ToCounters().Keys.ToHashSet(StringComparer.Ordinal);

        Assert.All(Levels, level => Assert.Contains(level, reported));
        Assert.Equal(Levels.Order(StringComparer.Ordinal), reported.Where(NodeCounterKinds.IsGauge).Except(["process_memory_bytes"]).Order(StringComparer.Ordinal));
        Assert.Equal(new InterceptStatistics().Metrics.Catalogue.Where(i => i.Kind == InstrumentKind.Gauge).Select(i => i.Name).Order(StringComparer.Ordinal),
            reported.Where(NodeCounterKinds.IsGauge).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Every_instrument_of_the_catalogue_reaches_the_report_the_log_line_and_the_nodes_metrics_with_its_type()
    {
        var statistics = new InterceptStatistics();
        statistics.CountRejected(ReplayCluster.Packets.ParseResult.NotIpv4);
        statistics.Refusals.Refuse(Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, "route claims", "test", ReplayCluster.Membership.RefusalReasons.WrongRole, "test");

        var scraped = await CatalogueExport.ScrapeAsync(statistics.Metrics, () => statistics.HandOffLatency.Record(TimeSpan.FromMicroseconds(80)),
            TestContext.Current.CancellationToken);

        Assert.Equal("gauge", scraped["replaycluster_intercept_routes"]);
        CatalogueExport.AssertEveryInstrumentReported(statistics.Metrics, statistics.ToCounters(), statistics.Summary(), scraped);
        Assert.Contains("packets_rejected=1 (not_ipv4=1)", statistics.Summary(), StringComparison.Ordinal);
    }
}
