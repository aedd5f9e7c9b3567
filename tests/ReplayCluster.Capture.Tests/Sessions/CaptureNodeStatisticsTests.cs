using ReplayCluster.Capture.Sessions;

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
