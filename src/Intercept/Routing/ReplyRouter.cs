using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.Cluster;
using Microsoft.Extensions.Logging;
using ReplayCluster.Configuration;
using ReplayCluster.Membership;
using ReplayCluster.Replay;

namespace ReplayCluster.Intercept.Routing;

/// <summary>
/// Sends every captured reply to the capture node that owns its session, in batches. The capture
/// thread hands records over in a <see cref="ReplyQueue"/> and wakes the router once per burst; the
/// router takes what is queued, groups it per owner and sends each owner's batch as soon as the queue
/// is empty (or the batch full). A lone reply therefore goes at once, and under load a batch holds what
/// arrived while the previous one was being sent: the batch size follows the load without a timer.
/// Order per session is kept: one router, one ordered channel per owner.
/// A capture node that offers a reply channel (<see cref="ReplyChannelOffer"/>) gets its batches through it, written
/// from this turn straight to its shards; remoting carries them until the channel is up and again if it fails.
/// Route claims are taken only from members with the capture role, and only for an owner on the sending
/// node itself: another node cannot divert a capture node's replies (refusals counted and logged).
/// </summary>
internal sealed class ReplyRouter : ReceiveActor, IWithTimers
{
    // Records taken from the queue in one turn before other messages (route claims) get theirs.
    private const int MaxRecordsPerTurn = 4096;

    private const string SweepTimer = "sweep";

    private static readonly TimeSpan SweepInterval = TimeSpan.FromMilliseconds(500);

    // Claims from a node this intercept does not know yet wait for its membership to arrive by gossip, at most
    // this long and this many. A capture node learns of the intercept before the intercept learns of it, and
    // starts replaying at once: in the lab a capture node restarted at the same address had every claim of its
    // first second refused as not a member, and all 400 of its sessions then timed out in SYN_SENT. Gossip
    // brings a joining member within a few rounds (1 s each); a process that is not a member gets nothing by
    // waiting (with cluster TLS it cannot even connect) and is refused when the wait ends.
    private static readonly TimeSpan MemberWait = TimeSpan.FromSeconds(10);
    private const int MaxClaimsAwaitingMember = 1024;

    // A reply channel must connect and prove its key within this long; a failed one is retried this often.
    private static readonly TimeSpan ChannelConnectTimeout = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan ChannelRetryInterval = TimeSpan.FromSeconds(5);

    private readonly ReplyRouteTable<IActorRef> _table;
    private readonly Dictionary<IActorRef, List<ResponseRecord>> _batches = [];
    private readonly InterceptNodeSettings _settings;
    private readonly InterceptStatistics _statistics;
    private readonly ReplyQueue _queue;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Action<IActorRef, ResponseRecord> _add;
    private readonly ClusterSenders _senders;
    private readonly Queue<(IActorRef Sender, object Message, DateTimeOffset Since)> _awaitingMember = new();

    // Reply channels: the offers of capture nodes (kept to reconnect), the channels up, and each offered shard's index.
    private readonly Dictionary<Address, ChannelOffer> _offers = [];
    private readonly Dictionary<Address, ReplyChannel> _channels = [];
    private readonly Dictionary<IActorRef, int> _shardIndex = [];
    private int _pending;

    public ReplyRouter(InterceptNodeSettings settings, InterceptStatistics statistics, ReplyQueue queue, TimeProvider time, ILogger logger,
        ClusterSenders? senders = null)
    {
        _senders = senders ?? ClusterSenders.Of(Context.System);
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
        Receive<RouteClaims>(claims => OnClaims(Sender, claims));
        Receive<ReplyChannelOffer>(offer => OnClaims(Sender, offer));
        Receive<ChannelOpened>(OnChannelOpened);
        Receive<ChannelFailed>(OnChannelFailed);
        Receive<Sweep>(_ => OnSweep());
        Receive<LogStatistics>(_ => InterceptLog.Statistics(_logger, _statistics.Summary()));
        Receive<ClusterEvent.MemberRemoved>(e => OnMemberRemoved(e.Member.Address));
        Receive<ClusterEvent.IMemberEvent>(_ => RetryAwaitingMember(expireBefore: null));
        Receive<ClusterEvent.CurrentClusterState>(_ => { });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(InterceptNodeSettings settings, InterceptStatistics statistics, ReplyQueue queue, TimeProvider time, ILogger logger,
        ClusterSenders? senders = null) =>
        Akka.Actor.Props.Create(() => new ReplyRouter(settings, statistics, queue, time, logger, senders));

    protected override void PreStart()
    {
        // Joins too: route claims that came before their node's membership wait for it.
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, typeof(ClusterEvent.IMemberEvent));
        Timers.StartPeriodicTimer("statistics", LogStatistics.Instance, _settings.StatisticsInterval);

        // After a restart the wake-up of the failed turn is lost while the queue still counts it as
        // sent: drain once, which re-arms it. A drain too many finds the queue empty and costs nothing.
        Self.Tell(DrainReplies.Instance);
    }

    protected override void PostStop()
    {
        foreach (var channel in _channels.Values)
        {
            channel.Dispose();
        }

        Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
        InterceptLog.Statistics(_logger, _statistics.Summary());
    }

    // Route claims and channel offers: both only from capture members, both wait for a node's membership.
    private void OnClaims(IActorRef sender, object claims)
    {
        var verdict = _senders.Check(sender, NodeRoles.Capture);
        if (verdict == SenderVerdict.NotMember && _awaitingMember.Count < MaxClaimsAwaitingMember)
        {
            _awaitingMember.Enqueue((sender, claims, _time.GetUtcNow()));
            _statistics.ClaimsAwaitingMember = _awaitingMember.Count;
            ArmSweep();
            return;
        }

        // Claims of one node apply in the order sent: those still waiting go first.
        if (verdict == SenderVerdict.Accepted && _awaitingMember.Count > 0)
        {
            RetryAwaitingMember(expireBefore: null);
        }

        Apply(sender, claims, verdict, "only capture nodes claim routes");
    }

    private void Apply(IActorRef sender, object message, SenderVerdict verdict, string refusalDetail)
    {
        if (message is ReplyChannelOffer offer)
        {
            ApplyOffer(sender, offer, verdict, refusalDetail);
            return;
        }

        var claims = (RouteClaims)message;
        if (verdict != SenderVerdict.Accepted)
        {
            _statistics.Refusals.Refuse(_logger, "route claims", sender.Path.ToString(), ClusterSenders.Reason(verdict), refusalDetail);
            return;
        }

        if (claims.Owner.Path.Address != sender.Path.Address)
        {
            _statistics.Refusals.Refuse(_logger, "route claims", sender.Path.ToString(), RefusalReasons.Impersonation,
                $"the owner {claims.Owner.Path} is not on the sending node");
            return;
        }

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
        try
        {
            DrainTurn();
        }
        catch
        {
            // This turn owned the capture thread's wake-up. The router is resumed after a failure (it keeps its
            // routes, see ResumingGuardianStrategy) without a restart hook, so it wakes itself, or it would wait
            // for a wake-up the capture thread never sends again.
            Self.Tell(DrainReplies.Instance);
            throw;
        }
    }

    private void DrainTurn()
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
        if (_channels.Count > 0 && _shardIndex.TryGetValue(owner, out var shard) && _channels.TryGetValue(owner.Path.Address, out var channel))
        {
            var span = CollectionsMarshal.AsSpan(batch);
            if (channel.TrySend(shard, span))
            {
                _statistics.BatchesSent++;
                _statistics.BatchesByChannel++;
                RecordHandOff(span);
                _pending -= span.Length;
                batch.Clear();
                return;
            }

            // Not known to have arrived: remoting carries this batch (a record twice is a duplicate segment to the session).
            CloseChannel(owner.Path.Address, "a send failed");
        }

        var records = batch.ToArray();
        owner.Tell(new ResponseBatch(records));
        _statistics.BatchesSent++;
        _pending -= records.Length;
        batch.Clear();

        RecordHandOff(records);
    }

    // Capture to hand-over, this node's share of the relay latency (the capture node times the whole).
    private void RecordHandOff(ReadOnlySpan<ResponseRecord> records)
    {
        var nowNanos = (_time.GetUtcNow().UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;
        foreach (ref readonly var record in records)
        {
            _statistics.HandOffLatency.RecordMicroseconds((nowNanos - record.CapturedAtNanos) / 1000);
        }
    }

    private void ApplyOffer(IActorRef sender, ReplyChannelOffer offer, SenderVerdict verdict, string refusalDetail)
    {
        var address = sender.Path.Address;
        if (verdict != SenderVerdict.Accepted)
        {
            _statistics.Refusals.Refuse(_logger, "reply channel offer", sender.Path.ToString(), ClusterSenders.Reason(verdict), refusalDetail);
            return;
        }

        // The shards must be the sender's own, and the endpoint its cluster host: a node cannot divert another's
        // replies, nor point this node's connections at a third host.
        if (offer.Shards.Any(shard => shard.Path.Address != address) || !string.Equals(offer.Host, address.Host, StringComparison.OrdinalIgnoreCase))
        {
            _statistics.Refusals.Refuse(_logger, "reply channel offer", sender.Path.ToString(), RefusalReasons.Impersonation,
                $"it names {offer.Host} and shards not on the sending node {address}");
            return;
        }

        if (!_settings.ReplyChannel)
        {
            return;
        }

        // A new offer replaces the old one: the node restarted (new shards, new key) or re-offered.
        ForgetChannel(address);
        _offers[address] = new ChannelOffer(offer);
        for (var i = 0; i < offer.Shards.Count; i++)
        {
            _shardIndex[offer.Shards[i]] = i;
        }

        Connect(address, _offers[address]);
    }

    private void Connect(Address address, ChannelOffer offer)
    {
        offer.Connecting = true;
        offer.LastAttempt = _time.GetUtcNow();
        ReplyChannel.ConnectAsync(offer.Offer, _settings.BatchSize, ChannelConnectTimeout).PipeTo(Self,
            success: channel => new ChannelOpened(address, offer, channel),
            failure: error => new ChannelFailed(address, offer, error.GetBaseException().Message));
    }

    private void OnChannelOpened(ChannelOpened opened)
    {
        if (!_offers.TryGetValue(opened.Address, out var offer) || offer != opened.Offer)
        {
            // The node left or offered anew while this one connected.
            opened.Channel.Dispose();
            return;
        }

        offer.Connecting = false;
        _channels[opened.Address] = opened.Channel;
        _statistics.ReplyChannels = _channels.Count;
        InterceptLog.ChannelOpened(_logger, opened.Address.ToString(), opened.Offer.Offer.Host, opened.Offer.Offer.Port);
    }

    private void OnChannelFailed(ChannelFailed failed)
    {
        _statistics.ReplyChannelFailures++;
        if (_offers.TryGetValue(failed.Address, out var offer) && offer == failed.Offer)
        {
            offer.Connecting = false;
            InterceptLog.ChannelFailed(_logger, failed.Address.ToString(), failed.Reason, ChannelRetryInterval.TotalSeconds);
            ArmSweep();
        }
    }

    // Retries offered channels that are down, at most once per interval; remoting carries their replies meanwhile.
    private void RetryChannels()
    {
        var now = _time.GetUtcNow();
        foreach (var (address, offer) in _offers)
        {
            if (!offer.Connecting && !_channels.ContainsKey(address) && now - offer.LastAttempt >= ChannelRetryInterval)
            {
                Connect(address, offer);
            }
        }
    }

    private void CloseChannel(Address address, string reason)
    {
        if (_channels.Remove(address, out var channel))
        {
            InterceptLog.ChannelClosed(_logger, address.ToString(), channel.Frames, reason);
            channel.Dispose();
            _statistics.ReplyChannelFailures++;
            _statistics.ReplyChannels = _channels.Count;
            ArmSweep();
        }
    }

    // Drops everything of a node's channel: its channel, offer and shard indexes.
    private void ForgetChannel(Address address)
    {
        if (_channels.Remove(address, out var channel))
        {
            channel.Dispose();
            _statistics.ReplyChannels = _channels.Count;
        }

        if (_offers.Remove(address, out var offer))
        {
            foreach (var shard in offer.Offer.Shards)
            {
                _shardIndex.Remove(shard);
            }
        }
    }

    // Applies the waiting claims whose node is now a member, in arrival order, and refuses those that waited
    // since before expireBefore.
    private void RetryAwaitingMember(DateTimeOffset? expireBefore)
    {
        var count = _awaitingMember.Count;
        for (var i = 0; i < count; i++)
        {
            var (sender, message, since) = _awaitingMember.Dequeue();
            var verdict = _senders.Check(sender, NodeRoles.Capture);
            if (verdict == SenderVerdict.NotMember && (expireBefore is null || since >= expireBefore))
            {
                _awaitingMember.Enqueue((sender, message, since));
                continue;
            }

            Apply(sender, message, verdict, $"only capture nodes claim routes; not a member after {MemberWait.TotalSeconds:F0} s");
        }

        _statistics.ClaimsAwaitingMember = _awaitingMember.Count;
        ArmSweep();
    }

    private void OnSweep()
    {
        if (_awaitingMember.Count > 0)
        {
            RetryAwaitingMember(_time.GetUtcNow() - MemberWait);
        }

        _table.Sweep();
        RetryChannels();
        UpdateGauges();
    }

    private void OnMemberRemoved(Address address)
    {
        ForgetChannel(address);
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
    // common.hocon). A route or a parked reply only comes with a claim or a drain, and both arm it; claims waiting
    // for their node's membership expire by the sweep too.
    private void ArmSweep()
    {
        var needed = _table.RouteCount > 0 || _table.ParkedCount > 0 || _awaitingMember.Count > 0 || _offers.Count > _channels.Count;
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

    // A capture node's offer and the state of connecting to it; compared by reference to tell a stale outcome.
    private sealed class ChannelOffer(ReplyChannelOffer offer)
    {
        public ReplyChannelOffer Offer { get; } = offer;

        public bool Connecting { get; set; }

        public DateTimeOffset LastAttempt { get; set; }
    }

    private sealed record ChannelOpened(Address Address, ChannelOffer Offer, ReplyChannel Channel);

    private sealed record ChannelFailed(Address Address, ChannelOffer Offer, string Reason);

    private sealed class Sweep
    {
        public static readonly Sweep Instance = new();
    }

    private sealed class LogStatistics
    {
        public static readonly LogStatistics Instance = new();
    }
}
