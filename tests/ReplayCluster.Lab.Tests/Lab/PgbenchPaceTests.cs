namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>The arithmetic of the PostgreSQL pace measurement, on made-up pgbench output and count samples.</summary>
public sealed class PgbenchPaceTests
{
    private const string Output = """
        pgbench (15.18 (Debian 15.18-0+deb12u1))
        transaction type: <builtin: TPC-B (sort of)>
        number of clients: 4
        duration: 10 s
        number of transactions actually processed: 3
        number of failed transactions: 0 (0.000%)
        latency average = 2.649 ms
        tps = 1509.814647 (without initial connection time)
        """;

    // client_id transaction_no latency_us script_no epoch_s epoch_us
    private static readonly string[] Log = ["0 0 2000 0 1000 2000", "1 0 500000 0 1000 600000", "0 1 3000 0 1010 0"];

    [Fact]
    public void A_run_is_parsed_from_the_summary_and_the_per_transaction_log()
    {
        var run = PgbenchRun.Parse(Output, Log);

        Assert.Equal(3, run.Transactions);
        Assert.Equal(1509.814647, run.Tps, 6);
        Assert.Equal(3, run.LoggedTransactions);
        Assert.Equal(1000.0, run.LoadStart, 6); // 1000.002 - 0.002 and 1000.6 - 0.5 = 1000.1: the first is earlier
        Assert.Equal(1010.0, run.LoadEnd, 6);
        Assert.Equal(10.0, run.Seconds, 6);
    }

    [Fact]
    public void Output_without_a_transaction_log_is_rejected() =>
        Assert.Throws<FormatException>(() => PgbenchRun.Parse(Output, []));

    [Fact]
    public void A_target_that_keeps_pace_has_ratio_one_and_no_drain()
    {
        var load = new PgbenchRun(1000, 100, 0, 10, 1000);
        HistorySample[] samples = [new(0, 0), new(5, 500), new(9.8, 990), new(10.2, 1000), new(12, 1000)];

        var pace = PgbenchPace.Measure(load, samples, new HistorySummary(1000, "a"), new HistorySummary(1000, "a"), settled: true);

        Assert.Equal(995, pace.TargetAtLoadEnd, 6); // halfway between 990 at 9.8 s and 1000 at 10.2 s
        Assert.Equal(0.995, pace.Ratio, 6);
        Assert.Equal(100, pace.OnlineTps, 6);
        Assert.Equal(99.5, pace.TargetTps, 6);
        Assert.Equal(0.2, pace.DrainSeconds, 6);
        Assert.Equal(0, pace.Missing);
        Assert.True(pace.SameTransactions);
    }

    [Fact]
    public void A_target_at_a_tenth_of_the_pace_that_gave_up_reports_a_lower_bound_and_the_missing_rest()
    {
        var load = new PgbenchRun(1000, 100, 0, 10, 1000);
        HistorySample[] samples = [new(0, 0), new(10, 100), new(30, 300)];

        var pace = PgbenchPace.Measure(load, samples, new HistorySummary(1000, "a"), new HistorySummary(300, "b"), settled: false);

        Assert.Equal(0.1, pace.Ratio, 6);
        Assert.Equal(20, pace.DrainSeconds, 6);
        Assert.False(pace.Settled);
        Assert.Equal(700, pace.Missing);
        Assert.False(pace.SameTransactions);
        Assert.Contains("drain >20.0 s", pace.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_target_that_finished_before_the_load_ended_drains_in_zero_seconds()
    {
        var load = new PgbenchRun(10, 1, 0, 10, 10);
        HistorySample[] samples = [new(1, 0), new(9, 10), new(11, 10)];

        var pace = PgbenchPace.Measure(load, samples, new HistorySummary(10, "a"), new HistorySummary(10, "a"), settled: true);

        Assert.Equal(0, pace.DrainSeconds);
        Assert.Equal(1, pace.Ratio, 6);
    }
}
