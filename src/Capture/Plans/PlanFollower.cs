using Akka.Actor;
using Akka.Cluster;
using Microsoft.Extensions.Logging;
using ReplayCluster.Capture.Admission;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Cluster;
using ReplayCluster.Configuration;
using ReplayCluster.Membership;
using ReplayCluster.Plans;

namespace ReplayCluster.Capture.Plans;

/// <summary>
/// Follows the coordinator's replay plan: subscribes whenever a coordinator joins (saying which version
/// it follows, so a restarted coordinator learns of a plan changed at run time), applies every plan it
/// accepts to <see cref="PlanInEffect"/> and the rate cap, and settles readiness. Without an answer within
/// five seconds the node goes on with its own settings (and waits if it has no targets of its own), and
/// asks again while it follows no plan.
/// </summary>
/// <remarks>
/// A plan is accepted only from a member with the coordinator role, only with a version above the one in
/// effect (the same version again may only carry a new rate-cap share), only when it passes the plan's
/// validation again here, and only when this node's own rules allow every target (<see cref="NodePlanPolicy"/>).
/// Anything else is refused, counted and logged, and changes nothing.
/// </remarks>
internal sealed class PlanFollower : ReceiveActor, IWithTimers
{
    private const string Message = "replay plan";
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(5);

    private readonly CaptureNodeSettings _settings;
    private readonly PlanInEffect _plan;
    private readonly AdmissionLimits _limits;
    private readonly CaptureNodeStatistics _statistics;
    private readonly CaptureReadiness _readiness;
    private readonly NodePlanPolicy _policy;
    private readonly ClusterSenders _senders;
    private readonly MessageRefusals _refusals;
    private readonly ILogger _logger;
    private bool _toldUnanswered;

    public PlanFollower(CaptureNodeSettings settings, PlanInEffect plan, AdmissionLimits limits, CaptureNodeStatistics statistics,
        CaptureReadiness readiness, ILogger logger, NodePlanPolicy? policy = null, ClusterSenders? senders = null, MessageRefusals? refusals = null)
    {
        _settings = settings;
        _plan = plan;
        _limits = limits;
        _statistics = statistics;
        _readiness = readiness;
        _logger = logger;
        _policy = policy ?? new NodePlanPolicy(settings);
        _senders = senders ?? ClusterSenders.Of(Context.System);
        _refusals = refusals ?? statistics.Refusals;

        // With its own targets (-x) the node can replay before any plan arrives; without, it waits.
        _readiness.SetPlanSettled(plan.Current.Targets is not null);
        Receive<ClusterEvent.MemberUp>(e => OnMemberUp(e.Member));
        Receive<ReplayPlanAssigned>(OnAssigned);
        Receive<AnswerOverdue>(_ => OnAnswerOverdue());
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(CaptureNodeSettings settings, PlanInEffect plan, AdmissionLimits limits, CaptureNodeStatistics statistics,
        CaptureReadiness readiness, ILogger logger, NodePlanPolicy? policy = null, ClusterSenders? senders = null) =>
        Akka.Actor.Props.Create(() => new PlanFollower(settings, plan, limits, statistics, readiness, logger, policy, senders, null));

    protected override void PreStart() =>
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.MemberUp));

    protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);

    private void OnMemberUp(Member member)
    {
        if (!member.HasRole(NodeRoles.Coordinator))
        {
            return;
        }

        // Also after a coordinator restart: it learns the plan we follow, in case it was changed at run time.
        Subscribe(member.Address);
        if (_plan.Current.Version == 0)
        {
            _readiness.SetPlanSettled(false);
            Timers.StartSingleTimer("answer", AnswerOverdue.Instance, AnswerTimeout);
        }
    }

    private void Subscribe(Address coordinator)
    {
        var current = _plan.Current;
        Context.ActorSelection(new RootActorPath(coordinator) / "user" / ActorNames.ReplayPlan)
            .Tell(new SubscribeReplayPlan(current.Version, current.Plan));
    }

    private void OnAnswerOverdue()
    {
        if (!_toldUnanswered)
        {
            CaptureLog.PlanUnanswered(_logger, _plan.Current.Targets is null ? "waiting on: this node has no -x of its own" : "replaying with this node's own settings");
            _toldUnanswered = true;
        }

        _readiness.SetPlanSettled(_plan.Current.Targets is not null);
        if (_plan.Current.Version != 0)
        {
            return;
        }

        // Still no plan (a coordinator that saw us before we were a member refused us, or its answer was lost): ask again.
        foreach (var coordinator in Akka.Cluster.Cluster.Get(Context.System).State.Members
            .Where(m => m.Status == MemberStatus.Up && m.HasRole(NodeRoles.Coordinator)))
        {
            Subscribe(coordinator.Address);
        }

        Timers.StartSingleTimer("answer", AnswerOverdue.Instance, AnswerTimeout);
    }

    private void OnAssigned(ReplayPlanAssigned assigned)
    {
        var verdict = _senders.Check(Sender, NodeRoles.Coordinator);
        if (verdict != SenderVerdict.Accepted)
        {
            Refuse(assigned, ClusterSenders.Reason(verdict), "plans come from the coordinator only");
            return;
        }

        var current = _plan.Current;
        if (assigned.Version is <= 0 or > ReplayPlanValidator.MaxVersion)
        {
            Refuse(assigned, RefusalReasons.StaleVersion, $"version {assigned.Version} is out of range (1 to {ReplayPlanValidator.MaxVersion})");
            return;
        }

        if (assigned.RateCapShare is { } share && (!double.IsFinite(share) || share <= 0 || assigned.Plan.RateCap is not { } cap || share > cap))
        {
            Refuse(assigned, RefusalReasons.InvalidPlan, $"rate-cap share {share} is not a part of the plan's rate cap");
            return;
        }

        if (assigned.Version <= current.Version)
        {
            OnSameOrOlder(assigned, current);
            return;
        }

        if (ReplayPlanValidator.Validate(assigned.Plan, running: null, _policy.Rules) is { } invalid)
        {
            Refuse(assigned, RefusalReasons.InvalidPlan, invalid.ToString());
            return;
        }

        AppliedPlan applied;
        try
        {
            applied = AppliedPlan.Apply(_settings, assigned);
        }
        catch (NodeConfigurationException ex)
        {
            // The coordinator validated it; a node of another version might still read it differently.
            CaptureLog.PlanUnusable(_logger, assigned.Version, ex.Message);
            Refuse(assigned, RefusalReasons.InvalidPlan, ex.Message);
            return;
        }

        if (applied.Targets is { } targets && _policy.WhyNotAllowed(targets) is { } notAllowed)
        {
            Refuse(assigned, RefusalReasons.NotAllowed, notAllowed);
            return;
        }

        Timers.Cancel("answer");
        _limits.SetRate(applied.RateCap);
        _plan.Set(applied);
        _statistics.PlanVersion = applied.Version;
        _readiness.SetPlanSettled(applied.Targets is not null);
        CaptureLog.PlanApplied(_logger, applied.Version, applied.Copies, applied.SamplePercent,
            applied.RateCap is { } rate ? $"{rate:F1}/s" : "none", applied.Filter ?? "(no targets)");
    }

    // The coordinator sends the plan in effect again when capture nodes join or leave (their rate-cap share
    // changes); anything else at or below our version is stale: versions only grow.
    private void OnSameOrOlder(ReplayPlanAssigned assigned, AppliedPlan current)
    {
        if (assigned.Version == current.Version && current.Plan is { } plan
            && ReplayPlanJson.Serialize(plan) == ReplayPlanJson.Serialize(assigned.Plan))
        {
            if (assigned.RateCapShare != current.RateCap)
            {
                var reshared = current with { RateCap = assigned.RateCapShare };
                _limits.SetRate(reshared.RateCap);
                _plan.Set(reshared);
            }

            return;
        }

        Refuse(assigned, RefusalReasons.StaleVersion, assigned.Version == current.Version
            ? $"version {assigned.Version} is the one in effect, with another plan"
            : $"version {assigned.Version} is older than the one in effect ({current.Version})");
    }

    private void Refuse(ReplayPlanAssigned assigned, string reason, string detail) =>
        _refusals.Refuse(_logger, $"{Message} version {assigned.Version}", Sender.Path.ToString(), reason, detail);

    private sealed class AnswerOverdue
    {
        public static readonly AnswerOverdue Instance = new();
    }
}
