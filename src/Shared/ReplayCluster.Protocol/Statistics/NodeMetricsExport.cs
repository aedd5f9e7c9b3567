using Akka.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using ReplayCluster.Configuration;

namespace ReplayCluster.Statistics;

/// <summary>
/// A node's own <c>/metrics</c>: its <see cref="NodeMetrics"/> catalogue through OpenTelemetry's Prometheus exporter
/// on <c>http://HOSTNAME:PORT/metrics</c>, where <c>PORT</c> is <c>replaycluster.ROLE.metrics.port</c> (0 = off, the
/// default) and <c>HOSTNAME</c> the node's <c>replaycluster.node.hostname</c>.
/// </summary>
/// <remarks>
/// Pull only: the exporter reads the observable instruments when scraped, so an unscraped node does no metrics work
/// at all, and no timer wakes it. The coordinator's <c>/metrics</c> stays the cluster-wide view (every node's report,
/// summed and by node); this one is for a scraper that prefers to scrape each node.
/// </remarks>
public static partial class NodeMetricsExport
{
    /// <summary>The port setting of <paramref name="role"/>.</summary>
    public static string PortSetting(string role) => $"replaycluster.{role}.metrics.port";

    /// <summary>Adds the exporter when the role's metrics port is set; <paramref name="metrics"/> resolves the node's catalogue.</summary>
    public static IServiceCollection AddNodeMetricsExport(this IServiceCollection services, NodeSettings node, Config config, Func<IServiceProvider, NodeMetrics> metrics)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(config);
        var section = new SettingsSection(config, $"replaycluster.{node.Role}.metrics");
        var port = section.Has("port") ? section.Port("port", zeroMeans: "off") : 0;
        if (port > 0)
        {
            services.AddHostedService(provider => new Exporter(metrics(provider), node.Hostname, port, provider.GetRequiredService<ILogger<NodeMetrics>>()));
        }

        return services;
    }

    /// <summary>Starts serving <paramref name="metrics"/> at <c>http://<paramref name="host"/>:<paramref name="port"/>/metrics</c>; dispose to stop.</summary>
    public static MeterProvider Start(NodeMetrics metrics, string host, int port)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        return Sdk.CreateMeterProviderBuilder()
            .AddMeter(metrics.Meter.Name)
            .AddPrometheusHttpListener(options =>
            {
                options.Host = host;
                options.Port = port;
                options.ScrapeEndpointPath = "/metrics";
            })
            .Build();
    }

    [LoggerMessage(EventId = 950, Level = LogLevel.Information, Message = "Prometheus metrics of this node on http://{Host}:{Port}/metrics")]
    private static partial void Serving(ILogger logger, string host, int port);

    private sealed class Exporter(NodeMetrics metrics, string host, int port, ILogger logger) : IHostedService
    {
        private MeterProvider? _provider;

        public Task StartAsync(CancellationToken cancellationToken)
        {
            _provider = Start(metrics, host, port);
            Serving(logger, host, port);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken)
        {
            _provider?.Dispose();
            return Task.CompletedTask;
        }
    }
}
