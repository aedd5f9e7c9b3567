using ReplayCluster.Intercept.Routing;
using ReplayCluster.Statistics;

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
        Assert.Equal(Levels.Order(StringComparer.Ordinal), reported.Where(NodeCounterKinds.IsGauge).Order(StringComparer.Ordinal));
    }
}
