using System.Diagnostics;
using System.Globalization;
using ReplayCluster.Packets;
using ReplayCluster.PacketIO;

namespace ReplayCluster.Benchmarks;

/// <summary>
/// <c>capture-rate --interface DEV --seconds N [--filter BPF]</c>: captures with <see cref="LiveCapture"/> and parses
/// every frame with <see cref="PacketParser"/> for N seconds, then prints one line of counters. Runs in the calling
/// process's network namespace (start it with <c>ip netns exec</c>) and on whatever CPUs it is allowed (pin it with
/// <c>taskset</c> to measure one core). bench/capture-rate.sh drives it in the lab.
/// </summary>
internal static class CaptureRate
{
    public const string Command = "capture-rate";

    private const string Usage = """
        usage: ReplayCluster.Benchmarks capture-rate --interface DEV --seconds N [--filter BPF] [--reader libpcap|ring] [--buffer-mib M]
          Captures and parses every frame on DEV for N seconds with LiveCapture + PacketParser, then prints
          packets, packets/s (first to last frame), parse rejects, kernel drops and the CPU time the process used.
        """;

    public static int Run(string[] args)
    {
        string? device = null;
        string? filter = null;
        var seconds = 10.0;
        var reader = LiveCaptureReader.Libpcap;
        var bufferMib = 64;
        for (var i = 1; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : null;
            switch (args[i])
            {
                case "--interface" or "-i" when value is not null:
                    device = value;
                    i++;
                    break;
                case "--seconds" or "-s" when value is not null && double.TryParse(value, CultureInfo.InvariantCulture, out seconds) && seconds > 0:
                    i++;
                    break;
                case "--filter" or "-f" when value is not null:
                    filter = value;
                    i++;
                    break;
                case "--reader" when value is not null && Enum.TryParse(value, ignoreCase: true, out reader):
                    i++;
                    break;
                case "--buffer-mib" when value is not null && int.TryParse(value, CultureInfo.InvariantCulture, out bufferMib) && bufferMib is > 0 and <= 1024:
                    i++;
                    break;
                default:
                    Console.Error.WriteLine($"capture-rate: bad or incomplete option '{args[i]}'");
                    Console.Error.WriteLine(Usage);
                    return 2;
            }
        }

        if (device is null)
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }

        var counters = new ParseRejectCounters();
        var meter = new Meter(counters);
        using var capture = LiveCapture.Open(new LiveCaptureOptions
        {
            Interface = device,
            Filter = filter,
            Reader = reader,
            BufferSizeBytes = bufferMib * 1024 * 1024,
        });
        meter.LinkType = LinkTypes.FromPcap(capture.LinkType);
        var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var wall = Stopwatch.StartNew();
        capture.Start(meter.OnFrame);
        Console.WriteLine(FormattableString.Invariant($"capture-rate: capturing on {device} for {seconds:0.###} s (filter: {filter ?? "none"}, reader {reader}, buffer {bufferMib} MiB)"));

        Thread.Sleep(TimeSpan.FromSeconds(seconds));
        var statistics = capture.Statistics;
        capture.Stop();
        wall.Stop();
        process.Refresh();
        var cpu = (process.TotalProcessorTime - cpuBefore).TotalSeconds;

        var active = (meter.LastTimestampNanos - meter.FirstTimestampNanos) / 1e9;
        var packets = capture.FramesDelivered;
        var rate = active > 0 ? packets / active : 0;
        Console.WriteLine(FormattableString.Invariant(
            $"packets={packets} active_seconds={active:0.000} packets_per_second={rate:0} parsed={counters.Get(ParseResult.Ok)} parse_rejects={counters.Rejected} ") +
            FormattableString.Invariant(
            $"kernel_received={statistics.Received} kernel_dropped={statistics.KernelDropped} interface_dropped={statistics.InterfaceDropped} ") +
            FormattableString.Invariant(
            $"wall_seconds={wall.Elapsed.TotalSeconds:0.000} cpu_seconds={cpu:0.000} packets_per_cpu_second={(cpu > 0 ? packets / cpu : 0):0} peak_rss_mb={PeakRssMegabytes():0.0}"));
        if (counters.Rejected > 0)
        {
            var reasons = counters.Snapshot().Where(r => r.Key != ParseResult.Ok && r.Value > 0).Select(r => FormattableString.Invariant($"{r.Key}={r.Value}"));
            Console.WriteLine($"rejects: {string.Join(' ', reasons)}");
        }

        return 0;
    }

    /// <summary>VmHWM of this process: the peak resident set, which includes the ring pages the kernel filled.</summary>
    private static double PeakRssMegabytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                var kib = long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
                return kib / 1024.0;
            }
        }

        return 0;
    }

    /// <summary>Parses each frame and counts the result; runs on the capture thread only.</summary>
    private sealed class Meter(ParseRejectCounters counters)
    {
        public LinkType LinkType { get; set; }

        public long FirstTimestampNanos { get; private set; }

        public long LastTimestampNanos { get; private set; }

        public void OnFrame(ReadOnlySpan<byte> frame, in FrameInfo info)
        {
            counters.Count(PacketParser.TryParse(frame, LinkType, out _));
            if (FirstTimestampNanos == 0)
            {
                FirstTimestampNanos = info.TimestampNanos;
            }

            LastTimestampNanos = info.TimestampNanos;
        }
    }
}
