using Akka.Actor;
using Akka.Cluster;
using Microsoft.Extensions.Logging;
using ReplayCluster.Replay;

namespace ReplayCluster.Intercept.Routing;

/// <summary>
/// Sends every captured reply to the capture node that owns its session, in batches. The capture
/// thread hands records over in a <see cref="ReplyQueue"/> and wakes the router once per burst; the
/// router takes what is queued, groups it per owner and sends each owner's batch as soon as the queue
/// is empty (or the batch full). A lone reply therefore goes at once, and under load a batch holds what
/// arrived while the previous one was being sent: the batch size follows the load without a timer.
/// Order per session is kept: one router, one ordered channel per owner.
/// </summary>
internal sealed class ReplyRouter : ReceiveActor, IWithTimers
{
    // Records taken from the queue in one turn before other messages (route claims) get theirs.
    private const int MaxRecordsPerTurn = 4096;

    private const string SweepTimer = "sweep";

    private static readonly TimeSpan SweepInterval = TimeSpan.FromMilliseconds(500);

    private readonly ReplyRouteTable<IActorRef> _table;
    private readonly Dictionary<IActorRef, List<ResponseRecord>> _batches = [];
    private readonly InterceptNodeSettings _settings;
    private readonly InterceptStatistics _statistics;
    private readonly ReplyQueue _queue;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Action<IActorRef, ResponseRecord> _add;
    private int _pending;

    public ReplyRouter(InterceptNodeSettings settings, InterceptStatistics statistics, ReplyQueue queue, TimeProvider time, ILogger logger)
    {
        _settings = settings;
        _statistics = statistics;
        _queue = queue;
        _time = time;
        _logger = logger;
        _add = Add;
        _table = new ReplyRouteTable<IActorRef>(new ReplyRouteTableOptions
        {
            ParkingTime = settings.ParkingTime,
            RouteLifetime = settings.RouteLifetime,
        }, time);

        Receive<DrainReplies>(_ => OnDrain());
        Receive<RouteClaims>(OnClaims);
        Receive<Sweep>(_ => OnSweep());
        Receive<LogStatistics>(_ => InterceptLog.Statistics(_logger, _statistics.Summary()));
        Receive<ClusterEvent.MemberRemoved>(e => OnMemberRemoved(e.Member.Address));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(InterceptNodeSettings settings, InterceptStatistics statistics, ReplyQueue queue, TimeProvider time, ILogger logger) =>
        Akka.Actor.Props.Create(() => new ReplyRouter(settings, statistics, queue, time, logger));

    protected override void PreStart()
    {
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, typeof(ClusterEvent.MemberRemoved));
        Timers.StartPeriodicTimer("statistics", LogStatistics.Instance, _settings.StatisticsInterval);

        // After a restart the wake-up of the failed turn is lost while the queue still counts it as
        // sent: drain once, which re-arms it. A drain too many finds the queue empty and costs nothing.
        Self.Tell(DrainReplies.Instance);
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

        // Replies that were parked for these sessions go now, not with the next captured reply.
        FlushAll();
        UpdateGauges();
    }

    private void OnDrain()
    {
        do
        {
            var taken = 0;
            while (taken < MaxRecordsPerTurn && _queue.TryDequeue(out var record))
            {
                taken++;
                if (_table.TryRoute(record, out var owner))
                {
                    Add(owner, record);
                }
            }

            FlushAll();
            if (taken == MaxRecordsPerTurn)
            {
                // Still owning the wake-up: continue in a later turn, after the claims that queued meanwhile.
                ArmSweep();
                Self.Tell(DrainReplies.Instance);
                return;
            }
        }
        while (_queue.Rearm());

        // A reply without its route yet was parked: it expires by the sweep.
        ArmSweep();
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
        _pending++;
        if (batch.Count >= _settings.BatchSize)
        {
            Send(owner, batch);
        }
    }

    private void FlushAll()
    {
        if (_pending == 0)
        {
            return;
        }

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
        var records = batch.ToArray();
        owner.Tell(new ResponseBatch(records));
        _statistics.BatchesSent++;
        _pending -= records.Length;
        batch.Clear();

        // Capture to hand-over, this node's share of the relay latency (the capture node times the whole).
        var nowNanos = (_time.GetUtcNow().UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;
        foreach (ref readonly var record in records.AsSpan())
        {
            _statistics.HandOffLatency.RecordMicroseconds((nowNanos - record.CapturedAtNanos) / 1000);
        }
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
            _pending -= _batches[owner].Count;
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
        ArmSweep();
    }

    // The sweep runs only while there is something to expire: routes or parked replies. An idle intercept node
    // woke for it twice a second to sweep an empty table (bench/idle.sh THREADS=1: the scheduler thread woke
    // 22-27 times/s on the intercept node against 15-16 on the coordinator, 2 runs, before the settings of
    // common.hocon). A route or a parked reply only comes with a claim or a drain, and both arm it.
    private void ArmSweep()
    {
        var needed = _table.RouteCount > 0 || _table.ParkedCount > 0;
        if (needed == Timers.IsTimerActive(SweepTimer))
        {
            return;
        }

        if (needed)
        {
            Timers.StartPeriodicTimer(SweepTimer, Sweep.Instance, SweepInterval);
        }
        else
        {
            Timers.Cancel(SweepTimer);
        }
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
