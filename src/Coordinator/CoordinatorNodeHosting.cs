using System.CommandLine;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ReplayCluster.CommandLine;
using ReplayCluster.Coordinator.Identities;
using ReplayCluster.Coordinator.Plans;
using ReplayCluster.Plans;
using ReplayCluster.Statistics;

namespace ReplayCluster.Coordinator;

/// <summary>The coordinator role: its options (the starting replay plan), settings and actors.</summary>
internal static class CoordinatorNodeHosting
{
    private const string PlanSection = "replaycluster.coordinator.plan";

    private static readonly Option<string?> FakeRange = new("--fake-client-range", "-c")
    {
        Description = "Range divided into one slice per capture node: an IPv4 range, optionally with an IPv6 range beside it, each node a /64 of it (10.200.0.0/16,fd00:c8::/48; replaycluster.coordinator.plan.fake-client-range).",
        HelpName = "CIDR",
    };

    private static readonly Option<string?> SlicePrefix = new("--slice-prefix")
    {
        Description = "Prefix length of one capture node's slice (default 24).",
        HelpName = "BITS",
    };

    private static readonly Option<string[]> Targets = new("--target", "-x")
    {
        Description = "[onlineIP:]onlinePort-targetIP:targetPort for every capture node; repeatable (default: each node's own -x).",
        HelpName = "MAP",
    };

    private static readonly Option<string?> Copies = new("--copies", "-n") { Description = "Replay every session N times (default: each node's own -n).", HelpName = "N" };
    private static readonly Option<string?> Sample = new("--sample-percent", "-r") { Description = "Replay this percentage of sessions (default: each node's own -r).", HelpName = "PERCENT" };
    private static readonly Option<string?> RateCap = new("--rate-cap") { Description = "Replayed sessions started per second, cluster-wide (default: no cap).", HelpName = "PER_SECOND" };
    private static readonly Option<string?> RunDuration = new("--run-duration") { Description = "A run stops by itself after this long, e.g. 10m (default: when stopped).", HelpName = "DURATION" };

    /// <summary>
    /// The HTTP API's token file: where the coordinator keeps it and, for the client commands (status, plan, run,
    /// report), where they read it. One option for both, so the two agree.
    /// </summary>
    internal static readonly Option<string?> TokenFile = new("--token-file")
    {
        Description = $"The HTTP API's bearer token file (replaycluster.coordinator.http.token-file; clients also ${Client.ClientCommands.TokenFileVariable}). Default {Http.HttpApiSettings.DefaultTokenFile}.",
        HelpName = "FILE",
    };

    public static RoleSetup Setup { get; } = new()
    {
        Options = [FakeRange, SlicePrefix, Targets, Copies, Sample, RateCap, RunDuration, TokenFile],
        ToHocon = ToHocon,
        ConfigureServices = (node, services) =>
        {
            var settings = CoordinatorSettings.Read(node.Config);
            services.AddSingleton(settings);

            // Read here, not when the API starts: a bad setting stops the node before it joins, naming the setting.
            var http = settings.HttpEndpoint is { } endpoint ? Http.HttpApiSettings.Read(node.Config, endpoint) : null;
            if (http is not null && File.Exists(http.TokenFile))
            {
                // An existing token file that cannot be used (not a token, open to others) too; a missing one is made
                // when the API starts, not here, so that --print-config writes nothing.
                _ = Http.ApiToken.LoadOrCreate(http.TokenFile);
            }

            services.AddSingleton(provider => new Http.StatusEndpoint(http, provider.GetRequiredService<ActorRegistry>(),
                provider.GetRequiredService<ILogger<Http.StatusEndpoint>>()));
            services.AddHostedService(provider => provider.GetRequiredService<Http.StatusEndpoint>());

            // One count of refused cluster messages for the coordinator, in its catalogue: /api/status under "coordinator",
            // and its own /metrics when replaycluster.coordinator.metrics.port is set.
            services.AddSingleton(new Membership.MessageRefusals());
            services.AddSingleton(provider => Statistics.StatisticsAggregator.CoordinatorMetrics(provider.GetRequiredService<Membership.MessageRefusals>()));
            services.AddNodeMetricsExport(node.Settings, node.Config, provider => provider.GetRequiredService<NodeMetrics>());
            services.AddSingleton(new Health.ReadinessCheck("api", provider => provider.GetRequiredService<Http.StatusEndpoint>().NotReadyReason));
        },
        ConfigureAkka = (akka, provider) => akka.WithActors((system, registry, _) =>
        {
            var settings = provider.GetRequiredService<CoordinatorSettings>();
            var loggers = provider.GetRequiredService<ILoggerFactory>();
            var plan = settings.InitialPlan;

            var refusals = provider.GetRequiredService<Membership.MessageRefusals>();
            var senders = Membership.ClusterSenders.Of(system);
            var allocator = system.ActorOf(IdentitySliceAllocator.Props(
                new IdentityRangeChanged(plan.FakeClientRange, plan.SlicePrefix ?? ReplayPlanValidator.DefaultSlicePrefix),
                loggers.CreateLogger<IdentitySliceAllocator>(), senders, refusals), Cluster.ActorNames.IdentitySlices);
            registry.Register<IdentitySliceAllocator>(allocator);
            var keeper = system.ActorOf(ReplayPlanKeeper.Props(plan, allocator, loggers.CreateLogger<ReplayPlanKeeper>(), settings.PlanRules, senders, refusals),
                Cluster.ActorNames.ReplayPlan);
            registry.Register<ReplayPlanKeeper>(keeper);
            var aggregator = system.ActorOf(Statistics.StatisticsAggregator.Props(TimeProvider.System,
                loggers.CreateLogger<Statistics.StatisticsAggregator>(), senders, refusals, provider.GetRequiredService<NodeMetrics>()), Cluster.ActorNames.Statistics);
            registry.Register<Statistics.StatisticsAggregator>(aggregator);
            // Response comparison (issue 11): capture nodes' summaries, merged per run, for /api/diff.
            registry.Register<Comparison.DiffKeeper>(system.ActorOf(Comparison.DiffKeeper.Props(TimeProvider.System,
                loggers.CreateLogger<Comparison.DiffKeeper>(), senders, refusals), ReplayCluster.Comparison.ComparisonActorNames.Collector));
        }),
    };

    private static IEnumerable<string> ToHocon(ParseResult parse)
    {
        foreach (var assignment in HoconAssignment.FromOptions(parse, PlanSection, (FakeRange, "fake-client-range"), (SlicePrefix, "slice-prefix"),
            (Copies, "copies"), (Sample, "sample-percent"), (RateCap, "rate-cap"), (RunDuration, "run-duration")))
        {
            yield return assignment;
        }

        if (parse.GetValue(TokenFile) is { } tokenFile)
        {
            yield return HoconAssignment.Of(Http.HttpApiSettings.TokenFileSetting, tokenFile);
        }

        if (parse.GetValue(Targets) is { Length: > 0 } targets)
        {
            yield return HoconAssignment.OfList($"{PlanSection}.targets", targets);
        }
    }
}
