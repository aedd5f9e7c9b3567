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
/// joins is first offered the node's reply channel (<see cref="ReplyChannelListener"/>).
/// </summary>
internal sealed class RouteAnnouncer : ReceiveActor, IWithTimers
{
    // Routes live 10 minutes at the intercept unless refreshed; refresh well within that.
    private static readonly TimeSpan RefreshInterval = TimeSpan.FromMinutes(2);

    private readonly InterceptDirectory _directory;
    private readonly SessionShards _shards;
    private readonly CaptureNodeStatistics _statistics;
    private readonly CaptureReadiness _readiness;
    private readonly ILogger _logger;
    private readonly ReplyChannelListener? _channel;

    public RouteAnnouncer(InterceptDirectory directory, SessionShards shards, CaptureNodeStatistics statistics, CaptureReadiness readiness, ILogger logger,
        ReplyChannelListener? channel = null)
    {
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
            _readiness.SetIntercepts(_directory.Intercepts.Count);
        });
        Receive<Refresh>(_ => _shards.TellAll(new SessionShard.AnnounceRoutes(null)));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(InterceptDirectory directory, SessionShards shards, CaptureNodeStatistics statistics, CaptureReadiness readiness, ILogger logger,
        ReplyChannelListener? channel = null) =>
        Akka.Actor.Props.Create(() => new RouteAnnouncer(directory, shards, statistics, readiness, logger, channel));

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
        _readiness.SetIntercepts(_directory.Intercepts.Count);
    }

    private sealed class Refresh
    {
        public static readonly Refresh Instance = new();
    }
}
