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
/// null unsets a field), PUT a whole new plan. A refused change answers 400 naming the field.
/// </summary>
internal static class PlanRoutes
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(3);

    public static void MapPlanRoutes(this WebApplication app, IActorRef keeper)
    {
        app.MapGet("/api/plan", async () => Answer(await keeper.Ask<object>(GetReplayPlan.Instance, AskTimeout)));
        app.MapMethods("/api/plan", ["PATCH"], (HttpRequest request) => ChangeAsync(keeper, request, replace: false));
        app.MapPut("/api/plan", (HttpRequest request) => ChangeAsync(keeper, request, replace: true));
    }

    private static async Task<IResult> ChangeAsync(IActorRef keeper, HttpRequest request, bool replace)
    {
        JsonNode? body;
        try
        {
            body = await JsonNode.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
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
