using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using ReplayCluster.Coordinator.Statistics;

namespace ReplayCluster.Coordinator.Http;

/// <summary>
/// Builds the coordinator's HTTP API on Kestrel: the dashboard at <c>/</c>, <c>/api/status</c>, <c>/metrics</c>,
/// <c>/api/run/*</c>, <c>/api/report</c> and <c>/api/plan</c>, every request through <see cref="HttpGuard"/>.
/// </summary>
internal static class HttpApi
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(3);

    public static WebApplication Build(HttpApiSettings settings, ApiToken token, HttpRefusals refusals, X509Certificate2? certificate,
        IActorRef aggregator, IActorRef planKeeper, IActorRef? diffKeeper = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = HttpApiSettings.MaxBodyBytes;
            kestrel.Listen(settings.Address, settings.Port, listen =>
            {
                if (certificate is not null)
                {
                    listen.UseHttps(certificate);
                }
            });
        });
        var app = builder.Build();
        var guard = new HttpGuard(settings, token, refusals);
        app.Use(guard.InvokeAsync);

        var dashboard = Dashboard.Load();
        app.MapGet(HttpGuard.DashboardPath, (HttpContext context) =>
        {
            context.Response.Headers.ContentSecurityPolicy = dashboard.ContentSecurityPolicy;
            return Results.Content(dashboard.Html, "text/html; charset=utf-8");
        });
        app.MapGet("/api/status", async () =>
        {
            var statistics = await aggregator.Ask<ClusterStatistics>(GetClusterStatistics.Instance, AskTimeout);
            var json = JsonSerializer.SerializeToNode(statistics, JsonSerializerOptions.Web)!.AsObject();
            json["httpRefusals"] = refusals.ToJson();
            return Results.Text(json.ToJsonString(), "application/json");
        });
        app.MapGet("/metrics", async () =>
        {
            var text = new StringBuilder(PrometheusText.Render(await aggregator.Ask<ClusterStatistics>(GetClusterStatistics.Instance, AskTimeout)));
            refusals.AppendPrometheus(text);
            if (diffKeeper is not null)
            {
                Comparison.DiffRoutes.AppendPrometheus(text, await Comparison.DiffRoutes.AskAsync(diffKeeper, planKeeper));
            }

            return Results.Text(text.ToString(), PrometheusText.ContentType);
        });
        app.MapPost("/api/run/start", async (HttpRequest request) =>
        {
            // A run without a duration of its own lasts as long as the replay plan says (runDuration).
            var plan = await planKeeper.Ask<Plans.CurrentPlan>(Plans.GetReplayPlan.Instance, AskTimeout);
            if (!RunDurationParser.TryParse(request.Query.TryGetValue("duration", out var text) ? text.ToString() : null, plan.Plan.RunDuration, out var duration, out var error))
            {
                return Results.BadRequest(new { error });
            }

            diffKeeper?.Tell(Comparison.StartDiffRun.Instance); // the comparison report is per run too
            return RunResult(await aggregator.Ask<object>(new StartRun(duration), AskTimeout));
        });
        app.MapPost("/api/run/stop", async () => RunResult(await aggregator.Ask<object>(StopRun.Instance, AskTimeout)));
        app.MapGet("/api/report", async (HttpRequest request) =>
        {
            var answer = await aggregator.Ask<object>(GetRunReport.Instance, AskTimeout);
            return answer is RunReport report && request.Query["format"] == "text"
                ? Results.Text(report.Summary())
                : RunResult(answer);
        });
        app.MapPlanRoutes(planKeeper, refusals);
        if (diffKeeper is not null)
        {
            Comparison.DiffRoutes.MapDiffRoutes(app, diffKeeper, planKeeper);
        }

        return app;
    }

    /// <summary>The address Kestrel listens on once started (the real port when the settings asked for 0).</summary>
    public static Uri BoundAddress(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return new Uri(app.Urls.First());
    }

    private static IResult RunResult(object answer) =>
        answer is RunReport report ? Results.Json(report) : Results.NotFound(new { error = "no run: POST /api/run/start first" });
}
