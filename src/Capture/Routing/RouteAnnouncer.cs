using Akka.Actor;
using Akka.Cluster;
using Microsoft.Extensions.Logging;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Configuration;

namespace ReplayCluster.Capture.Routing;

/// <summary>
/// Keeps the intercept nodes informed of which sessions are ours. It follows intercept membership (the
/// <see cref="InterceptDirectory"/> every shard sends its new claims to), has every shard announce all its
/// live sessions to an intercept that joins, and refreshes every route well within the intercepts' route
/// lifetime. Claims of new sessions travel from the shards directly, batched per shard turn. An intercept that
/// joins is first offered the node's reply channel (<see cref="ReplyChannelListener"/>), and counts for the node's
/// readiness once it accepted the node (<see cref="CaptureReadiness"/>).
/// </summary>
internal sealed class RouteAnnouncer : ReceiveActor, IWithTimers
{
    // Routes live 10 minutes at the intercept unless refreshed; refresh well within that.
    private static readonly TimeSpan RefreshInterval = TimeSpan.FromMinutes(2);

    // An intercept accepts this node once gossip has shown it the node as a member (until then it holds the node's
    // claims and offer, ReplyRouter.MemberWait), and it then connects the offered reply channel: the first connection
    // is the acceptance. Capture waits for it because a load that starts at once was held otherwise: in the lab's
    // third-node test one of two fresh capture nodes had its target rate at 136-142/s instead of ~280/s for the
    // load's first 3 s, then a burst of 554/s (gossip rounds are 2 s, hocon/common.hocon). An intercept that connects
    // no channel (the channel off on either side, or blocked between the hosts) is counted after this long, and
    // replies then travel by remoting.
    internal static readonly TimeSpan AcceptWait = TimeSpan.FromSeconds(5);

    private readonly InterceptDirectory _directory;
    private readonly SessionShards _shards;
    private readonly CaptureNodeStatistics _statistics;
    private readonly CaptureReadiness _readiness;
    private readonly ILogger _logger;
    private readonly ReplyChannelListener? _channel;
    private readonly HashSet<Address> _accepted = [];
    private readonly TimeSpan _acceptWait;

    public RouteAnnouncer(InterceptDirectory directory, SessionShards shards, CaptureNodeStatistics statistics, CaptureReadiness readiness, ILogger logger,
        ReplyChannelListener? channel = null, TimeSpan? acceptWait = null)
    {
        _acceptWait = acceptWait ?? AcceptWait;
        _channel = channel;
        _statistics = statistics;
        _directory = directory;
        _shards = shards;
        _readiness = readiness;
        _logger = logger;
        Receive<ClusterEvent.MemberUp>(e => OnMemberUp(e.Member));
        Receive<ClusterEvent.MemberRemoved>(e =>
        {
            _directory.Remove(e.Member.Address);
            _channel?.Forget(e.Member.Address);
            _accepted.Remove(e.Member.Address);
            Timers.Cancel(AcceptTimer(e.Member.Address));
            UpdateReadiness();
        });
        Receive<InterceptAccepted>(m => Accept(m.Intercept, waitedOut: false));
        Receive<AcceptWaitOver>(m => Accept(m.Intercept, waitedOut: true));
        Receive<Refresh>(_ => _shards.TellAll(new SessionShard.AnnounceRoutes(null)));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(InterceptDirectory directory, SessionShards shards, CaptureNodeStatistics statistics, CaptureReadiness readiness, ILogger logger,
        ReplyChannelListener? channel = null, TimeSpan? acceptWait = null) =>
        Akka.Actor.Props.Create(() => new RouteAnnouncer(directory, shards, statistics, readiness, logger, channel, acceptWait));

    protected override void PreStart()
    {
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.MemberUp), typeof(ClusterEvent.MemberRemoved));
        Timers.StartPeriodicTimer("refresh", Refresh.Instance, RefreshInterval);
    }

    protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);

    private void OnMemberUp(Member member)
    {
        if (!member.HasRole(NodeRoles.Intercept) || !_directory.Add(member.Address))
        {
            return;
        }

        // The directory first: a shard's claim flushed after this reaches the new intercept, and this
        // announcement covers every session started before it.
        CaptureLog.InterceptJoined(_logger, member.Address.ToString(), (int)_statistics.LiveSessions);

        // The reply channel before the routes, so the intercept can send the announced sessions' replies through it.
        if (_channel is not null)
        {
            Context.ActorSelection(new RootActorPath(member.Address) / "user" / ReplayCluster.Cluster.ActorNames.ReplyRouter).Tell(_channel.Offer(member.Address));
        }

        _shards.TellAll(new SessionShard.AnnounceRoutes(member.Address));
        Timers.StartSingleTimer(AcceptTimer(member.Address), new AcceptWaitOver(member.Address), _acceptWait);
        UpdateReadiness();
    }

    private void Accept(Address intercept, bool waitedOut)
    {
        if (!_directory.Intercepts.Contains(intercept) || !_accepted.Add(intercept))
        {
            return;
        }

        Timers.Cancel(AcceptTimer(intercept));
        if (waitedOut)
        {
            CaptureLog.InterceptAcceptWaitedOut(_logger, intercept.ToString(), _acceptWait.TotalSeconds);
        }

        UpdateReadiness();
    }

    private void UpdateReadiness() => _readiness.SetIntercepts(_directory.Intercepts.Count, _accepted.Count);

    private static string AcceptTimer(Address intercept) => "accept " + intercept;

    /// <summary>The intercept at <see cref="Intercept"/> connected the reply channel: it knows this node (from the listener's thread).</summary>
    internal sealed record InterceptAccepted(Address Intercept);

    private sealed record AcceptWaitOver(Address Intercept);

    private sealed class Refresh
    {
        public static readonly Refresh Instance = new();
    }
}
