using Akka.Actor;
using Akka.Cluster;
using Microsoft.Extensions.Logging;
using ReplayCluster.Replay;

namespace ReplayCluster.Intercept.Routing;

/// <summary>
/// Sends every captured reply to the capture node that owns its session, in batches: a batch goes
/// when it is full, or as soon as the router has worked through the messages already in its mailbox
/// (a flush message queued behind them), so a burst becomes few messages and a lone reply still goes
/// at once. Order per session is kept: one router, one ordered channel per owner.
/// </summary>
internal sealed class ReplyRouter : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan SweepInterval = TimeSpan.FromMilliseconds(500);

    private readonly ReplyRouteTable<IActorRef> _table;
    private readonly Dictionary<IActorRef, List<ResponseRecord>> _batches = [];
    private readonly InterceptNodeSettings _settings;
    private readonly InterceptStatistics _statistics;
    private readonly ILogger _logger;
    private readonly Action<IActorRef, ResponseRecord> _add;
    private bool _flushQueued;

    public ReplyRouter(InterceptNodeSettings settings, InterceptStatistics statistics, TimeProvider time, ILogger logger)
    {
        _settings = settings;
        _statistics = statistics;
        _logger = logger;
        _add = Add;
        _table = new ReplyRouteTable<IActorRef>(new ReplyRouteTableOptions
        {
            ParkingTime = settings.ParkingTime,
            RouteLifetime = settings.RouteLifetime,
        }, time);

        Receive<ResponseRecord>(record =>
        {
            if (_table.TryRoute(record, out var owner))
            {
                Add(owner, record);
            }
        });
        Receive<RouteClaims>(OnClaims);
        Receive<Flush>(_ => FlushAll());
        Receive<Sweep>(_ => OnSweep());
        Receive<LogStatistics>(_ => InterceptLog.Statistics(_logger, _statistics.Summary()));
        Receive<ClusterEvent.MemberRemoved>(e => OnMemberRemoved(e.Member.Address));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(InterceptNodeSettings settings, InterceptStatistics statistics, TimeProvider time, ILogger logger) =>
        Akka.Actor.Props.Create(() => new ReplyRouter(settings, statistics, time, logger));

    protected override void PreStart()
    {
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, typeof(ClusterEvent.MemberRemoved));
        Timers.StartPeriodicTimer("sweep", Sweep.Instance, SweepInterval);
        Timers.StartPeriodicTimer("statistics", LogStatistics.Instance, _settings.StatisticsInterval);
    }

    protected override void PostStop()
    {
        Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
        InterceptLog.Statistics(_logger, _statistics.Summary());
    }

    private void OnClaims(RouteClaims claims)
    {
        // Releases first: a capture node hands an identity out again only after the session that
        // held it ended, so within one message a release always belongs to an older session than a
        // claim of the same endpoints. The other order would drop the new session's route.
        foreach (var endpoints in claims.Released)
        {
            _table.Release(endpoints, claims.Owner);
        }

        foreach (var endpoints in claims.Claimed)
        {
            _table.Claim(endpoints, claims.Owner, _add);
        }

        UpdateGauges();
    }

    private void Add(IActorRef owner, ResponseRecord record)
    {
        _statistics.RepliesRouted++;
        if (!_batches.TryGetValue(owner, out var batch))
        {
            batch = new List<ResponseRecord>(_settings.BatchSize);
            _batches[owner] = batch;
        }

        batch.Add(record);
        if (batch.Count >= _settings.BatchSize)
        {
            Send(owner, batch);
        }
        else if (!_flushQueued)
        {
            _flushQueued = true;
            Self.Tell(Flush.Instance);
        }
    }

    private void FlushAll()
    {
        _flushQueued = false;
        foreach (var (owner, batch) in _batches)
        {
            if (batch.Count > 0)
            {
                Send(owner, batch);
            }
        }
    }

    private void Send(IActorRef owner, List<ResponseRecord> batch)
    {
        owner.Tell(new ResponseBatch([.. batch]));
        _statistics.BatchesSent++;
        batch.Clear();
    }

    private void OnSweep()
    {
        _table.Sweep();
        UpdateGauges();
    }

    private void OnMemberRemoved(Address address)
    {
        var routes = _table.RemoveOwners(owner => owner.Path.Address == address);
        foreach (var owner in _batches.Keys.Where(owner => owner.Path.Address == address).ToList())
        {
            _batches.Remove(owner);
        }

        if (routes > 0)
        {
            InterceptLog.OwnerLeft(_logger, address.ToString(), routes);
        }

        UpdateGauges();
    }

    private void UpdateGauges()
    {
        _statistics.Routes = _table.RouteCount;
        _statistics.Parked = _table.ParkedCount;
        _statistics.RepliesDroppedUnrouted = _table.DroppedUnrouted;
    }

    private sealed class Flush
    {
        public static readonly Flush Instance = new();
    }

    private sealed class Sweep
    {
        public static readonly Sweep Instance = new();
    }

    private sealed class LogStatistics
    {
        public static readonly LogStatistics Instance = new();
    }
}
