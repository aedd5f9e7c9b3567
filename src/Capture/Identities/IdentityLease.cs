using Akka.Actor;
using Akka.Cluster;
using Microsoft.Extensions.Logging;
using ReplayCluster.Cluster;
using ReplayCluster.Configuration;
using ReplayCluster.Replay;

namespace ReplayCluster.Capture.Identities;

/// <summary>
/// Holds this node's lease on a slice of the coordinator's fake client range: asks for it whenever a
/// coordinator joins (naming the slice it held, so a restarted coordinator gives it back), applies the
/// answer to <see cref="IdentitySource"/>, and settles readiness. A node with its own range (-c) never asks.
/// </summary>
internal sealed class IdentityLease : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(5);

    private readonly IdentitySource _identities;
    private readonly CaptureReadiness _readiness;
    private readonly ILogger _logger;

    public IdentityLease(IdentitySource identities, CaptureReadiness readiness, ILogger logger)
    {
        _identities = identities;
        _readiness = readiness;
        _logger = logger;
        Receive<ClusterEvent.MemberUp>(e => OnMemberUp(e.Member));
        Receive<IdentitySliceGranted>(OnGranted);
        Receive<IdentitySliceRefused>(r => Settle(() => CaptureLog.SliceRefused(_logger, r.Reason)));
        Receive<AnswerOverdue>(_ => Settle(() => CaptureLog.SliceRefused(_logger, "no answer from the coordinator")));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IdentitySource identities, CaptureReadiness readiness, ILogger logger) =>
        Akka.Actor.Props.Create(() => new IdentityLease(identities, readiness, logger));

    protected override void PreStart() =>
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.MemberUp));

    protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);

    private void OnMemberUp(Member member)
    {
        if (!member.HasRole(NodeRoles.Coordinator))
        {
            return;
        }

        // Also after a coordinator restart: it gets our slice back as the preferred one.
        Context.ActorSelection(new RootActorPath(member.Address) / "user" / ActorNames.IdentitySlices)
            .Tell(new RequestIdentitySlice(_identities.Slice));
        Timers.StartSingleTimer("answer", AnswerOverdue.Instance, AnswerTimeout);
    }

    private void OnGranted(IdentitySliceGranted granted)
    {
        if (granted.Range != _identities.Slice)
        {
            // Sessions already running keep their identities; new ones draw from the slice.
            _identities.UseSlice(granted.Range);
        }

        Settle(() => CaptureLog.SliceGranted(_logger, granted.Range));
    }

    private void Settle(Action log)
    {
        Timers.Cancel("answer");
        log();
        _readiness.SetIdentitiesSettled(true);
    }

    private sealed class AnswerOverdue
    {
        public static readonly AnswerOverdue Instance = new();
    }
}
