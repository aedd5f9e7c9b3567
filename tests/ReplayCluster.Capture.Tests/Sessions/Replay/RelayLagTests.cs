using ReplayCluster.Capture.Sessions;

namespace ReplayCluster.Capture.Tests.Sessions.Replay;

public sealed class RelayLagTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 2, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);

    [Fact]
    public void With_no_record_yet_nothing_is_behind()
    {
        var lag = new RelayLag();
        Assert.Equal(TimeSpan.Zero, lag.Current(T0));
        Assert.Equal(TimeSpan.Zero, lag.Behind(T0, T0, 30 * Ms));
    }

    [Fact]
    public void A_constant_delay_is_no_lag_whatever_the_clocks_offset()
    {
        var lag = new RelayLag();
        // The intercept's clock is 7 s ahead of ours, the relay takes 0.4 ms: "now - captured" is negative and constant.
        for (var i = 0; i < 50; i++)
        {
            var now = T0 + (i * 10 * Ms);
            lag.Observe("intercept", Nanos(now + TimeSpan.FromSeconds(7) - (0.4 * Ms)), now);
        }

        Assert.Equal(TimeSpan.Zero, lag.Current(T0 + (490 * Ms)));
    }

    [Fact]
    public void Queued_replies_are_lag_and_a_timeout_waits_a_round_trip_and_the_lag_from_its_send()
    {
        var lag = new RelayLag();
        lag.Observe("intercept", Nanos(T0 - (0.5 * Ms)), T0);
        var now = T0 + TimeSpan.FromSeconds(2);
        lag.Observe("intercept", Nanos(now - (600.5 * Ms)), now);

        Assert.Equal(600 * Ms, lag.Current(now));
        // A segment sent 200 ms ago (its RTO) is answered 30 ms (a round trip) + 600 ms (the lag) after it at the
        // earliest: 430 ms more. One whose RTO was longer than the lag and the round trip does not wait.
        Assert.Equal(430 * Ms, lag.Behind(now - (200 * Ms), now, 30 * Ms));
        Assert.Equal(600 * Ms, lag.Behind(now, now, TimeSpan.Zero));
        Assert.Equal(TimeSpan.Zero, lag.Behind(now - (700 * Ms), now, 30 * Ms));
    }

    [Fact]
    public void A_relay_that_stopped_delivering_holds_nothing_back()
    {
        var lag = new RelayLag();
        lag.Observe("intercept", Nanos(T0 - Ms), T0);
        lag.Observe("intercept", Nanos(T0 + (100 * Ms) - (500 * Ms)), T0 + (100 * Ms));

        Assert.Equal(499 * Ms, lag.Current(T0 + (100 * Ms) + RelayLag.Stale));
        Assert.Equal(TimeSpan.Zero, lag.Current(T0 + (101 * Ms) + RelayLag.Stale));
    }

    [Fact]
    public void Each_intercept_is_measured_on_its_own_clock_and_the_one_behind_counts()
    {
        var lag = new RelayLag();
        // Intercept a runs 3 s behind our clock, b 10 s ahead; both relay in 1 ms when idle.
        lag.Observe("a", Nanos(T0 - TimeSpan.FromSeconds(3) - Ms), T0);
        lag.Observe("b", Nanos(T0 + TimeSpan.FromSeconds(10) - Ms), T0);
        Assert.Equal(TimeSpan.Zero, lag.Current(T0));

        var now = T0 + (100 * Ms);
        lag.Observe("b", Nanos(now + TimeSpan.FromSeconds(10) - (300 * Ms)), now);
        lag.Observe("a", Nanos(now - TimeSpan.FromSeconds(3) - (2 * Ms)), now);
        Assert.Equal(299 * Ms, lag.Current(now));

        // b falls silent: a alone is 1 ms behind.
        var later = now + RelayLag.Stale + Ms;
        lag.Observe("a", Nanos(later - TimeSpan.FromSeconds(3) - (2 * Ms)), later);
        Assert.Equal(Ms, lag.Current(later));
    }

    [Fact]
    public void The_least_delay_is_forgotten_after_two_windows_so_a_stepped_clock_is_followed()
    {
        var lag = new RelayLag();
        lag.Observe("intercept", Nanos(T0 - Ms), T0);

        // The intercept's clock stepped back 2 s: every record now looks 2 s late, until the old least delay is gone.
        var now = T0;
        for (var i = 1; i <= 80; i++)
        {
            now = T0 + TimeSpan.FromSeconds(i);
            lag.Observe("intercept", Nanos(now - TimeSpan.FromSeconds(2) - Ms), now);
        }

        Assert.Equal(TimeSpan.Zero, lag.Current(now));
    }

    [Fact]
    public void A_record_without_a_capture_time_is_not_taken()
    {
        var lag = new RelayLag();
        lag.Observe("intercept", 0, T0);
        Assert.Equal(TimeSpan.Zero, lag.Current(T0));
    }

    private static long Nanos(DateTimeOffset moment) => (moment.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;
}
