using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Microsoft.Extensions.Logging;
using ReplayCluster.Configuration;

namespace ReplayCluster.Cluster;

/// <summary>
/// Watches this node's cluster membership: reports the join (or, at an interval, that the node still
/// cannot reach its seeds while Akka keeps retrying) and logs every member change. With cluster TLS the
/// coordinator also downs a member that claims a node role its certificate does not carry.
/// </summary>
/// <remarks>
/// A node's roles are its own configuration; only the certificate is the cluster CA's word, recorded per host
/// when a connection's handshake shows it. A joining node shakes hands with the seed it joins through (the
/// coordinator, as a rule), so the coordinator knows the certified roles of that host and downs a member whose
/// claimed role is not among them. Only the coordinator judges, and only after a grace: a node that shares its
/// host with another member and joined through another seed may not have connected to the coordinator yet, and
/// the record of its host would then still lack its role. A host with no record at all is not judged (a member
/// the coordinator never spoke to); its messages are refused anyway (ClusterSenders, not_certified).
/// </remarks>
internal sealed class ClusterMembershipMonitor : ReceiveActor, IWithTimers
{
    private const string JoinWarningTimer = "join-warning";

    // How long a member whose claimed role its host's certificate does not carry may take to connect here
    // before it is downed (see remarks); gossip and heartbeats connect members within a few 1-2 s rounds.
    private static readonly TimeSpan CertificateGrace = TimeSpan.FromSeconds(10);

    private readonly Akka.Cluster.Cluster _cluster;
    private readonly ILogger _logger;
    private readonly NodeSettings _settings;
    private readonly Stopwatch _sinceStart = Stopwatch.StartNew();
    private readonly CertifiedPeers? _certified;
    private bool _joined;

    public ClusterMembershipMonitor(NodeSettings settings, ILogger<ClusterMembershipMonitor> logger)
    {
        _settings = settings;
        _logger = logger;
        _cluster = Akka.Cluster.Cluster.Get(Context.System);
        _certified = _cluster.SelfRoles.Contains(NodeRoles.Coordinator) ? CertifiedPeers.Of(Context.System) : null;

        Receive<ClusterEvent.MemberJoined>(e => CheckCertified(e.Member));
        Receive<RecheckCertificate>(r => DownIfStillNotCertified(r.Member));
        Receive<ClusterEvent.MemberUp>(e => OnUp(e.Member));
        Receive<ClusterEvent.MemberWeaklyUp>(e => OnUp(e.Member));
        Receive<ClusterEvent.MemberLeft>(e => ClusterLog.MemberLeaving(_logger, e.Member.Address.ToString(), Roles(e.Member)));
        Receive<ClusterEvent.MemberRemoved>(e => OnRemoved(e));
        Receive<ClusterEvent.UnreachableMember>(e => OnUnreachable(e.Member));
        Receive<ClusterEvent.ReachableMember>(e => ClusterLog.MemberReachable(_logger, e.Member.Address.ToString(), Roles(e.Member)));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<JoinWarningTick>(_ => OnJoinWarningTick());
    }

    public ITimerScheduler Timers { get; set; } = null!;

    // A member that is leaving shuts its remoting down once it has seen itself Exiting, and may fall silent before the
    // leader removes it (on a loaded host the removal can take longer than the failure detector's pause): Akka marks it
    // unreachable and removes it anyway. That is the leave going as planned, not a fault to warn about.
    private void OnUnreachable(Member member)
    {
        if (member.Status == MemberStatus.Exiting)
        {
            ClusterLog.LeavingMemberUnreachable(_logger, member.Address.ToString(), Roles(member));
            return;
        }

        ClusterLog.MemberUnreachable(_logger, member.Address.ToString(), Roles(member));
    }

    protected override void PreStart()
    {
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));
        Timers.StartPeriodicTimer(JoinWarningTimer, JoinWarningTick.Instance, _settings.JoinWarningInterval);
    }

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private void CheckCertified(Member member)
    {
        if (Uncertified(member) is not null)
        {
            Timers.StartSingleTimer(("certificate", member.UniqueAddress), new RecheckCertificate(member.UniqueAddress), CertificateGrace);
        }
    }

    private void DownIfStillNotCertified(UniqueAddress address)
    {
        var member = _cluster.State.Members.FirstOrDefault(m => m.UniqueAddress == address);
        if (member is null || member.Status is MemberStatus.Down or MemberStatus.Removed || Uncertified(member) is not { } verdict)
        {
            return;
        }

        ClusterLog.UncertifiedMemberDowned(_logger, member.Address.ToString(), verdict.Claimed, verdict.Certified);
        _cluster.Down(member.Address);
    }

    // The member's claimed roles and its host's certified ones when a claimed role is not certified; null otherwise.
    private (string Claimed, string Certified)? Uncertified(Member member)
    {
        if (_certified is null || member.UniqueAddress == _cluster.SelfUniqueAddress || member.Address.Host is not { } host)
        {
            return null;
        }

        var certified = _certified.RolesAt(host);
        var claimed = member.Roles.Where(r => NodeRoles.All.Contains(r, StringComparer.Ordinal)).ToList();
        return certified.Count == 0 || claimed.All(r => certified.Contains(r, StringComparer.Ordinal))
            ? null
            : (string.Join(",", claimed), string.Join(",", certified));
    }

    private void OnUp(Member member)
    {
        CheckCertified(member);
        ClusterLog.MemberUp(_logger, member.Address.ToString(), Roles(member));
        if (!_joined && member.UniqueAddress == _cluster.SelfUniqueAddress)
        {
            _joined = true;
            Timers.Cancel(JoinWarningTimer);
            ClusterLog.JoinedCluster(_logger, member.Address.ToString(), Roles(member), _sinceStart.ElapsedMilliseconds);
        }
    }

    private void OnRemoved(ClusterEvent.MemberRemoved removed)
    {
        ClusterLog.MemberRemoved(_logger, removed.Member.Address.ToString(), Roles(removed.Member), removed.PreviousStatus.ToString());
        if (removed.Member.UniqueAddress == _cluster.SelfUniqueAddress)
        {
            ClusterLog.LeftCluster(_logger, removed.Member.Address.ToString());
        }
    }

    private void OnJoinWarningTick()
    {
        if (_joined)
        {
            return;
        }

        ClusterLog.NotJoinedYet(_logger, (long)_sinceStart.Elapsed.TotalSeconds, string.Join(", ", _settings.Seeds),
            _cluster.SelfAddress.ToString());
    }

    private static string Roles(Member member) => string.Join(",", member.Roles.Where(r => !r.StartsWith("dc-", StringComparison.Ordinal)));

    private sealed record RecheckCertificate(UniqueAddress Member);

    private sealed class JoinWarningTick
    {
        public static readonly JoinWarningTick Instance = new();
    }
}
