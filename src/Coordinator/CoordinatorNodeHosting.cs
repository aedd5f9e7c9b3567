using System.CommandLine;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ReplayCluster.CommandLine;
using ReplayCluster.Coordinator.Identities;

namespace ReplayCluster.Coordinator;

/// <summary>The coordinator role: its options, settings and actors.</summary>
internal static class CoordinatorNodeHosting
{
    private const string Section = "replaycluster.coordinator";

    private static readonly Option<string?> FakeRange = new("--fake-client-range", "-c")
    {
        Description = "Range divided into one slice per capture node (replaycluster.coordinator.fake-client-range).",
        HelpName = "CIDR",
    };

    private static readonly Option<string?> SlicePrefix = new("--slice-prefix")
    {
        Description = "Prefix length of one capture node's slice (default 24).",
        HelpName = "BITS",
    };

    public static RoleSetup Setup { get; } = new()
    {
        Options = [FakeRange, SlicePrefix],
        ToHocon = parse => HoconAssignment.FromOptions(parse, Section, (FakeRange, "fake-client-range"), (SlicePrefix, "slice-prefix")),
        ConfigureServices = (node, services) =>
        {
            services.AddSingleton(CoordinatorSettings.Read(node.Config));
            services.AddHostedService<Http.StatusEndpoint>();
        },
        ConfigureAkka = (akka, provider) => akka.WithActors((system, registry, _) =>
        {
            var allocator = system.ActorOf(IdentitySliceAllocator.Props(
                provider.GetRequiredService<CoordinatorSettings>(),
                provider.GetRequiredService<ILoggerFactory>().CreateLogger<IdentitySliceAllocator>()), Cluster.ActorNames.IdentitySlices);
            registry.Register<IdentitySliceAllocator>(allocator);
            var aggregator = system.ActorOf(Statistics.StatisticsAggregator.Props(TimeProvider.System), Cluster.ActorNames.Statistics);
            registry.Register<Statistics.StatisticsAggregator>(aggregator);
        }),
    };
}
