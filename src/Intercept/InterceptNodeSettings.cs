using Akka.Configuration;
using ReplayCluster.Configuration;

namespace ReplayCluster.Intercept;

/// <summary>The intercept node's validated settings (<c>replaycluster.intercept</c>).</summary>
internal sealed record InterceptNodeSettings
{
    private const string Section = "replaycluster.intercept";

    public required string Interface { get; init; }

    public required string Filter { get; init; }

    public int CaptureBufferSize { get; init; } = 16 * 1024 * 1024;

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
        var captureInterface = config.GetString($"{Section}.interface", string.Empty)?.Trim();
        if (string.IsNullOrEmpty(captureInterface))
        {
            throw NodeConfigurationException.ForSetting($"{Section}.interface (-i)", "give the interface where the target's replies arrive");
        }

        var batch = config.GetInt($"{Section}.batch-size", 256);
        if (batch is < 1 or > Protocol.ResponseBatch.MaxRecords)
        {
            throw NodeConfigurationException.ForSetting($"{Section}.batch-size", $"'{batch}' must be from 1 to {Protocol.ResponseBatch.MaxRecords}");
        }

        TimeSpan window;
        try
        {
            window = config.GetTimeSpan($"{Section}.batch-window", TimeSpan.FromMicroseconds(250), allowInfinite: false); // HOCON: "250micros", not "250us"
        }
        catch (Exception ex)
        {
            throw NodeConfigurationException.ForSetting($"{Section}.batch-window", $"'{config.GetString($"{Section}.batch-window")}' is not a duration", ex);
        }

        if (window < TimeSpan.Zero || window > TimeSpan.FromMilliseconds(100))
        {
            throw NodeConfigurationException.ForSetting($"{Section}.batch-window", $"'{config.GetString($"{Section}.batch-window")}' must be from 0 to 100ms");
        }

        var blockTimeout = Positive(config, "capture-block-timeout");
        if (blockTimeout.TotalMilliseconds is < 1 or > 1000 || blockTimeout.Ticks % TimeSpan.TicksPerMillisecond != 0)
        {
            throw NodeConfigurationException.ForSetting($"{Section}.capture-block-timeout", $"'{config.GetString($"{Section}.capture-block-timeout")}' must be whole milliseconds from 1ms to 1s");
        }

        bool immediate;
        try
        {
            immediate = config.GetBoolean($"{Section}.capture-immediate", true);
        }
        catch (Exception ex)
        {
            throw NodeConfigurationException.ForSetting($"{Section}.capture-immediate", $"'{config.GetString($"{Section}.capture-immediate")}' is not on or off", ex);
        }

        return new InterceptNodeSettings
        {
            Interface = captureInterface,
            Filter = config.GetString($"{Section}.filter", string.Empty) is { Length: > 0 } filter ? filter : DefaultFilter(node),
            CaptureBufferSize = (int)(config.GetByteSize($"{Section}.capture-buffer-size") ?? (16 * 1024 * 1024)),
            CaptureImmediate = immediate,
            CaptureBlockTimeout = blockTimeout,
            BatchSize = batch,
            BatchWindow = window,
            ParkingTime = Positive(config, "parking-time"),
            RouteLifetime = Positive(config, "route-lifetime"),
            StatisticsInterval = Positive(config, "statistics-interval"),
            ReplyChannel = config.GetBoolean($"{Section}.reply-channel", true),
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

    private static TimeSpan Positive(Config config, string key)
    {
        try
        {
            var value = config.GetTimeSpan($"{Section}.{key}", allowInfinite: false);
            return value > TimeSpan.Zero ? value : throw new FormatException("not positive");
        }
        catch (Exception ex)
        {
            throw NodeConfigurationException.ForSetting($"{Section}.{key}", $"'{config.GetString($"{Section}.{key}")}' is not a positive duration", ex);
        }
    }
}
