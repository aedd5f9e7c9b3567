using System.CommandLine;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ReplayCluster.Capture.Admission;
using ReplayCluster.Capture.Capturing;
using ReplayCluster.Capture.Identities;
using ReplayCluster.Capture.Routing;
using ReplayCluster.Capture.Sending;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.CommandLine;
using ReplayCluster.PacketIO;
using ReplayCluster.Statistics;

namespace ReplayCluster.Capture;

/// <summary>The capture role: its options (tcpcopy's short flags where they mean the same), settings and actors.</summary>
internal static class CaptureNodeHosting
{
    private const string Section = "replaycluster.capture";

    // Dispatcher ids of the shards: replaycluster-shard-0, -1, ... (also their threads' names).
    private const string ShardDispatcher = "replaycluster-shard";

    private static readonly Option<string?> Interface = new("--interface", "-i") { Description = "Interface to capture client packets on (replaycluster.capture.interface).", HelpName = "DEV" };
    private static readonly Option<string?> Filter = new("--filter", "-F") { Description = "BPF filter; default: tcp to the mapped online ports.", HelpName = "BPF" };
    private static readonly Option<string?> PcapFile = new("--pcap-file") { Description = "Replay this pcap/pcapng file instead of capturing live.", HelpName = "FILE" };
    private static readonly Option<string?> Speed = new("--speed", "-a") { Description = "Offline replay speed factor (2 = twice as fast).", HelpName = "FACTOR" };
    private static readonly Option<string?> Loop = new("--loop", "-T") { Description = "Times the pcap file is replayed.", HelpName = "N" };
    private static readonly Option<string[]> Targets = new("--target", "-x") { Description = "[onlineIP:]onlinePort-targetIP:targetPort; repeatable (default: from the coordinator's replay plan).", HelpName = "MAP" };
    private static readonly Option<string?> FakeRange = new("--fake-client-range", "-c") { Description = "Rewrite client addresses into this CIDR range, e.g. 10.200.0.0/16.", HelpName = "CIDR" };
    private static readonly Option<bool> NoWait = new("--no-wait", "-W") { Description = "Send requests as captured instead of waiting for the target's responses." };
    private static readonly Option<string?> Mss = new("--mss", "-D") { Description = "MSS announced to the target (default 1460).", HelpName = "BYTES" };
    private static readonly Option<string?> Copies = new("--copies", "-n") { Description = "Replay every session N times, each from its own client identity (default 1).", HelpName = "N" };
    private static readonly Option<string?> Sample = new("--sample-percent", "-r") { Description = "Replay only this percentage of sessions, chosen by an unbiased hash (default 100).", HelpName = "PERCENT" };

    public static RoleSetup Setup { get; } = new()
    {
        Options = [Interface, Filter, PcapFile, Speed, Loop, Targets, FakeRange, NoWait, Mss, Copies, Sample],
        ToHocon = ToHocon,
        ConfigureServices = (node, services) =>
        {
            var settings = CaptureNodeSettingsReader.Read(node.Config);
            services.AddSingleton(settings);
            services.AddSingleton(new Plans.PlanInEffect(Plans.AppliedPlan.Own(settings)));
            services.AddSingleton(TimeProvider.System);
            services.AddSingleton(_ => new RawIpSender(sendBufferBytes: 4 * 1024 * 1024));
            services.AddSingleton(_ => new Sending.Ipv6RawSocket(OpenIpv6Sender()));
            services.AddSingleton(provider => new CaptureNodeStatistics
            {
                Sender = provider.GetRequiredService<RawIpSender>(),
                Ipv6Socket = provider.GetRequiredService<Sending.Ipv6RawSocket>(),
            });
            services.AddNodeMetricsExport(node.Settings, node.Config, provider => provider.GetRequiredService<CaptureNodeStatistics>().Metrics);
            services.AddSingleton(provider => new BatchingSegmentTransport(provider.GetRequiredService<RawIpSender>(),
                provider.GetRequiredService<Sending.Ipv6RawSocket>()));
            services.AddSingleton<ISegmentTransport>(provider => provider.GetRequiredService<BatchingSegmentTransport>());
            services.AddSingleton(new CaptureReadiness());
            services.AddSingleton(new Health.ReadinessCheck("capture", provider => provider.GetRequiredService<CaptureReadiness>().ReplayReason));
            services.AddSingleton(new Health.HealthDetail("identitySlice", provider => provider.GetRequiredService<IdentitySource>().Slice));
            // What the node follows, so that a test or an operator waits on data rather than on a log line.
            services.AddSingleton(new Health.HealthDetail("planVersion",
                provider => provider.GetRequiredService<Plans.PlanInEffect>().Current.Version.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            services.AddSingleton(new Health.HealthDetail("captureFilter", provider => provider.GetRequiredService<CapturePump>().ActiveFilter));
            services.AddSingleton(new SessionShards(settings.Shards, settings.ShardQueueLimit));
            services.AddSingleton(new InterceptDirectory());
            services.AddSingleton(provider => new AdmissionLimits(settings.MaxLiveSessions, new BufferBudget(settings.MaxNodeBufferedBytes),
                provider.GetRequiredService<TimeProvider>())
            {
                JoinMidStream = settings.JoinMidStream,
                Readiness = provider.GetRequiredService<CaptureReadiness>(),
            });
            services.AddSingleton(provider =>
            {
                var time = provider.GetRequiredService<TimeProvider>();
                // Without -c, and without the real addresses chosen, there is no identity until the coordinator's slice.
                return new IdentitySource(settings.FakeClientRange is { } range
                    ? ClientIdentityMapper.FromRange(range, "replaycluster.capture.fake-client-range", settings.Identities, time)
                    : settings.RealClientAddresses ? ClientIdentityMapper.KeepReal(settings.Identities, time) : null, settings.Identities, time);
            });
            // Before the pump: hosted services start in order and stop in reverse, so the conntrack exemption is in
            // place before capture starts and removed only after the last replayed packet left.
            services.AddSingleton(ConntrackExemptionOptions.Read(node.Config, settings.FakeClientRanges));
            services.AddSingleton<ConntrackExemption>();
            services.AddHostedService(provider => provider.GetRequiredService<ConntrackExemption>());
            services.AddSingleton<CapturePump>();
            services.AddHostedService(provider => provider.GetRequiredService<CapturePump>());

            // Response comparison (issue 11, Comparison/): its own small capture, opened only while the plan compares.
            services.AddSingleton(provider => provider.GetRequiredService<CaptureNodeStatistics>().Comparison);
            services.AddSingleton(new Comparison.ComparisonCollectorOptions());
            services.AddSingleton(new Comparison.ComparisonSwitch());
            services.AddSingleton<Comparison.OnlineComparisonCapture>();
            services.AddHostedService(provider => provider.GetRequiredService<Comparison.OnlineComparisonCapture>());
            services.AddSingleton(new Health.HealthDetail("comparisonFilter", provider => provider.GetRequiredService<Comparison.OnlineComparisonCapture>().ActiveFilter));
        },
        DoctorChecks = node =>
        {
            var settings = CaptureNodeSettingsReader.Read(node.Config);
            List<Doctor.DoctorCheck> checks = [Doctor.HostChecks.Libpcap(), Doctor.HostChecks.Privileges()];
            if (settings.Interface is { } captureInterface)
            {
                checks.Add(Doctor.HostChecks.Interface(captureInterface));
                checks.Add(Doctor.HostChecks.Offloads(captureInterface));
            }

            checks.AddRange((settings.Targets?.Routes ?? []).Select(r => r.TargetAddress).Distinct()
                .Select(a => Doctor.HostChecks.RouteTo(a.ToIPAddress(), $"target {a}")));
            checks.Add(Doctor.HostChecks.Conntrack(settings.FakeClientRanges,
                ConntrackExemptionOptions.Read(node.Config, settings.FakeClientRanges).Mode != NotrackMode.Off));
            return checks;
        },
        ConfigureAkka = (akka, provider) => akka
            .AddHocon(ShardThreadExecutorConfigurator.Hocon(ShardDispatcher, provider.GetRequiredService<CaptureNodeSettings>().Shards), HoconAddMode.Prepend)
            .WithActors((system, registry, _) => StartActors(system, registry, provider)),
    };

    /// <summary>
    /// The data path's actors (one shard per core, which create the session actors) and the small actors
    /// that own the node's conversations with the cluster: plan, identity slice, routes, statistics.
    /// </summary>
    private static void StartActors(Akka.Actor.ActorSystem system, IActorRegistry registry, IServiceProvider provider)
    {
        var settings = provider.GetRequiredService<CaptureNodeSettings>();
        var statistics = provider.GetRequiredService<CaptureNodeStatistics>();
        var limits = provider.GetRequiredService<AdmissionLimits>();
        var shards = provider.GetRequiredService<SessionShards>();
        var readiness = provider.GetRequiredService<CaptureReadiness>();
        var plan = provider.GetRequiredService<Plans.PlanInEffect>();
        var loggers = provider.GetRequiredService<ILoggerFactory>();
        var directory = provider.GetRequiredService<InterceptDirectory>();
        var identities = provider.GetRequiredService<IdentitySource>();
        statistics.Budget = limits.Budget;
        statistics.LiveSessionsSource = () => limits.LiveSessions;
        statistics.IdentitiesSource = () => identities.Mapper;
        limits.SetRate(plan.Current.RateCap);

        // One dispatcher, hence one thread, per shard: a shard and its sessions share it (see ShardThreadExecutor).
        var transport = provider.GetRequiredService<BatchingSegmentTransport>();
        foreach (var i in Enumerable.Range(0, shards.Count))
        {
            ShardThreadExecutorConfigurator.Register($"{ShardDispatcher}-{i}", transport);
        }

        // Response comparison (issue 11): the collector owns the engine; shards only tell it which sessions they started.
        var collector = system.ActorOf(Comparison.ComparisonCollector.Props(plan, directory, provider.GetRequiredService<Comparison.CaptureComparisonCounters>(),
            provider.GetRequiredService<Comparison.ComparisonCollectorOptions>(), provider.GetRequiredService<TimeProvider>(),
            loggers.CreateLogger<Comparison.ComparisonCollector>(), comparing: provider.GetRequiredService<Comparison.ComparisonSwitch>()),
            ReplayCluster.Comparison.ComparisonActorNames.Collector);
        registry.Register<Comparison.ComparisonCollector>(collector);
        var context = new SessionShard.Shared(plan, shards, limits, identities, directory,
            provider.GetRequiredService<ISegmentTransport>(), provider.GetRequiredService<TimeProvider>(), statistics,
            loggers.CreateLogger<SessionShard>())
        {
            Comparison = new Comparison.ComparisonHook(plan, collector, provider.GetRequiredService<Comparison.ComparisonSwitch>()),
        };
        shards.Attach([.. Enumerable.Range(0, shards.Count)
            .Select(i => system.ActorOf(settings.ShardThreads ? SessionShard.Props(context, i).WithDispatcher($"{ShardDispatcher}-{i}") : SessionShard.Props(context, i),
                $"{Cluster.ActorNames.Sessions}-{i}"))]);

        // The reply channel: intercepts send replies straight to the shards, beside remoting (see ReplyChannelProtocol).
        ReplyChannelListener? channel = null;
        if (settings.ReplyChannel)
        {
            var node = provider.GetRequiredService<Configuration.NodeSettings>();
            channel = ReplyChannelListener.Start(node.Hostname, settings.ReplyChannelPort, node.PublicHostname, shards, statistics,
                loggers.CreateLogger<ReplyChannelListener>());
            system.RegisterOnTermination(channel.Dispose);
            directory.Channels = channel;
        }

        var policy = new Plans.NodePlanPolicy(settings);
        system.ActorOf(Plans.PlanFollower.Props(settings, plan, limits, statistics, readiness, loggers.CreateLogger<Plans.PlanFollower>(), policy), "plan-follower");
        if (settings.FakeClientRange is null && !settings.RealClientAddresses)
        {
            system.ActorOf(IdentityLease.Props(identities, plan, policy, readiness, statistics.Refusals, loggers.CreateLogger<IdentityLease>()), "identity-lease");
        }
        else
        {
            // With its own range (-c), or the real addresses chosen, the node is settled; otherwise it needs the coordinator's slice.
            readiness.SetIdentitiesSettled(true);
        }

        var announcer = system.ActorOf(RouteAnnouncer.Props(directory, shards, statistics, readiness, loggers.CreateLogger<RouteAnnouncer>(), channel), "route-announcer");
        if (channel is not null)
        {
            // An intercept connects only a round trip after the announcer offered the channel; one missed here would
            // still be counted after RouteAnnouncer.AcceptWait.
            channel.Connected = intercept => announcer.Tell(new RouteAnnouncer.InterceptAccepted(intercept), Akka.Actor.ActorRefs.NoSender);
        }

        system.ActorOf(CaptureStatisticsLog.Props(statistics, settings.StatisticsInterval, loggers.CreateLogger<CaptureStatisticsLog>()), "statistics-log");
        registry.Register<Statistics.StatisticsReporter>(
            system.ActorOf(Statistics.StatisticsReporter.Props(Configuration.NodeRoles.Capture, statistics.ToCounters), "statistics-reporter"));
    }

    private static IEnumerable<string> ToHocon(ParseResult parse)
    {
        foreach (var assignment in HoconAssignment.FromOptions(parse, Section, (Interface, "interface"), (Filter, "filter"), (PcapFile, "pcap-file"),
            (FakeRange, "fake-client-range"), (Speed, "speed"), (Loop, "loop"), (Mss, "mss"), (Copies, "copies"), (Sample, "sample-percent")))
        {
            yield return assignment;
        }

        if (parse.GetValue(Targets) is { Length: > 0 } targets)
        {
            yield return HoconAssignment.OfList($"{Section}.targets", targets);
        }

        if (parse.GetValue(NoWait))
        {
            yield return HoconAssignment.Of($"{Section}.pacing", "no-wait");
        }
    }

    // IPv6 sessions need a raw IPv6 socket; a host without IPv6 still replays IPv4 (its IPv6 segments are counted
    // as failed sends: raw_send_failed other).
    private static RawIpSender? OpenIpv6Sender()
    {
        try
        {
            return new RawIpSender(System.Net.Sockets.AddressFamily.InterNetworkV6, 4 * 1024 * 1024);
        }
        catch (System.Net.Sockets.SocketException)
        {
            return null;
        }
    }
}
