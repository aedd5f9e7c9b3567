using System.Diagnostics;
using System.Globalization;
using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Lab.Tests.Nodes;
using LabHost = ReplayCluster.Lab.Tests.Lab.Lab;

namespace ReplayCluster.Lab.Tests.Replay;

/// <summary>
/// Issue 13's PostgreSQL proof: pgbench (TPC-B, 4 clients, 10 s, 300 transactions a second) against the online
/// PostgreSQL while a whole ReplayCluster replays it into the target's PostgreSQL. The replay must end with exactly the
/// online transactions, keep pace with live traffic and stop soon after the load. Runs alone: a rate measured on 2
/// cores next to other loads would measure them.
/// </summary>
/// <remarks>
/// The online rate is fixed (<c>pgbench -R</c>) well below what the lab can serve, because "keeps pace" is only
/// defined when the target is as fast as online: unthrottled, pgbench takes every free cycle of the 2 cores, and the
/// target PostgreSQL then competes with the online one, pgbench and the replayer for CPU, so the rate measured is the
/// machine's, not the pacing's (0.38-0.96x in unthrottled runs here and in CI). The saturated case is measured by
/// <c>bench/pgbench-pace.sh</c>.
/// </remarks>
[Collection(MeasuredAloneCollection.Name)]
[MeasuresNodeCost]
public sealed class PostgresPaceLabTests
{
    private const int Clients = 4;
    private const int Rate = 300;
    private static readonly TimeSpan Load = TimeSpan.FromSeconds(10);

    // Issue 13 asks for 0.95x and 1 s. Measured at 300 tps with load average 16-20 from other work on the machine:
    // 0.996x and 0.1 s (two runs); 600 tps under the same load: 0.86x / 1.6 s and 0.94x / 0.7 s. The test keeps a
    // margin for a shared CI machine; a return to the old wait-for-every-reply pace (0.06-0.3x, 14-27 s) fails it.
    private const double MinimumRatio = 0.9;
    private const double MaximumDrainSeconds = 1.5;

    // A replay that keeps pace settles within ~1 s; a slow one is measured for this long after the load, then judged.
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(20);

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Pgbench_is_replayed_at_the_online_pace_and_every_transaction_arrives()
    {
        await using var lab = await LabHost.StartAsync(new LabOptions(), Cancellation);
        var postgres = await PostgresLab.StartAsync(lab, Cancellation);
        await postgres.InitializePgbenchAsync(scale: 1, Cancellation);

        var launcher = new ReplayLab(lab);
        await using var coordinator = (await launcher.StartCoordinatorAsync()).Process;
        await using var intercept = (await launcher.StartInterceptAsync()).Process;
        await using var capture = (await launcher.StartCaptureAsync(args:
            [
                // Keep-pace pacing (up to 32 statements ahead of their relayed answers), stated although it is the
                // node's default (hocon/capture.hocon, max-outstanding-requests): this test is about it.
                "-x", $"{PostgresLab.Port}-{lab.TargetIp}:{PostgresLab.Port}/wait:32", "-c", lab.FakeRange,
                "--set", "replaycluster.capture.statistics-interval = 1s",
            ])).Process;

        await using var poller = postgres.StartHistoryPoller(LabRole.Target);
        await poller.WaitForFirstSampleAsync(Cancellation);
        LabProcess[] replayers = [coordinator, intercept, capture];
        var cpuBefore = CpuSeconds(replayers);

        var load = await postgres.RunPgbenchAsync(Clients, Load, Rate, Cancellation);
        var settled = await poller.WaitUntilSettledAsync(load.Transactions, quiet: TimeSpan.FromSeconds(5), DrainLimit, Cancellation);
        var cpu = CpuSeconds(replayers) - cpuBefore;

        var online = await postgres.ReadHistoryAsync(LabRole.Online, Cancellation);
        var target = await postgres.ReadHistoryAsync(LabRole.Target, Cancellation);
        var pace = PgbenchPace.Measure(load, poller.Samples, online, target, settled);
        Report($"pgbench -c {Clients} -T {Load.TotalSeconds:0} -R {Rate}: {load.Transactions} transactions, pgbench tps {load.Tps:0}");
        Report(pace.ToString());
        Report(string.Create(CultureInfo.InvariantCulture,
            $"replayer CPU (coordinator + intercept + capture) over load and drain: {cpu:0.00} s, {cpu * 1e6 / Math.Max(1, target.Count):0} µs per replayed transaction"));
        Report(capture.Lines.LastOrDefault(l => l.Contains("Capture statistics", StringComparison.Ordinal)) ?? "(no capture statistics)");

        Assert.True(online.Count == load.Transactions, $"the online history holds {online.Count} rows, pgbench reported {load.Transactions}");
        Assert.True(online.Count > Rate * Load.TotalSeconds * 2 / 3, $"too little load: {online.Count} transactions, {Rate}/s planned");
        Assert.Multiple(
            () => Assert.True(pace.Missing == 0, $"{pace.Missing} online transactions missing at the target (negative: duplicated): {pace}"),
            () => Assert.True(pace.SameTransactions, $"the target's history holds other transactions than the online one: {pace}"),
            () => Assert.True(pace.Ratio >= MinimumRatio, $"the target ran at {pace.Ratio:0.000}x the online rate during the load (at least {MinimumRatio}): {pace}"),
            () => Assert.True(pace.Settled && pace.DrainSeconds <= MaximumDrainSeconds,
                $"the target's count kept growing {(pace.Settled ? string.Empty : "more than ")}{pace.DrainSeconds:0.0} s after the load (at most {MaximumDrainSeconds} s): {pace}"));
    }

    private static double CpuSeconds(IEnumerable<LabProcess> processes) =>
        processes.Sum(p =>
        {
            try
            {
                using var process = Process.GetProcessById(p.Pid);
                return process.TotalProcessorTime.TotalSeconds;
            }
            catch (ArgumentException)
            {
                return 0; // gone: its CPU is lost to the sum, which the report then understates
            }
        });

    private static void Report(string line) => TestContext.Current.TestOutputHelper?.WriteLine(line);
}
