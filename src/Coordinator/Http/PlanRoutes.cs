using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ReplayCluster.Coordinator.Plans;
using ReplayCluster.Plans;

namespace ReplayCluster.Coordinator.Http;

/// <summary>
/// <c>/api/plan</c>: GET the running plan, PATCH it with a JSON merge patch (<c>{"copies": 3}</c>;
/// null unsets a field), PUT a whole new plan. A refused change answers 400 naming the field; so does a body
/// with a key twice (parsers disagree on which one wins, so the plan shown could differ from the plan run).
/// </summary>
internal static class PlanRoutes
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(3);

    // A plan is a flat object with one list: 8 levels is far more than it needs.
    private static readonly JsonDocumentOptions Strict = new() { AllowDuplicateProperties = false, MaxDepth = 8 };

    public static void MapPlanRoutes(this WebApplication app, IActorRef keeper, HttpRefusals refusals)
    {
        app.MapGet("/api/plan", async () => Answer(await keeper.Ask<object>(GetReplayPlan.Instance, AskTimeout)));
        app.MapMethods("/api/plan", ["PATCH"], (HttpRequest request) => ChangeAsync(keeper, refusals, request.HttpContext, replace: false));
        app.MapPut("/api/plan", (HttpRequest request) => ChangeAsync(keeper, refusals, request.HttpContext, replace: true));
    }

    private static async Task<IResult> ChangeAsync(IActorRef keeper, HttpRefusals refusals, HttpContext context, bool replace)
    {
        JsonNode? body;
        try
        {
            body = await JsonNode.ParseAsync(context.Request.Body, documentOptions: Strict, cancellationToken: context.RequestAborted);
        }
        catch (JsonException ex) when (DuplicateKey(ex.Message) is { } key)
        {
            var problem = $"the body has the key '{HttpGuard.Printable(key)}' more than once; give each field once";
            refusals.Refuse(HttpRefusal.DuplicateKey, context.Request.Method, HttpGuard.Printable(context.Request.Path.Value ?? "/"), HttpGuard.RemoteOf(context), problem);
            return Answer(new PlanRefused(new PlanError("(plan)", problem), 0));
        }
        catch (JsonException ex)
        {
            return Answer(new PlanRefused(new PlanError("(plan)", $"the body is not JSON: {ex.Message}"), 0));
        }

        if (body is not JsonObject change)
        {
            return Answer(new PlanRefused(new PlanError("(plan)", "the body is a JSON object such as {\"copies\": 3}"), 0));
        }

        return Answer(await keeper.Ask<object>(new ChangeReplayPlan(change, replace), AskTimeout));
    }

    /// <summary>The key System.Text.Json names in its duplicate-property error, or null for another error.</summary>
    private static string? DuplicateKey(string message)
    {
        const string Marker = "Duplicate";
        if (!message.Contains(Marker, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var open = message.IndexOf('\'');
        var close = open >= 0 ? message.IndexOf('\'', open + 1) : -1;
        return close > open + 1 ? message[(open + 1)..close] : "(unnamed)";
    }

    private static IResult Answer(object answer) => answer switch
    {
        CurrentPlan current => Results.Text(new JsonObject
        {
            ["version"] = current.Version,
            ["captureNodes"] = current.CaptureNodes,
            ["plan"] = ReplayPlanJson.ToNode(current.Plan),
        }.ToJsonString(), "application/json"),
        PlanRefused refused => Results.Text(new JsonObject
        {
            ["error"] = refused.Error.ToString(),
            ["field"] = refused.Error.Field,
            ["problem"] = refused.Error.Problem,
            ["runningVersion"] = refused.RunningVersion,
        }.ToJsonString(), "application/json", statusCode: StatusCodes.Status400BadRequest),
        _ => Results.Problem($"unexpected answer {answer.GetType().Name}"),
    };
}
