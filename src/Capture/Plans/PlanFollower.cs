using Akka.Actor;
using Akka.Cluster;
using Microsoft.Extensions.Logging;
using ReplayCluster.Capture.Admission;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Cluster;
using ReplayCluster.Configuration;
using ReplayCluster.Plans;

namespace ReplayCluster.Capture.Plans;

/// <summary>
/// Follows the coordinator's replay plan: subscribes whenever a coordinator joins (saying which version
/// it follows, so a restarted coordinator takes back a plan changed at run time), applies every plan it is
/// sent to <see cref="PlanInEffect"/> and the rate cap, and settles readiness. Without an answer within
/// five seconds the node goes on with its own settings (and waits if it has no targets of its own).
/// </summary>
internal sealed class PlanFollower : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(5);

    private readonly CaptureNodeSettings _settings;
    private readonly PlanInEffect _plan;
    private readonly AdmissionLimits _limits;
    private readonly CaptureNodeStatistics _statistics;
    private readonly CaptureReadiness _readiness;
    private readonly ILogger _logger;

    public PlanFollower(CaptureNodeSettings settings, PlanInEffect plan, AdmissionLimits limits, CaptureNodeStatistics statistics,
        CaptureReadiness readiness, ILogger logger)
    {
        _settings = settings;
        _plan = plan;
        _limits = limits;
        _statistics = statistics;
        _readiness = readiness;
        _logger = logger;

        // With its own targets (-x) the node can replay before any plan arrives; without, it waits.
        _readiness.SetPlanSettled(plan.Current.Targets is not null);
        Receive<ClusterEvent.MemberUp>(e => OnMemberUp(e.Member));
        Receive<ReplayPlanAssigned>(OnAssigned);
        Receive<AnswerOverdue>(_ =>
        {
            CaptureLog.PlanUnanswered(_logger, _plan.Current.Targets is null ? "waiting on: this node has no -x of its own" : "replaying with this node's own settings");
            _readiness.SetPlanSettled(_plan.Current.Targets is not null);
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(CaptureNodeSettings settings, PlanInEffect plan, AdmissionLimits limits, CaptureNodeStatistics statistics,
        CaptureReadiness readiness, ILogger logger) =>
        Akka.Actor.Props.Create(() => new PlanFollower(settings, plan, limits, statistics, readiness, logger));

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
        var current = _plan.Current;
        Context.ActorSelection(new RootActorPath(member.Address) / "user" / ActorNames.ReplayPlan)
            .Tell(new SubscribeReplayPlan(current.Version, current.Plan));
        if (current.Version == 0)
        {
            _readiness.SetPlanSettled(false);
            Timers.StartSingleTimer("answer", AnswerOverdue.Instance, AnswerTimeout);
        }
    }

    private void OnAssigned(ReplayPlanAssigned assigned)
    {
        AppliedPlan applied;
        try
        {
            applied = AppliedPlan.Apply(_settings, assigned);
        }
        catch (NodeConfigurationException ex)
        {
            // The coordinator validated it; a node of another version might still read it differently.
            CaptureLog.PlanUnusable(_logger, assigned.Version, ex.Message);
            return;
        }

        Timers.Cancel("answer");
        _limits.SetRate(applied.RateCap);
        _plan.Set(applied);
        _statistics.PlanVersion = applied.Version;
        _readiness.SetPlanSettled(applied.Targets is not null);
        CaptureLog.PlanApplied(_logger, applied.Version, applied.Copies, applied.SamplePercent,
            applied.RateCap is { } cap ? $"{cap:F1}/s" : "none", applied.Filter ?? "(no targets)");
    }

    private sealed class AnswerOverdue
    {
        public static readonly AnswerOverdue Instance = new();
    }
}
