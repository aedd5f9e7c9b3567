using Akka.Configuration;
using ReplayCluster.Capture.Identities;
using ReplayCluster.Capture.Admission;
using ReplayCluster.Protocol;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Configuration;
using ReplayCluster.PacketIO;
using ReplayCluster.Packets;

namespace ReplayCluster.Capture;

/// <summary>Reads and validates <c>replaycluster.capture</c>; every error names the setting.</summary>
internal static class CaptureNodeSettingsReader
{
    private const string Section = "replaycluster.capture";

    public static CaptureNodeSettings Read(Config config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var settings = new SettingsSection(config, Section);
        var captureInterface = settings.OptionalText("interface");
        var pcapFile = settings.OptionalText("pcap-file");
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
        var targetEntries = settings.List("targets");
        var targets = targetEntries.Count == 0 ? null : TargetMapping.Parse(targetEntries, $"{Section}.targets (-x)");
        var allowPublic = settings.Flag("allow-public-fake-range", false);
        var fakeRange = settings.OptionalText("fake-client-range");
        if (fakeRange is not null)
        {
            // One range, or an IPv4 and an IPv6 range: the mapper reads them, the rules judge each.
            _ = ClientIdentityMapper.FromRange(fakeRange, $"{Section}.fake-client-range (-c)");
            foreach (var part in fakeRange.Split(',', StringSplitOptions.TrimEntries))
            {
                var network = Capture.Plans.AllowedNetwork.Parse(part, $"{Section}.fake-client-range (-c)");
                var notFake = network.Network.IsIpv4
                    ? ReplayCluster.Plans.AddressRules.WhyNotFakeRange(network.Network.Ipv4, network.Prefix, allowPublic)
                    : ReplayCluster.Plans.AddressRules.WhyNotFakeRange(new Ipv6Prefix(network.Network.Ipv6, network.Prefix), allowPublic);
                if (notFake is not null)
                {
                    throw NodeConfigurationException.ForSetting($"{Section}.fake-client-range (-c)", notFake);
                }
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
                    $"{route.TargetAddress} is an address of this host: every replayed request would run twice in production");
            }
        }

        var pacing = settings.OptionalText("pacing") switch
        {
            null or "wait-for-response" => PacingMode.WaitForResponse,
            "no-wait" => PacingMode.NoWait,
            var other => throw NodeConfigurationException.ForSetting($"{Section}.pacing (-W)", $"'{other}' is neither wait-for-response nor no-wait"),
        };

        var captureReader = settings.OptionalText("capture-reader") switch
        {
            null or "ring" => LiveCaptureReader.Ring,
            "libpcap" => LiveCaptureReader.Libpcap,
            var other => throw NodeConfigurationException.ForSetting($"{Section}.capture-reader", $"'{other}' is neither ring nor libpcap"),
        };
        var ringBlockSize = settings.Bytes("capture-ring-block-size", 4096, 16 << 20);
        if ((ringBlockSize & (ringBlockSize - 1)) != 0)
        {
            throw NodeConfigurationException.ForSetting($"{Section}.capture-ring-block-size", $"{ringBlockSize} bytes is not a power of two");
        }

        var mss = settings.Number("mss", 88, 9000);
        var speed = settings.Real("speed", 0.001, 1000);
        var loop = settings.Number("loop", 1, 1_000_000);
        var copies = settings.Number("copies", 1, 1000);
        var sample = settings.Real("sample-percent", 0.001, 100);
        var shards = settings.Number("shards", 0, 256);
        var defaults = new SessionOptions();
        return new CaptureNodeSettings
        {
            Interface = captureInterface,
            PcapFile = pcapFile,
            ExplicitFilter = settings.OptionalText("filter"),
            Speed = speed,
            Loop = loop,
            Targets = targets,
            Copies = copies,
            SamplePercent = sample,
            FakeClientRange = fakeRange,
            RealClientAddresses = settings.Flag("real-client-addresses", false),
            AllowPublicFakeRange = allowPublic,
            AllowedTargets = Capture.Plans.AllowedNetwork.ParseList(settings.List("allowed-targets"), $"{Section}.allowed-targets"),
            Identities = ReadIdentities(settings),
            CaptureBufferSize = (int)settings.Bytes("capture-buffer-size", 1 << 20, int.MaxValue),
            CaptureReader = captureReader,
            CaptureRingBlockSize = (int)ringBlockSize,
            MaxNodeBufferedBytes = settings.Bytes("max-node-buffered-bytes", 1 << 20, long.MaxValue),
            StatisticsInterval = settings.Duration("statistics-interval"),
            Shards = shards == 0 ? Environment.ProcessorCount : shards,
            ShardQueueLimit = settings.Number("shard-queue-limit", 1024, 16_777_216),
            ShardThreads = settings.Flag("shard-threads", true),
            CaptureOnShardThreads = settings.Flag("capture-on-shard-threads", false),
            JoinMidStream = settings.Flag("join-mid-stream", false),
            MaxLiveSessions = settings.Number("max-live-sessions", 1, 10_000_000),
            DrainTimeout = settings.Duration("drain-timeout"),
            ReplyChannel = settings.Flag("reply-channel.enabled", true),
            ReplyChannelPort = settings.Has("reply-channel.port") ? settings.Number("reply-channel.port", 0, 65535) : 0,
            Session = defaults with
            {
                Pacing = pacing,
                Mss = (ushort)mss,
                IdleTimeout = settings.Duration("session.idle-timeout"),
                KeepAliveTimeout = settings.Duration("session.keepalive-timeout"),
                NoDataTimeout = settings.Duration("session.no-data-timeout"),
                MaxBufferedBytes = settings.Bytes("session.max-buffered-bytes", 64 * 1024, long.MaxValue),
                ResponseWaitLimit = settings.Duration("session.response-wait-limit"),
                MaxOutstandingRequests = settings.Has("session.max-outstanding-requests")
                    ? settings.Number("session.max-outstanding-requests", 1, TargetPacing.MaxOutstandingLimit)
                    : defaults.MaxOutstandingRequests,

                // The pump replays a file's packets at the recorded times divided by the speed; their
                // capture timestamps stay the recorded ones, so the recorded gaps shrink by the same factor.
                RecordedSpeed = pcapFile is null ? 1 : speed,
            },
        };
    }

    private static ClientIdentityOptions ReadIdentities(SettingsSection settings) => new()
    {
        // Zero is allowed here (it turns the quarantine off), unlike the other durations.
        ReuseDelay = settings.Duration("identity.reuse-delay", TimeSpan.Zero, TimeSpan.FromHours(1)),
        QuarantineCapacity = settings.Number("identity.quarantine-capacity", 0, 100_000_000),
    };
}
