using System.Security.Cryptography.X509Certificates;
using Akka.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ReplayCluster.Configuration;
using ReplayCluster.Coordinator.Statistics;

namespace ReplayCluster.Coordinator.Http;

/// <summary>
/// Hosts the coordinator's HTTP API (<see cref="HttpApi"/>) when <c>http-endpoint</c> is set: reads or creates its
/// token, loads its certificate, and listens. Loopback by default: statistics say a lot about production traffic.
/// </summary>
internal sealed class StatusEndpoint(HttpApiSettings? settings, ActorRegistry registry, ILogger<StatusEndpoint> logger) : IHostedService
{
    private volatile WebApplication? _app;

    /// <summary>Null when the API listens (or none is configured), for the node's <c>/readyz</c>; else why not.</summary>
    public string? NotReadyReason => settings is null || _app is not null ? null : "HTTP API not listening yet";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (settings is null)
        {
            return;
        }

        var token = ApiToken.LoadOrCreate(settings.TokenFile);
        if (token.Created)
        {
            HttpApiLog.TokenCreated(logger, settings.TokenFile);
        }
        else
        {
            HttpApiLog.TokenRead(logger, settings.TokenFile);
        }

        var aggregator = await registry.GetAsync<StatisticsAggregator>(cancellationToken);
        var planKeeper = await registry.GetAsync<Plans.ReplayPlanKeeper>(cancellationToken);
        var diffKeeper = await registry.GetAsync<Comparison.DiffKeeper>(cancellationToken);
        var app = HttpApi.Build(settings, token, new HttpRefusals(logger, TimeProvider.System), LoadCertificate(settings), aggregator, planKeeper, diffKeeper);
        await app.StartAsync(cancellationToken);
        _app = app;
        HttpApiLog.Listening(logger, settings.Scheme, HttpApi.BoundAddress(app).Authority, settings.TokenFile);
    }

    /// <summary>The configured PEM certificate and key, or null for plain HTTP (loopback only, see <see cref="HttpApiSettings.Validate"/>).</summary>
    public static X509Certificate2? LoadCertificate(HttpApiSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.CertificateFile is null || settings.KeyFile is null)
        {
            return null;
        }

        try
        {
            return X509Certificate2.CreateFromPemFile(settings.CertificateFile, settings.KeyFile);
        }
        catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw NodeConfigurationException.ForSetting(HttpApiSettings.CertificateSetting,
                $"cannot load '{settings.CertificateFile}' with key '{settings.KeyFile}' (PEM): {ex.Message}", ex);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken);
            await _app.DisposeAsync();
        }
    }
}
