using Akka.Configuration;
using ReplayCluster.Configuration;

namespace ReplayCluster.Intercept;

/// <summary>The intercept node's validated settings (<c>replaycluster.intercept</c>).</summary>
internal sealed record InterceptNodeSettings
{
    private const string Section = "replaycluster.intercept";

    public required string Interface { get; init; }

    public required string Filter { get; init; }

    /// <summary>Kernel capture ring in bytes (hocon/intercept.hocon, capture-buffer-size, says why 8 MiB).</summary>
    public int CaptureBufferSize { get; init; } = 8 * 1024 * 1024;

    /// <summary>libpcap immediate mode for the reply capture (see hocon/intercept.hocon). Defaults to true.</summary>
    public bool CaptureImmediate { get; init; } = true;

    /// <summary>The TPACKET_V3 block timeout when not immediate. Defaults to 1 ms.</summary>
    public TimeSpan CaptureBlockTimeout { get; init; } = TimeSpan.FromMilliseconds(1);

    public int BatchSize { get; init; } = 256;

    /// <summary>
    /// Batches to one node leave at most once per this window, unless one fills (see hocon/intercept.hocon); a
    /// reply after a quiet moment goes at once. Zero sends at the end of every capture burst. Defaults to 250 µs.
    /// </summary>
    public TimeSpan BatchWindow { get; init; } = TimeSpan.FromMicroseconds(250);

    public TimeSpan ParkingTime { get; init; } = TimeSpan.FromSeconds(3);

    public TimeSpan RouteLifetime { get; init; } = TimeSpan.FromMinutes(10);

    public TimeSpan StatisticsInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Whether capture nodes' reply channel offers are taken (see hocon/intercept.hocon). Defaults to true.</summary>
    public bool ReplyChannel { get; init; } = true;

    /// <summary>Reads the section; errors name the setting.</summary>
    public static InterceptNodeSettings Read(Config config, NodeSettings node)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(node);
        var settings = new SettingsSection(config, Section);
        var captureInterface = settings.OptionalText("interface")
            ?? throw NodeConfigurationException.ForSetting($"{Section}.interface (-i)", "give the interface where the target's replies arrive");
        var blockTimeout = settings.Duration("capture-block-timeout", TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(1));
        if (blockTimeout.Ticks % TimeSpan.TicksPerMillisecond != 0)
        {
            throw NodeConfigurationException.ForSetting(settings.PathOf("capture-block-timeout"), $"'{settings.Text("capture-block-timeout")}' must be whole milliseconds from 1ms to 1s");
        }

        return new InterceptNodeSettings
        {
            Interface = captureInterface,
            Filter = settings.OptionalText("filter") ?? DefaultFilter(node),
            CaptureBufferSize = (int)settings.Bytes("capture-buffer-size", 1 << 20, int.MaxValue),
            CaptureImmediate = settings.Flag("capture-immediate", true),
            CaptureBlockTimeout = blockTimeout,
            BatchSize = settings.Number("batch-size", 1, Protocol.ResponseBatch.MaxRecords),
            // HOCON writes microseconds "250micros", not "250us". Zero sends at the end of every capture burst.
            BatchWindow = settings.Duration("batch-window", TimeSpan.Zero, TimeSpan.FromMilliseconds(100)),
            ParkingTime = settings.Duration("parking-time"),
            RouteLifetime = settings.Duration("route-lifetime"),
            StatisticsInterval = settings.Duration("statistics-interval"),
            ReplyChannel = settings.Flag("reply-channel", true),
        };
    }

    /// <summary>All TCP except this node's own (cluster) traffic, which may cross the sink interface.</summary>
    private static string DefaultFilter(NodeSettings node)
    {
        var own = new[] { node.PublicHostname, node.Hostname }
            .Where(h => System.Net.IPAddress.TryParse(h, out var a) && !a.Equals(System.Net.IPAddress.Any))
            .Distinct()
            .Select(h => $" and not host {h}");
        return "tcp" + string.Concat(own);
    }
}
