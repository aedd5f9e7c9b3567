using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Microsoft.Extensions.Logging;
using ReplayCluster.Configuration;

namespace ReplayCluster.Cluster;

/// <summary>
/// Watches this node's cluster membership: reports the join (or, at an interval, that the node still
/// cannot reach its seeds while Akka keeps retrying) and logs every member change. With cluster TLS it
/// also downs a member that claims a node role its certificate does not carry.
/// </summary>
/// <remarks>
/// A node's roles are its own configuration; only the certificate is the cluster CA's word. A joining node
/// shakes hands with the seed it joins through, so the seed (and every node it connected to) knows the
/// certified role of that host and downs a member whose claimed role differs. A node that has no
/// certificate on record for a member's host (gossip told it of a member it never spoke to) judges nothing.
/// </remarks>
internal sealed class ClusterMembershipMonitor : ReceiveActor, IWithTimers
{
    private const string JoinWarningTimer = "join-warning";

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
        _certified = CertifiedPeers.Of(Context.System);

        Receive<ClusterEvent.MemberJoined>(e => DownIfNotCertified(e.Member));
        Receive<ClusterEvent.MemberUp>(e => OnUp(e.Member));
        Receive<ClusterEvent.MemberWeaklyUp>(e => OnUp(e.Member));
        Receive<ClusterEvent.MemberLeft>(e => ClusterLog.MemberLeaving(_logger, e.Member.Address.ToString(), Roles(e.Member)));
        Receive<ClusterEvent.MemberRemoved>(e => OnRemoved(e));
        Receive<ClusterEvent.UnreachableMember>(e => ClusterLog.MemberUnreachable(_logger, e.Member.Address.ToString(), Roles(e.Member)));
        Receive<ClusterEvent.ReachableMember>(e => ClusterLog.MemberReachable(_logger, e.Member.Address.ToString(), Roles(e.Member)));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<JoinWarningTick>(_ => OnJoinWarningTick());
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart()
    {
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));
        Timers.StartPeriodicTimer(JoinWarningTimer, JoinWarningTick.Instance, _settings.JoinWarningInterval);
    }

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private void DownIfNotCertified(Member member)
    {
        if (_certified is null || member.UniqueAddress == _cluster.SelfUniqueAddress || member.Address.Host is not { } host)
        {
            return;
        }

        var certified = _certified.RolesAt(host);
        var claimed = member.Roles.Where(r => NodeRoles.All.Contains(r, StringComparer.Ordinal)).ToList();
        if (certified.Count == 0 || claimed.All(r => certified.Contains(r, StringComparer.Ordinal)))
        {
            return;
        }

        ClusterLog.UncertifiedMemberDowned(_logger, member.Address.ToString(), string.Join(",", claimed), string.Join(",", certified));
        _cluster.Down(member.Address);
    }

    private void OnUp(Member member)
    {
        DownIfNotCertified(member);
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

    private sealed class JoinWarningTick
    {
        public static readonly JoinWarningTick Instance = new();
    }
}
