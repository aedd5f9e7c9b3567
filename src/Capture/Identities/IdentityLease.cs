using Akka.Actor;
using Akka.Cluster;
using Microsoft.Extensions.Logging;
using ReplayCluster.Capture.Plans;
using ReplayCluster.Cluster;
using ReplayCluster.Configuration;
using ReplayCluster.Membership;
using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Identities;

/// <summary>
/// Holds this node's lease on a slice of the coordinator's fake client range: asks for it whenever a
/// coordinator joins (naming the slice it held, so a restarted coordinator gives it back), checks the
/// answer, applies it to <see cref="IdentitySource"/>, and settles readiness. A node with its own range (-c),
/// or one configured to keep the real client addresses, never asks.
/// </summary>
/// <remarks>
/// Fails closed: until a slice is in use the node does not capture, and a refusal, a late answer or a slice
/// this node cannot accept leave it waiting (and asking again every few seconds), never replaying with the
/// real client addresses. A slice is accepted only from a member with the coordinator role, and only when
/// it lies inside the fake client range of the plan this node follows (a slice that arrives before that plan
/// waits for it); anything else is refused, counted and logged. A slice in use stays in use until another
/// one is accepted.
/// </remarks>
internal sealed class IdentityLease : ReceiveActor, IWithTimers
{
    private const string Message = "identity slice";
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(5);

    private readonly IdentitySource _identities;
    private readonly PlanInEffect _plan;
    private readonly NodePlanPolicy _policy;
    private readonly CaptureReadiness _readiness;
    private readonly ClusterSenders _senders;
    private readonly MessageRefusals _refusals;
    private readonly ILogger _logger;
    private readonly Action<AppliedPlan, AppliedPlan> _onPlanChanged;

    // A slice the coordinator granted that waits for a plan to check it against.
    private string? _pending;

    public IdentityLease(IdentitySource identities, PlanInEffect plan, NodePlanPolicy policy, CaptureReadiness readiness, MessageRefusals refusals,
        ILogger logger, ClusterSenders? senders = null)
    {
        _identities = identities;
        _plan = plan;
        _policy = policy;
        _readiness = readiness;
        _refusals = refusals;
        _logger = logger;
        _senders = senders ?? ClusterSenders.Of(Context.System);
        var self = Self;
        _onPlanChanged = (_, _) => self.Tell(PlanChanged.Instance);
        Receive<ClusterEvent.MemberUp>(e => OnMemberUp(e.Member));
        Receive<IdentitySliceGranted>(OnGranted);
        Receive<IdentitySliceRefused>(OnRefused);
        Receive<PlanChanged>(_ => TryUsePending());
        Receive<AnswerOverdue>(_ =>
        {
            if (_identities.Mapper is null)
            {
                CaptureLog.SliceRefused(_logger, _pending is null ? "no answer from the coordinator" : $"slice {_pending} waits for a plan with a fake client range");
            }

            AskAgain();
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IdentitySource identities, PlanInEffect plan, NodePlanPolicy policy, CaptureReadiness readiness, MessageRefusals refusals,
        ILogger logger, ClusterSenders? senders = null) =>
        Akka.Actor.Props.Create(() => new IdentityLease(identities, plan, policy, readiness, refusals, logger, senders));

    protected override void PreStart()
    {
        _plan.Changed += _onPlanChanged;
        _readiness.SetIdentitiesSettled(_identities.Mapper is not null);
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.MemberUp));
    }

    protected override void PostStop()
    {
        _plan.Changed -= _onPlanChanged;
        Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
    }

    private void OnMemberUp(Member member)
    {
        if (!member.HasRole(NodeRoles.Coordinator))
        {
            return;
        }

        // Also after a coordinator restart: it gets our slice back as the preferred one.
        Ask(member.Address);
        Timers.StartSingleTimer("answer", AnswerOverdue.Instance, AnswerTimeout);
    }

    private void Ask(Address coordinator) =>
        Context.ActorSelection(new RootActorPath(coordinator) / "user" / ActorNames.IdentitySlices)
            .Tell(new RequestIdentitySlice(_identities.Slice));

    // Without a slice in use, ask every coordinator again in a while; with one, nothing is missing.
    private void AskAgain()
    {
        if (_identities.Mapper is not null)
        {
            return;
        }

        foreach (var coordinator in Akka.Cluster.Cluster.Get(Context.System).State.Members
            .Where(m => m.Status == MemberStatus.Up && m.HasRole(NodeRoles.Coordinator)))
        {
            Ask(coordinator.Address);
        }

        Timers.StartSingleTimer("answer", AnswerOverdue.Instance, AnswerTimeout);
    }

    private void OnGranted(IdentitySliceGranted granted)
    {
        var verdict = _senders.Check(Sender, NodeRoles.Coordinator);
        if (verdict != SenderVerdict.Accepted)
        {
            _refusals.Refuse(_logger, $"{Message} {granted.Range}", Sender.Path.ToString(), ClusterSenders.Reason(verdict), "slices come from the coordinator only");
            return;
        }

        Timers.Cancel("answer");
        _pending = granted.Range;
        TryUsePending();
    }

    private void OnRefused(IdentitySliceRefused refused)
    {
        var verdict = _senders.Check(Sender, NodeRoles.Coordinator);
        if (verdict != SenderVerdict.Accepted)
        {
            _refusals.Refuse(_logger, "identity slice refusal", Sender.Path.ToString(), ClusterSenders.Reason(verdict), "slices come from the coordinator only");
            return;
        }

        Timers.Cancel("answer");
        if (_identities.Mapper is null)
        {
            CaptureLog.SliceRefused(_logger, refused.Reason);
            Timers.StartSingleTimer("answer", AnswerOverdue.Instance, AnswerTimeout);
        }
    }

    private void TryUsePending()
    {
        if (_pending is not { } slice)
        {
            return;
        }

        if (_plan.Current.Plan?.FakeClientRange is not { } range)
        {
            // The plan (and its range) travels apart from the slice; the slice waits for it (and says so while it waits).
            if (_identities.Mapper is null)
            {
                Timers.StartSingleTimer("answer", AnswerOverdue.Instance, AnswerTimeout);
            }

            return;
        }

        _pending = null;
        if (_policy.WhyNotSlice(slice, range) is { } problem)
        {
            _refusals.Refuse(_logger, $"{Message} {slice}", "the coordinator", RefusalReasons.BadSlice, problem);
            Timers.StartSingleTimer("answer", AnswerOverdue.Instance, AnswerTimeout);
            return;
        }

        if (slice != _identities.Slice)
        {
            // Sessions already running keep their identities; new ones draw from the slice.
            _identities.UseSlice(slice);
        }

        CaptureLog.SliceGranted(_logger, slice);
        _readiness.SetIdentitiesSettled(true);
    }

    private sealed class AnswerOverdue
    {
        public static readonly AnswerOverdue Instance = new();
    }

    private sealed class PlanChanged
    {
        public static readonly PlanChanged Instance = new();
    }
}
