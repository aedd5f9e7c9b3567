using Akka.Actor;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ReplayCluster.Cluster;
using ReplayCluster.Configuration;

namespace ReplayCluster.Tests.TestSupport;

/// <summary>A whole cluster node (generic host + actor system) in the test process, on loopback.</summary>
internal sealed class InProcessNode : IAsyncDisposable
{
    private readonly IHost _host;

    private InProcessNode(IHost host, CollectingLoggerProvider logs)
    {
        _host = host;
        Logs = logs;
    }

    public CollectingLoggerProvider Logs { get; }

    public ActorSystem System => _host.Services.GetRequiredService<ActorSystem>();

    public Akka.Cluster.Cluster Cluster => Akka.Cluster.Cluster.Get(System);

    /// <summary>
    /// Starts a node; unless <paramref name="overrides"/> say something about <c>replaycluster.cluster.tls</c>, it runs
    /// mutual TLS with a certificate of <see cref="TestCertificateAuthority.Shared"/>, as nodes do by default.
    /// </summary>
    public static async Task<InProcessNode> StartAsync(string role, NodeConfigOverrides overrides)
    {
        var tls = overrides.Sets.Any(s => s.StartsWith("replaycluster.cluster.tls", StringComparison.Ordinal))
            ? []
            : TestCertificateAuthority.Shared.TlsSets(role);
        var node = NodeConfigLoader.Load(role, overrides with { Hostname = "127.0.0.1", Sets = [.. tls, .. overrides.Sets] });
        var logs = new CollectingLoggerProvider();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.AddProvider(logs);
        builder.Services.AddReplayClusterNode(node);
        var host = builder.Build();
        await host.StartAsync();
        return new InProcessNode(host, logs);
    }

    public Task StopAsync() => _host.StopAsync();

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}
