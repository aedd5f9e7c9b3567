using Akka.Actor;
using Akka.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ReplayCluster.Coordinator.Statistics;

namespace ReplayCluster.Coordinator.Http;

/// <summary>
/// The coordinator's HTTP endpoint: <c>/api/status</c> (JSON) and <c>/metrics</c> (Prometheus). Bound to
/// loopback unless configured otherwise: statistics say a lot about production traffic.
/// </summary>
internal sealed class StatusEndpoint(CoordinatorSettings settings, ActorRegistry registry, ILogger<StatusEndpoint> logger) : IHostedService
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(3);
    private WebApplication? _app;

    /// <summary>The duration of a run started without <c>?duration=</c>; null (the default) runs until stopped.</summary>
    public Func<TimeSpan?> DefaultRunDuration { get; set; } = static () => null;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (settings.HttpEndpoint is not { } endpoint)
        {
            return;
        }

        var aggregator = await registry.GetAsync<StatisticsAggregator>(cancellationToken);
        var planKeeper = await registry.GetAsync<Plans.ReplayPlanKeeper>(cancellationToken);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://{endpoint}");
        builder.Logging.ClearProviders();
        _app = builder.Build();
        var dashboard = LoadDashboard();
        _app.MapGet("/", () => Results.Content(dashboard, "text/html; charset=utf-8"));
        _app.MapGet("/api/status", async () => Results.Json(await aggregator.Ask<ClusterStatistics>(GetClusterStatistics.Instance, AskTimeout)));
        _app.MapGet("/metrics", async () =>
            Results.Text(PrometheusText.Render(await aggregator.Ask<ClusterStatistics>(GetClusterStatistics.Instance, AskTimeout)), PrometheusText.ContentType));
        _app.MapPost("/api/run/start", async (HttpRequest request) =>
            RunDurationParser.TryParse(request.Query.TryGetValue("duration", out var text) ? text.ToString() : null, DefaultRunDuration(), out var duration, out var error)
                ? RunResult(await aggregator.Ask<object>(new StartRun(duration), AskTimeout))
                : Results.BadRequest(new { error }));
        _app.MapPost("/api/run/stop", async () => RunResult(await aggregator.Ask<object>(StopRun.Instance, AskTimeout)));
        _app.MapGet("/api/report", async (HttpRequest request) =>
        {
            var answer = await aggregator.Ask<object>(GetRunReport.Instance, AskTimeout);
            return answer is RunReport report && request.Query["format"] == "text"
                ? Results.Text(report.Summary())
                : RunResult(answer);
        });
        _app.MapPlanRoutes(planKeeper);
        await _app.StartAsync(cancellationToken);
        CoordinatorLog.HttpListening(logger, endpoint);
    }

    private static string LoadDashboard()
    {
        using var stream = typeof(StatusEndpoint).Assembly.GetManifestResourceStream("dashboard.html")
            ?? throw new InvalidOperationException("dashboard.html is not embedded in the coordinator");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static IResult RunResult(object answer) =>
        answer is RunReport report ? Results.Json(report) : Results.NotFound(new { error = "no run: POST /api/run/start first" });

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken);
            await _app.DisposeAsync();
        }
    }
}
