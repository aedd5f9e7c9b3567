using ReplayCluster.Benchmarks.Fuzz;
using ReplayCluster.Packets;
using ReplayCluster.Tests.PacketIO;

namespace ReplayCluster.Tests.Fuzz;

/// <summary>
/// The harness of bench/fuzz.sh (compiled in from bench/ReplayCluster.Benchmarks/Fuzz) on a few thousand inputs of each
/// target, so CI covers the harness and the no-crash property cheaply; the 10^7/10^6 run is bench/fuzz.sh's.
/// </summary>
public sealed class FuzzHarnessTests
{
    private const int Seed = 20_261_130;

    [Fact]
    public void Mutated_packets_are_each_accepted_or_counted_as_a_rejection_never_a_crash()
    {
        var fuzzer = new PacketFuzzer(Seed);
        var tally = fuzzer.Run(20_000);

        AssertNoCrash(tally);
        Assert.Equal(20_000, tally.Inputs);
        Assert.Equal(tally.Inputs, tally.Accepted + tally.Rejected);
        Assert.Equal(tally.Inputs, fuzzer.Counters.Total);
        Assert.Equal(tally.Accepted, fuzzer.Counters.Get(ParseResult.Ok));
        foreach (var (reason, count) in tally.Rejections)
        {
            Assert.Equal(count, fuzzer.Counters.Get(Enum.Parse<ParseResult>(reason)));
        }

        // The mutations reach deep: most rejection reasons, and accepted frames of both kinds (whole and cut).
        Assert.True(tally.Rejections.Count >= 9, string.Join(", ", tally.Rejections.Keys));
        Assert.True(fuzzer.Truncated > 0);
        Assert.InRange(tally.MaxAllocatedBytes, 1, PacketCorpus.Build().Max(s => s.Frame.Length) + Mutator.MaxGrowth);
    }

    [Fact]
    public void Mutated_capture_files_are_read_to_the_end_or_refused_never_a_crash()
    {
        using var directory = new TempDirectory();
        var fuzzer = new PcapFileFuzzer(Seed, directory.Path);
        var tally = fuzzer.Run(300);

        AssertNoCrash(tally);
        Assert.Equal(tally.Inputs, tally.Accepted + tally.Rejected);
        Assert.True(tally.Accepted > 0 && tally.Rejected > 0);
        Assert.Contains(tally.Rejections.Keys, reason => reason.StartsWith("pcap: truncated", StringComparison.Ordinal));
        Assert.True(fuzzer.Records > tally.Inputs, $"{fuzzer.Records} records");
    }

    [Fact]
    public void Mutated_cluster_payloads_are_decoded_or_refused_by_every_serializer_never_a_crash()
    {
        using var system = WireFuzzer.CreateNodeSystem();
        var fuzzer = new WireFuzzer(system, Seed);
        var tally = fuzzer.Run(6_000);

        AssertNoCrash(tally);
        Assert.Equal(tally.Inputs, tally.Accepted + tally.Rejected);
        foreach (var serializer in new[] { "replay", "json(unbound)", "akka-misc(guard)", "akka-system-msg(guard)" })
        {
            Assert.Contains(tally.Rejections.Keys, reason => reason.StartsWith(serializer + ":", StringComparison.Ordinal));
        }

        Assert.Contains(tally.AcceptedByKind.Keys, kind => kind == "akka-misc(guard): RefusedPeerCommand(Kill)");
        Assert.Contains(tally.AcceptedByKind.Keys, kind => kind == "replay: ResponseBatch");
    }

    [Fact]
    public void An_exception_from_a_decoder_is_a_crash_kept_with_its_input_in_hex()
    {
        // The bookkeeping every fuzzer does for a decoder that throws or overspends: counted, kept, printed.
        var tally = new FuzzTally("test");
        tally.Crash("System.IndexOutOfRangeException: boom", [0xDE, 0xAD]);
        tally.Reject("NotTcp");
        Assert.Equal(1, tally.CrashCount);
        Assert.Equal(new FuzzCrash("test", "System.IndexOutOfRangeException: boom", "DEAD"), Assert.Single(tally.Crashes));
        Assert.Contains("CRASH System.IndexOutOfRangeException: boom", FuzzCommand.Summary([tally], []), StringComparison.Ordinal);

        Assert.NotNull(tally.Measure(System.Diagnostics.Stopwatch.GetTimestamp(), allocatedBytes: 101, inputLength: 10, allocationBudget: 100));
        Assert.Null(tally.Measure(System.Diagnostics.Stopwatch.GetTimestamp(), allocatedBytes: 100, inputLength: 10, allocationBudget: 100));
        // An input over the time limit is decoded once more and timed from that run's start; one within it is not.
        var runs = new System.Runtime.CompilerServices.StrongBox<int>();
        var now = System.Diagnostics.Stopwatch.GetTimestamp();
        Assert.Equal(now, tally.RetimeIfSlow(now, runs, static r => r.Value++));
        Assert.Equal(0, runs.Value);
        var slow = now - (2 * System.Diagnostics.Stopwatch.Frequency);
        Assert.True(tally.OverTime(slow));
        Assert.True(tally.RetimeIfSlow(slow, runs, static r => throw new InvalidOperationException($"run {++r.Value}")) >= now);
        Assert.Equal(1, runs.Value);
        Assert.Equal(101, tally.MaxAllocatedBytes);

        // An input over its allocation budget is charged what a second decode allocates; one within it is not decoded again.
        runs.Value = 0;
        Assert.Equal(100, FuzzTally.RemeasureIfOverBudget(100, 100, runs, static r => r.Value++));
        Assert.Equal(0, runs.Value);
        Assert.InRange(FuzzTally.RemeasureIfOverBudget(12_112, 9_000, runs, static r => r.Value++), 0, 9_000);
        Assert.Equal(1, runs.Value);
        Assert.True(FuzzTally.RemeasureIfOverBudget(101, 100, runs, static r => GC.KeepAlive(new byte[1_000 + r.Value++])) > 1_000);
        Assert.Equal(2, runs.Value);
    }

    [Fact]
    public void The_watchdog_reports_an_input_that_does_not_return()
    {
        using var reported = new ManualResetEventSlim();
        string? report = null;
        using var watchdog = new FuzzWatchdog(text =>
        {
            report = text;
            reported.Set();
        });

        // Started longer ago than the hang limit: the next check reports it.
        var longAgo = System.Diagnostics.Stopwatch.GetTimestamp() - (long)((FuzzWatchdog.HangLimit.TotalSeconds + 1) * System.Diagnostics.Stopwatch.Frequency);
        watchdog.Begin("test", [0xCA, 0xFE], 2, longAgo);
        watchdog.Describe(() => "manifest 'CF'");
        Assert.True(reported.Wait(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken));
        Assert.Equal("fuzz: HANG: test (manifest 'CF'): one input ran for more than 10 s: CAFE", report);
    }

    private static void AssertNoCrash(FuzzTally tally) =>
        Assert.True(tally.CrashCount == 0, string.Join(Environment.NewLine, tally.Crashes.Select(c => $"{c.Failure}: {c.Hex}")));
}
