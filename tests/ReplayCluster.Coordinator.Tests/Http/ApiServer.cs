using System.Net;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging.Abstractions;
using ReplayCluster.Coordinator.Http;

namespace ReplayCluster.Coordinator.Tests.Http;

/// <summary>
/// The coordinator's HTTP API on real Kestrel, on a free loopback port, with its token in a temporary folder: what the
/// coordinator runs, minus the cluster (the actors are the test's).
/// </summary>
internal sealed class ApiServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ApiServer(WebApplication app, string folder, string tokenFile, HttpRefusals refusals)
    {
        _app = app;
        Folder = folder;
        TokenFile = tokenFile;
        Refusals = refusals;
        BaseAddress = HttpApi.BoundAddress(app);
        Token = File.ReadAllText(tokenFile).Trim();
    }

    public Uri BaseAddress { get; }

    public string Folder { get; }

    public string TokenFile { get; }

    public string Token { get; }

    public HttpRefusals Refusals { get; }

    public static async Task<ApiServer> StartAsync(IActorRef aggregator, IActorRef planKeeper, Func<HttpApiSettings, HttpApiSettings>? configure = null,
        X509Certificate2? certificate = null)
    {
        var folder = Directory.CreateTempSubdirectory("replaycluster-http-test-").FullName;
        var settings = new HttpApiSettings { Address = IPAddress.Loopback, Port = 0, TokenFile = Path.Combine(folder, "api-token") };
        settings = configure?.Invoke(settings) ?? settings;
        var refusals = new HttpRefusals(NullLogger.Instance, TimeProvider.System);
        var app = HttpApi.Build(settings, ApiToken.LoadOrCreate(settings.TokenFile), refusals, certificate, aggregator, planKeeper);
        await app.StartAsync(TestContext.Current.CancellationToken);
        return new ApiServer(app, folder, settings.TokenFile, refusals);
    }

    /// <summary>A client of this server; with <paramref name="token"/> it sends that bearer token on every request.</summary>
    public HttpClient Client(string? token = null)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
        Directory.Delete(Folder, recursive: true);
    }
}
