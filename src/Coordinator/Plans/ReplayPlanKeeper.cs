using System.Text.Json.Nodes;
using Akka.Actor;
using Microsoft.Extensions.Logging;
using ReplayCluster.Plans;

namespace ReplayCluster.Coordinator.Plans;

/// <summary>Asks for the running plan (answer: <see cref="CurrentPlan"/>).</summary>
internal sealed class GetReplayPlan
{
    public static readonly GetReplayPlan Instance = new();
}

/// <summary>
/// Changes the plan: <paramref name="Change"/> is a JSON merge patch of the running plan, or the whole
/// new plan when <paramref name="Replace"/> (answer: <see cref="CurrentPlan"/> or <see cref="PlanRefused"/>).
/// </summary>
internal sealed record ChangeReplayPlan(JsonObject Change, bool Replace);

/// <summary>The running plan, its version, and how many capture nodes follow it.</summary>
internal sealed record CurrentPlan(long Version, ReplayPlan Plan, int CaptureNodes);

/// <summary>A change was refused; the running plan is unchanged.</summary>
internal sealed record PlanRefused(PlanError Error, long RunningVersion);

/// <summary>The identity part of an accepted plan, for the slice allocator.</summary>
internal sealed record IdentityRangeChanged(string? Range, int SlicePrefix);

/// <summary>
/// Holds the replay plan: validates every change against the running plan, and pushes the plan to
/// each capture node when it subscribes and on every accepted change. The rate cap is shared evenly
/// by the capture nodes, so a node joining or leaving changes every node's share.
/// </summary>
internal sealed class ReplayPlanKeeper : ReceiveActor
{
    private readonly HashSet<IActorRef> _subscribers = [];
    private readonly IActorRef _slices;
    private readonly ILogger _logger;
    private ReplayPlan _plan;
    private long _version = 1;

    // Whether the plan was changed here since start; until then a capture node's newer plan wins.
    private bool _changedHere;

    public ReplayPlanKeeper(ReplayPlan initial, IActorRef slices, ILogger logger)
    {
        _plan = initial;
        _slices = slices;
        _logger = logger;
        Receive<SubscribeReplayPlan>(subscribe =>
        {
            AdoptAfterRestart(subscribe);
            if (_subscribers.Add(Sender))
            {
                Context.Watch(Sender);
                CoordinatorLog.PlanSubscribed(_logger, Sender.Path.Address.ToString(), _subscribers.Count);
            }

            // Every node's share of a rate cap changes with the number of nodes; without one, only the newcomer needs the plan.
            if (_plan.RateCap is null)
            {
                Sender.Tell(Assignment());
            }
            else
            {
                PushToAll();
            }
        });
        Receive<Terminated>(t =>
        {
            if (_subscribers.Remove(t.ActorRef) && _plan.RateCap is not null)
            {
                PushToAll();
            }
        });
        Receive<GetReplayPlan>(_ => Sender.Tell(Current()));
        Receive<ChangeReplayPlan>(OnChange);
    }

    public static Props Props(ReplayPlan initial, IActorRef slices, ILogger logger) =>
        Akka.Actor.Props.Create(() => new ReplayPlanKeeper(initial, slices, logger));

    protected override void PreStart() => CoordinatorLog.PlanAccepted(_logger, _version, ReplayPlanJson.Serialize(_plan));

    private void OnChange(ChangeReplayPlan change)
    {
        var candidate = change.Replace
            ? ReplayPlanJson.Deserialize(change.Change.ToJsonString(), out var error)
            : ReplayPlanJson.Patch(_plan, change.Change, out error);
        error ??= ReplayPlanValidator.Validate(candidate!, _plan);
        if (error is not null)
        {
            CoordinatorLog.PlanRefused(_logger, _version, error.ToString());
            Sender.Tell(new PlanRefused(error, _version));
            return;
        }

        _changedHere = true;
        Accept(candidate!, _version + 1);
        Sender.Tell(Current());
    }

    // A restarted coordinator starts from its configured plan, while the capture nodes still follow
    // the one changed through the API: the newest of theirs is the plan of the running cluster.
    private void AdoptAfterRestart(SubscribeReplayPlan subscribe)
    {
        if (_changedHere || subscribe.KnownPlan is not { } known || subscribe.KnownVersion <= _version
            || ReplayPlanValidator.Validate(known) is not null)
        {
            return;
        }

        Accept(known, subscribe.KnownVersion);
    }

    private void Accept(ReplayPlan plan, long version)
    {
        var previous = _plan;
        _plan = plan;
        _version = version;
        CoordinatorLog.PlanAccepted(_logger, _version, ReplayPlanJson.Serialize(_plan));
        if (previous.FakeClientRange != _plan.FakeClientRange || previous.SlicePrefix != _plan.SlicePrefix)
        {
            _slices.Tell(new IdentityRangeChanged(_plan.FakeClientRange, _plan.SlicePrefix ?? ReplayPlanValidator.DefaultSlicePrefix));
        }

        PushToAll();
    }

    private ReplayPlanAssigned Assignment()
    {
        double? share = _plan.RateCap is { } cap && _subscribers.Count > 0 ? cap / _subscribers.Count : null;
        return new ReplayPlanAssigned(_version, _plan, share);
    }

    private void PushToAll()
    {
        var assigned = Assignment();
        foreach (var subscriber in _subscribers)
        {
            subscriber.Tell(assigned);
        }
    }

    private CurrentPlan Current() => new(_version, _plan, _subscribers.Count);
}
