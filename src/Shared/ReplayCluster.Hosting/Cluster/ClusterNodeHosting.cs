using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ReplayCluster.Configuration;

namespace ReplayCluster.Cluster;

/// <summary>Hosting extension that makes a generic host a ReplayCluster cluster node.</summary>
internal static class ClusterNodeHosting
{
    /// <summary>
    /// Adds the node's actor system, configured entirely from <paramref name="node"/>'s HOCON, with
    /// Akka logs routed to Microsoft.Extensions.Logging and a membership monitor. The host's stop
    /// (SIGTERM, Ctrl-C) runs CoordinatedShutdown, so the node leaves the cluster gracefully.
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <param name="node">The validated node configuration.</param>
    /// <param name="configure">Role-specific additions (actors, serializers).</param>
    public static IServiceCollection AddReplayClusterNode(this IServiceCollection services, NodeConfiguration node,
        Action<AkkaConfigurationBuilder, IServiceProvider>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(node);
        services.AddSingleton(node);
        services.AddSingleton(node.Settings);

        // Built here, before anything listens, so a bad certificate is a configuration error naming its setting.
        var peers = new CertifiedPeers();
        var tls = ClusterTransportSecurity.CreateSetup(node.Settings, peers, TimeProvider.System);
        services.AddSingleton(peers);
        services.AddSingleton(provider => new Health.NodeHealth(node.Settings.Role, provider.GetServices<Health.ReadinessCheck>(), provider,
            provider.GetServices<Health.HealthDetail>()));
        services.AddAkka(node.Settings.SystemName, (builder, provider) =>
        {
            if (tls is not null)
            {
                builder.AddSetup(tls);
            }

            builder
                .AddHocon(node.Config, HoconAddMode.Prepend)
                .ConfigureLoggers(loggers =>
                {
                    loggers.ClearLoggers();
                    loggers.AddLoggerFactory();
                })
                .WithActors((system, registry, resolver) =>
                {
                    // Before any actor checks a sender: with TLS, a sender's role must also be its certificate's.
                    if (tls is not null)
                    {
                        CertifiedPeers.Attach(system, peers);
                    }

                    NodeStopReason.Register(system, provider.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ClusterNodeHosting)));
                    provider.GetRequiredService<Health.NodeHealth>().Attach(system);
                    var monitor = system.ActorOf(resolver.Props<ClusterMembershipMonitor>(), "cluster-membership");
                    registry.Register<ClusterMembershipMonitor>(monitor);
                    LogTransportSecurity(system, tls, provider);
                    JoinSelfWhenUnseeded(system, node.Settings, provider);
                });
            configure?.Invoke(builder, provider);
        });

        // After the actor system's hosted service, before the role's: probes get answers while the role waits.
        var health = Health.HealthSettings.Read(node.Settings.Role, node.Config);
        if (health.Port > 0)
        {
            var endpoint = new System.Net.IPEndPoint(ResolveBindAddress(node.Settings.Hostname), health.Port);
            services.AddHostedService(provider => new Health.HealthEndpoint(endpoint, provider.GetRequiredService<Health.NodeHealth>(),
                provider.GetRequiredService<ILogger<Health.HealthEndpoint>>()));
        }

        var trimAfter = new SettingsSection(node.Config, "replaycluster.node").Duration("trim-memory-after", TimeSpan.Zero, TimeSpan.FromHours(1));
        if (trimAfter > TimeSpan.Zero)
        {
            services.AddHostedService(provider =>
            {
                var health = provider.GetRequiredService<Health.NodeHealth>();
                return new Memory.MemoryTrimmer(() => health.Evaluate().Ready, trimAfter, TimeProvider.System,
                    provider.GetRequiredService<ILogger<Memory.MemoryTrimmer>>());
            });
        }

        return services;
    }

    private static System.Net.IPAddress ResolveBindAddress(string hostname) =>
        System.Net.IPAddress.TryParse(hostname, out var address) ? address
            : System.Net.Dns.GetHostAddresses(hostname).FirstOrDefault()
              ?? throw NodeConfigurationException.ForSetting("replaycluster.node.hostname", $"'{hostname}' has no address for the health endpoint");

    private static void LogTransportSecurity(ActorSystem system, Akka.Remote.Transport.DotNetty.DotNettySslSetup? tls, IServiceProvider provider)
    {
        var logger = provider.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ClusterNodeHosting));
        if (tls is null)
        {
            ClusterLog.TlsOff(logger, Akka.Cluster.Cluster.Get(system).SelfAddress.ToString());
        }
        else
        {
            ClusterLog.TlsOn(logger, tls.Certificate.Subject, tls.Certificate.NotAfter.ToUniversalTime());
        }
    }

    /// <summary>
    /// A coordinator without seeds forms the cluster by joining itself. Done here rather than with
    /// a self seed address so that its port may be 0 (tests, ad-hoc runs).
    /// </summary>
    private static void JoinSelfWhenUnseeded(ActorSystem system, NodeSettings settings, IServiceProvider provider)
    {
        if (settings.Seeds.Count > 0 || settings.Role != NodeRoles.Coordinator)
        {
            return;
        }

        var cluster = Akka.Cluster.Cluster.Get(system);
        ClusterLog.FormingCluster(provider.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ClusterNodeHosting)),
            cluster.SelfAddress.ToString());
        cluster.Join(cluster.SelfAddress);
    }
}
