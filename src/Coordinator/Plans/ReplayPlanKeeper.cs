using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Cluster;
using Microsoft.Extensions.Logging;
using ReplayCluster.Configuration;
using ReplayCluster.Membership;
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
/// <remarks>
/// <para>
/// Subscriptions are taken only from members with the capture role (others are refused, counted and logged);
/// a subscriber is dropped when its node leaves the cluster (membership, not remote death watch, which
/// untrusted mode switches off).
/// </para>
/// <para>
/// A restarted coordinator starts from its configured plan while the capture nodes may follow one changed
/// at run time. It takes that plan back only when more than half of the cluster's capture nodes report the
/// same version and plan, and the plan passes validation here: one node (or one that lies) cannot impose a
/// plan on the others. Until then it sends nodes that follow a newer plan nothing they would refuse, and a
/// change through the API gets a version above every version reported, so every node follows it.
/// </para>
/// </remarks>
internal sealed class ReplayPlanKeeper : ReceiveActor
{
    // Reported versions above this are refused: honest versions grow by one per change and never get near
    // it, and the next version (checked arithmetic) stays below the capture nodes' ReplayPlanValidator.MaxVersion.
    private const long MaxReportedVersion = ReplayPlanValidator.MaxVersion / 2;

    // One subscriber per node (a node has one plan follower): more refs from one address do not dilute the rate-cap shares.
    private readonly Dictionary<Address, (IActorRef Follower, long Version, string? Plan)> _subscribers = [];
    private readonly IActorRef _slices;
    private readonly ILogger _logger;
    private readonly PlanRules _rules;
    private readonly ClusterSenders _senders;
    private readonly MessageRefusals _refusals;
    private ReplayPlan _plan;
    private long _version = 1;
    private long _highestReported;

    // Whether the plan was changed here since start; until then the capture nodes' agreed plan wins.
    private bool _changedHere;

    public ReplayPlanKeeper(ReplayPlan initial, IActorRef slices, ILogger logger, PlanRules? rules = null, ClusterSenders? senders = null,
        MessageRefusals? refusals = null)
    {
        _plan = initial;
        _slices = slices;
        _logger = logger;
        _rules = rules ?? PlanRules.Default;
        _senders = senders ?? ClusterSenders.Of(Context.System);
        _refusals = refusals ?? new MessageRefusals();
        Receive<SubscribeReplayPlan>(OnSubscribe);
        Receive<ClusterEvent.MemberRemoved>(e => OnNodeGone(e.Member.Address));
        Receive<ClusterEvent.IClusterDomainEvent>(_ => { });
        Receive<GetReplayPlan>(_ => Sender.Tell(Current()));
        Receive<ChangeReplayPlan>(OnChange);
    }

    public static Props Props(ReplayPlan initial, IActorRef slices, ILogger logger, PlanRules? rules = null, ClusterSenders? senders = null,
        MessageRefusals? refusals = null) =>
        Akka.Actor.Props.Create(() => new ReplayPlanKeeper(initial, slices, logger, rules, senders, refusals));

    protected override void PreStart()
    {
        CoordinatorLog.PlanAccepted(_logger, _version, ReplayPlanJson.Serialize(_plan));
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.MemberRemoved));
    }

    protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);

    private void OnSubscribe(SubscribeReplayPlan subscribe)
    {
        var verdict = _senders.Check(Sender, NodeRoles.Capture);
        if (verdict != SenderVerdict.Accepted)
        {
            _refusals.Refuse(_logger, "plan subscription", Sender.Path.ToString(), ClusterSenders.Reason(verdict), "only capture nodes follow the plan");
            return;
        }

        var reported = (Version: 0L, Plan: (string?)null);
        if (subscribe.KnownVersion is < 0 or > MaxReportedVersion)
        {
            _refusals.Refuse(_logger, $"plan version {subscribe.KnownVersion} reported", Sender.Path.ToString(), RefusalReasons.StaleVersion,
                $"out of range (0 to {MaxReportedVersion}); the node is served the running plan");
        }
        else if (subscribe.KnownVersion > 0 && subscribe.KnownPlan is { } known)
        {
            reported = (subscribe.KnownVersion, ReplayPlanJson.Serialize(known));
            _highestReported = Math.Max(_highestReported, subscribe.KnownVersion);
        }

        if (!_subscribers.ContainsKey(Sender.Path.Address))
        {
            CoordinatorLog.PlanSubscribed(_logger, Sender.Path.Address.ToString(), _subscribers.Count + 1);
        }

        _subscribers[Sender.Path.Address] = (Sender, reported.Version, reported.Plan);
        if (AdoptAgreedPlan())
        {
            return;
        }

        // Every node's share of a rate cap changes with the number of nodes; without one, only the newcomer needs the plan.
        if (_plan.RateCap is null)
        {
            SendTo(_subscribers[Sender.Path.Address], Assignment());
        }
        else
        {
            PushToAll();
        }
    }

    private void OnNodeGone(Address address)
    {
        if (_subscribers.Remove(address) && _plan.RateCap is not null)
        {
            PushToAll();
        }
    }

    private void OnChange(ChangeReplayPlan change)
    {
        var candidate = change.Replace
            ? ReplayPlanJson.Deserialize(change.Change.ToJsonString(), out var error)
            : ReplayPlanJson.Patch(_plan, change.Change, out error);
        error ??= ReplayPlanValidator.Validate(candidate!, _plan, _rules);
        if (error is not null)
        {
            CoordinatorLog.PlanRefused(_logger, _version, error.ToString());
            Sender.Tell(new PlanRefused(error, _version));
            return;
        }

        _changedHere = true;

        // Above every version a capture node reported, so that nodes still following a newer plan take this one.
        Accept(candidate!, checked(Math.Max(_version, _highestReported) + 1));
        Sender.Tell(Current());
    }

    // A restarted coordinator starts from its configured plan, while the capture nodes still follow the
    // one changed through the API: the newest plan that more than half of them follow is the cluster's.
    private bool AdoptAgreedPlan()
    {
        if (_changedHere)
        {
            return false;
        }

        var captureNodes = Math.Max(_senders.Count(NodeRoles.Capture), _subscribers.Count);
        var agreed = _subscribers.Values
            .Where(r => r.Version > _version && r.Plan is not null)
            .GroupBy(r => (r.Version, r.Plan))
            .Where(g => g.Count() * 2 > captureNodes)
            .Select(g => g.Key)
            .OrderByDescending(r => r.Version)
            .FirstOrDefault();
        if (agreed.Plan is null)
        {
            return false;
        }

        var plan = ReplayPlanJson.Deserialize(agreed.Plan, out var unreadable);
        if (unreadable is not null || ReplayPlanValidator.Validate(plan!, running: null, _rules) is not null)
        {
            return false;
        }

        Accept(plan!, agreed.Version);
        return true;
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
        foreach (var subscriber in _subscribers.Values)
        {
            SendTo(subscriber, assigned);
        }
    }

    // A node that follows a newer plan than ours would refuse ours (versions only grow): it keeps its plan
    // until ours is newer, and is not sent one it must count as refused.
    private static void SendTo((IActorRef Follower, long Version, string? Plan) subscriber, ReplayPlanAssigned assigned)
    {
        if (subscriber.Version > assigned.Version)
        {
            return;
        }

        subscriber.Follower.Tell(assigned);
    }

    private CurrentPlan Current() => new(_version, _plan, _subscribers.Count);
}
