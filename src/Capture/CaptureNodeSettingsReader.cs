using System.Globalization;
using Akka.Configuration;
using ReplayCluster.Capture.Identities;
using ReplayCluster.Capture.Admission;
using ReplayCluster.Protocol;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Configuration;
using ReplayCluster.PacketIO;

namespace ReplayCluster.Capture;

/// <summary>Reads and validates <c>replaycluster.capture</c>; every error names the setting.</summary>
internal static class CaptureNodeSettingsReader
{
    private const string Section = "replaycluster.capture";

    public static CaptureNodeSettings Read(Config config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var captureInterface = Text(config, "interface");
        var pcapFile = Text(config, "pcap-file");
        if (captureInterface is null == pcapFile is null)
        {
            throw NodeConfigurationException.ForSetting($"{Section}.interface (-i) / {Section}.pcap-file (--pcap-file)",
                captureInterface is null ? "give an interface to capture on, or a pcap file to replay" : "give an interface or a pcap file, not both");
        }

        if (pcapFile is not null && !File.Exists(pcapFile))
        {
            throw NodeConfigurationException.ForSetting($"{Section}.pcap-file (--pcap-file)", $"'{pcapFile}' does not exist");
        }

        // Without -x the node replays what the coordinator's plan names (it waits for the plan).
        var targetEntries = config.GetStringList($"{Section}.targets") ?? [];
        var targets = targetEntries.Count == 0 ? null : TargetMapping.Parse(targetEntries, $"{Section}.targets (-x)");
        var allowPublic = config.GetBoolean($"{Section}.allow-public-fake-range", false);
        var fakeRange = Text(config, "fake-client-range");
        if (fakeRange is not null)
        {
            _ = ClientIdentityMapper.FromRange(fakeRange, $"{Section}.fake-client-range (-c)");
            var network = Capture.Plans.AllowedNetwork.Parse(fakeRange, $"{Section}.fake-client-range (-c)");
            if (ReplayCluster.Plans.AddressRules.WhyNotFakeRange(network.Network, network.Prefix, allowPublic) is { } notFake)
            {
                throw NodeConfigurationException.ForSetting($"{Section}.fake-client-range (-c)", notFake);
            }
        }

        var own = targets is null ? [] : Capture.Plans.NodePlanPolicy.LocalAddresses();
        foreach (var route in targets?.Routes ?? [])
        {
            if (ReplayCluster.Plans.AddressRules.WhyNeverTarget(route.TargetAddress) is { } never)
            {
                throw NodeConfigurationException.ForSetting($"{Section}.targets (-x)", $"{never}: never a target");
            }

            if (own.Contains(route.TargetAddress))
            {
                throw NodeConfigurationException.ForSetting($"{Section}.targets (-x)",
                    $"{Packets.Ipv4Address.Format(route.TargetAddress)} is an address of this host: every replayed request would run twice in production");
            }
        }

        var pacing = Text(config, "pacing") switch
        {
            null or "wait-for-response" => PacingMode.WaitForResponse,
            "no-wait" => PacingMode.NoWait,
            var other => throw NodeConfigurationException.ForSetting($"{Section}.pacing (-W)", $"'{other}' is neither wait-for-response nor no-wait"),
        };

        var captureReader = Text(config, "capture-reader") switch
        {
            null or "ring" => LiveCaptureReader.Ring,
            "libpcap" => LiveCaptureReader.Libpcap,
            var other => throw NodeConfigurationException.ForSetting($"{Section}.capture-reader", $"'{other}' is neither ring nor libpcap"),
        };
        var ringBlockSize = Bytes(config, "capture-ring-block-size", 4096, 16 << 20);
        if ((ringBlockSize & (ringBlockSize - 1)) != 0)
        {
            throw NodeConfigurationException.ForSetting($"{Section}.capture-ring-block-size", $"{ringBlockSize} bytes is not a power of two");
        }

        var mss = Number(config, "mss", 88, 9000);
        var speed = Real(config, "speed", 0.001, 1000);
        var loop = Number(config, "loop", 1, 1_000_000);
        var copies = Number(config, "copies", 1, 1000);
        var sample = Real(config, "sample-percent", 0.001, 100);
        var shards = Number(config, "shards", 0, 256);
        var defaults = new SessionOptions();
        return new CaptureNodeSettings
        {
            Interface = captureInterface,
            PcapFile = pcapFile,
            ExplicitFilter = Text(config, "filter"),
            Speed = speed,
            Loop = loop,
            Targets = targets,
            Copies = copies,
            SamplePercent = sample,
            FakeClientRange = fakeRange,
            RealClientAddresses = config.GetBoolean($"{Section}.real-client-addresses", false),
            AllowPublicFakeRange = allowPublic,
            AllowedTargets = Capture.Plans.AllowedNetwork.ParseList(config.GetStringList($"{Section}.allowed-targets") ?? [], $"{Section}.allowed-targets"),
            Identities = ReadIdentities(config),
            CaptureBufferSize = (int)Bytes(config, "capture-buffer-size", 1 << 20, int.MaxValue),
            CaptureReader = captureReader,
            CaptureRingBlockSize = (int)ringBlockSize,
            MaxNodeBufferedBytes = Bytes(config, "max-node-buffered-bytes", 1 << 20, long.MaxValue),
            StatisticsInterval = Duration(config, "statistics-interval"),
            Shards = shards == 0 ? Environment.ProcessorCount : shards,
            ShardQueueLimit = Number(config, "shard-queue-limit", 1024, 16_777_216),
            ShardThreads = config.GetBoolean($"{Section}.shard-threads", true),
            JoinMidStream = config.GetBoolean($"{Section}.join-mid-stream", false),
            MaxLiveSessions = Number(config, "max-live-sessions", 1, 10_000_000),
            DrainTimeout = Duration(config, "drain-timeout"),
            ReplyChannel = config.GetBoolean($"{Section}.reply-channel.enabled", true),
            ReplyChannelPort = config.HasPath($"{Section}.reply-channel.port") ? Number(config, "reply-channel.port", 0, 65535) : 0,
            Session = defaults with
            {
                Pacing = pacing,
                Mss = (ushort)mss,
                IdleTimeout = Duration(config, "session.idle-timeout"),
                KeepAliveTimeout = Duration(config, "session.keepalive-timeout"),
                NoDataTimeout = Duration(config, "session.no-data-timeout"),
                MaxBufferedBytes = Bytes(config, "session.max-buffered-bytes", 64 * 1024, long.MaxValue),
                ResponseWaitLimit = Duration(config, "session.response-wait-limit"),
                MaxOutstandingRequests = config.HasPath($"{Section}.session.max-outstanding-requests")
                    ? Number(config, "session.max-outstanding-requests", 1, TargetPacing.MaxOutstandingLimit)
                    : defaults.MaxOutstandingRequests,

                // The pump replays a file's packets at the recorded times divided by the speed; their
                // capture timestamps stay the recorded ones, so the recorded gaps shrink by the same factor.
                RecordedSpeed = pcapFile is null ? 1 : speed,
            },
        };
    }

    private static ClientIdentityOptions ReadIdentities(Config config)
    {
        // Zero is allowed here (it turns the quarantine off), unlike the other durations.
        TimeSpan delay;
        try
        {
            delay = config.GetTimeSpan($"{Section}.identity.reuse-delay", allowInfinite: false);
        }
        catch (Exception ex)
        {
            throw NodeConfigurationException.ForSetting($"{Section}.identity.reuse-delay", $"'{Text(config, "identity.reuse-delay")}' is not a duration (e.g. 65s)", ex);
        }

        if (delay < TimeSpan.Zero || delay > TimeSpan.FromHours(1))
        {
            throw NodeConfigurationException.ForSetting($"{Section}.identity.reuse-delay", $"'{Text(config, "identity.reuse-delay")}' must be from 0s to 1h");
        }

        return new ClientIdentityOptions
        {
            ReuseDelay = delay,
            QuarantineCapacity = Number(config, "identity.quarantine-capacity", 0, 100_000_000),
        };
    }

    private static string? Text(Config config, string key)
    {
        var value = config.GetString($"{Section}.{key}", string.Empty);
        return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
    }

    private static int Number(Config config, string key, int min, int max)
    {
        var text = Text(config, key) ?? string.Empty;
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw NodeConfigurationException.ForSetting($"{Section}.{key}", $"'{text}' is not a whole number from {min} to {max}");
        }

        return value;
    }

    private static double Real(Config config, string key, double min, double max)
    {
        var text = Text(config, key) ?? string.Empty;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw NodeConfigurationException.ForSetting($"{Section}.{key}", $"'{text}' is not a number from {min} to {max}");
        }

        return value;
    }

    private static TimeSpan Duration(Config config, string key)
    {
        try
        {
            var value = config.GetTimeSpan($"{Section}.{key}", allowInfinite: false);
            return value > TimeSpan.Zero ? value : throw new FormatException("not positive");
        }
        catch (Exception ex) when (ex is not NodeConfigurationException)
        {
            throw NodeConfigurationException.ForSetting($"{Section}.{key}", $"'{Text(config, key)}' is not a positive duration (e.g. 30s)", ex);
        }
    }

    private static long Bytes(Config config, string key, long min, long max)
    {
        long? value;
        try
        {
            value = config.GetByteSize($"{Section}.{key}");
        }
        catch (Exception ex)
        {
            throw NodeConfigurationException.ForSetting($"{Section}.{key}", $"'{Text(config, key)}' is not a size (e.g. 64 MiB)", ex);
        }

        if (value is null || value < min || value > max)
        {
            throw NodeConfigurationException.ForSetting($"{Section}.{key}", $"'{Text(config, key)}' must be between {min} and {max} bytes");
        }

        return value.Value;
    }
}
