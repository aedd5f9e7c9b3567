using System.CommandLine;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ReplayCluster.CommandLine;
using ReplayCluster.Intercept.Capturing;
using ReplayCluster.Intercept.Routing;
using ReplayCluster.Statistics;

namespace ReplayCluster.Intercept;

/// <summary>The intercept role: its options (intercept's -i and -F), settings and actors.</summary>
internal static class InterceptNodeHosting
{
    private const string Section = "replaycluster.intercept";

    private static readonly Option<string?> Interface = new("--interface", "-i") { Description = "Interface where the target's replies arrive (replaycluster.intercept.interface).", HelpName = "DEV" };
    private static readonly Option<string?> Filter = new("--filter", "-F") { Description = "BPF filter for the replies (default: tcp).", HelpName = "BPF" };

    public static RoleSetup Setup { get; } = new()
    {
        Options = [Interface, Filter],
        ToHocon = parse => HoconAssignment.FromOptions(parse, Section, (Interface, "interface"), (Filter, "filter")),
        ConfigureServices = (node, services) =>
        {
            services.AddSingleton(InterceptNodeSettings.Read(node.Config, node.Settings));
            services.AddSingleton<InterceptStatistics>();
            services.AddNodeMetricsExport(node.Settings, node.Config, provider => provider.GetRequiredService<InterceptStatistics>().Metrics);
            services.AddSingleton(TimeProvider.System);
            services.AddSingleton<ReplyForwarder>();
            services.AddSingleton<ReplyCapturePump>();
            services.AddHostedService(provider => provider.GetRequiredService<ReplyCapturePump>());
            services.AddSingleton(new Health.ReadinessCheck("reply capture", provider => provider.GetRequiredService<ReplyCapturePump>().NotReadyReason));
            services.AddSingleton(new Health.HealthDetail("comparisonFilter", provider => provider.GetRequiredService<InterceptStatistics>().Comparison.CaptureFilter));
        },
        DoctorChecks = node =>
        {
            var settings = InterceptNodeSettings.Read(node.Config, node.Settings);
            return
            [
                Doctor.HostChecks.Libpcap(), Doctor.HostChecks.Privileges(), Doctor.HostChecks.Interface(settings.Interface),
                Doctor.HostChecks.ForwardingOff(settings.Interface), Doctor.HostChecks.Ipv6ForwardingOff(settings.Interface),
            ];
        },
        ConfigureAkka = (akka, provider) => akka.WithActors((system, registry, _) =>
        {
            var router = system.ActorOf(ReplyRouter.Props(
                provider.GetRequiredService<InterceptNodeSettings>(),
                provider.GetRequiredService<InterceptStatistics>(),
                provider.GetRequiredService<ReplyForwarder>(),
                TimeProvider.System,
                provider.GetRequiredService<ILoggerFactory>().CreateLogger<ReplyRouter>()), Cluster.ActorNames.ReplyRouter);
            registry.Register<ReplyRouter>(router);
            var statistics = provider.GetRequiredService<InterceptStatistics>();

            // Response comparison (issue 11): the tap opens its own capture only when a capture node names a compared session.
            var settings = provider.GetRequiredService<InterceptNodeSettings>();
            var tapCounters = statistics.Comparison;
            system.ActorOf(Comparison.ComparisonTap.Props(settings.Interface, settings.Filter, new Comparison.ComparisonTapOptions(), tapCounters,
                TimeProvider.System, provider.GetRequiredService<ILoggerFactory>().CreateLogger<Comparison.ComparisonTap>()),
                ReplayCluster.Comparison.ComparisonActorNames.Tap);
            system.ActorOf(Statistics.StatisticsReporter.Props(Configuration.NodeRoles.Intercept, statistics.ToCounters), "statistics-reporter");
        }),
    };
}
