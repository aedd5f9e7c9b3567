using System.Globalization;
using System.Text;

namespace ReplayCluster.Benchmarks.Fuzz;

/// <summary>
/// <c>fuzz [--packets N] [--frames N] [--pcap-files N] [--seed S]</c>: mutated captured frames, capture files and
/// inbound cluster payloads through the node's real decoders (see <see cref="PacketFuzzer"/>,
/// <see cref="PcapFileFuzzer"/>, <see cref="WireFuzzer"/>), then a summary table. Exit code 0 when every input was
/// accepted or refused as documented, 1 on any crash, 2 on bad options, 3 on a hung input (<see cref="FuzzWatchdog"/>).
/// bench/fuzz.sh builds and runs it.
/// </summary>
internal static class FuzzCommand
{
    public const string Command = "fuzz";

    private const string Usage = """
        usage: ReplayCluster.Benchmarks fuzz [--packets N] [--frames N] [--pcap-files N] [--seed S]
          Mutated inputs through the node's decoders: N captured frames (default 10000000) through PacketParser as
          the capture and intercept nodes call it, N capture files (default 10000) through PcapFileReader, N cluster
          payloads (default 1000000) through the node's serializers. Same seed (default 1), same inputs.
          Exit code 1 when any input crashed a decoder (the first few inputs are printed in hex).
        """;

    public static int Run(string[] args)
    {
        long packets = 10_000_000, frames = 1_000_000, files = 10_000;
        var seed = 1;
        for (var i = 1; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : null;
            var ok = args[i] switch
            {
                "--packets" => TryCount(value, out packets),
                "--frames" => TryCount(value, out frames),
                "--pcap-files" => TryCount(value, out files),
                "--seed" => int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out seed),
                _ => false,
            };
            if (!ok)
            {
                Console.Error.WriteLine($"fuzz: bad or incomplete option '{args[i]}'");
                Console.Error.WriteLine(Usage);
                return 2;
            }

            i++;
        }

        Console.WriteLine(FormattableString.Invariant($"fuzz: seed {seed}: {packets} packets, {files} pcap files, {frames} cluster frames ({Environment.ProcessorCount} CPUs, .NET {Environment.Version})"));
        var tallies = new List<FuzzTally>();
        var notes = new List<string>();
        using var watchdog = new FuzzWatchdog();

        var packetFuzzer = new PacketFuzzer(seed);
        tallies.Add(packetFuzzer.Run(packets, watchdog));
        var counters = packetFuzzer.Counters;
        notes.Add(FormattableString.Invariant($"packets: ParseRejectCounters total {counters.Total} = accepted {counters.Get(Packets.ParseResult.Ok)} (of which truncated by the snap length, dropped by the capture node: {packetFuzzer.Truncated}) + rejected {counters.Rejected}"));
        Console.WriteLine(Line(tallies[^1]));

        var directory = Directory.CreateTempSubdirectory("replaycluster-fuzz-");
        try
        {
            var pcapFuzzer = new PcapFileFuzzer(seed, directory.FullName);
            tallies.Add(pcapFuzzer.Run(files, watchdog));
            notes.Add(FormattableString.Invariant($"pcap files: {pcapFuzzer.Records} records read and parsed: accepted {pcapFuzzer.Frames.Get(Packets.ParseResult.Ok)}, rejected {pcapFuzzer.Frames.Rejected}"));
            Console.WriteLine(Line(tallies[^1]));
        }
        finally
        {
            directory.Delete(recursive: true);
        }

        using (var system = WireFuzzer.CreateNodeSystem())
        {
            var wireFuzzer = new WireFuzzer(system, seed);
            notes.Add($"cluster frames: {wireFuzzer.Seeds.Count} seed messages: {string.Join("; ", wireFuzzer.Seeds.GroupBy(s => s.SerializerId).Select(g => $"serializer {g.Key}: {g.Count()} ({string.Join(" ", g.Select(s => $"{s.Name.Split('#')[0]}={(s.Manifest.Length > 12 ? "type" : s.Manifest)}"))})"))}");
            tallies.Add(wireFuzzer.Run(frames, watchdog));
            notes.Add($"cluster frames: most bytes one input allocated, by serializer: {string.Join(", ", wireFuzzer.MaxAllocated.Select(p => FormattableString.Invariant($"{p.Key} {p.Value.Bytes} B ({p.Value.InputLength}-byte input)")))}");
            Console.WriteLine(Line(tallies[^1]));
            system.Terminate().Wait(TimeSpan.FromSeconds(10));
        }

        Console.WriteLine();
        Console.Write(Summary(tallies, notes));
        var crashes = tallies.Sum(t => t.CrashCount);
        Console.WriteLine(crashes == 0 ? "fuzz: PASS: no crash" : $"fuzz: FAIL: {crashes} crashing inputs");
        return crashes == 0 ? 0 : 1;
    }

    /// <summary>The table: one row per target, then the counts by outcome, the notes and the crashes.</summary>
    public static string Summary(IReadOnlyList<FuzzTally> tallies, IReadOnlyList<string> notes)
    {
        ArgumentNullException.ThrowIfNull(tallies);
        ArgumentNullException.ThrowIfNull(notes);
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"{"target",-15} {"inputs",12} {"accepted",12} {"rejected",12} {"crashes",8} {"seconds",8} {"inputs/s",10} {"max alloc B",12} {"(input B)",10} {"max ms",7}");
        foreach (var t in tallies)
        {
            text.AppendLine(Line(t));
        }

        foreach (var t in tallies)
        {
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"{t.Target}: accepted by kind");
            foreach (var (kind, count) in t.AcceptedByKind)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  {kind,-60} {count,12}");
            }

            text.AppendLine(CultureInfo.InvariantCulture, $"{t.Target}: rejected by reason");
            foreach (var (reason, count) in t.Rejections)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  {reason,-60} {count,12}");
            }

            foreach (var crash in t.Crashes)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  CRASH {crash.Failure}");
                text.AppendLine(CultureInfo.InvariantCulture, $"        input {crash.Hex}");
            }
        }

        text.AppendLine();
        foreach (var note in notes)
        {
            text.AppendLine(note);
        }

        return text.ToString();
    }

    private static string Line(FuzzTally t) => FormattableString.Invariant(
        $"{t.Target,-15} {t.Inputs,12} {t.Accepted,12} {t.Rejected,12} {t.CrashCount,8} {t.Elapsed.TotalSeconds,8:F1} {(t.Elapsed.TotalSeconds > 0 ? t.Inputs / t.Elapsed.TotalSeconds : 0),10:F0} {t.MaxAllocatedBytes,12} {t.MaxAllocatedInputLength,10} {t.MaxInputDuration.TotalMilliseconds,7:F1}");

    private static bool TryCount(string? value, out long count) =>
        long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out count) && count >= 0;
}
