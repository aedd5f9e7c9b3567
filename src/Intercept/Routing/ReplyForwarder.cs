using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Akka.Actor;
using Microsoft.Extensions.Logging;
using ReplayCluster.Membership;
using ReplayCluster.PacketIO;
using ReplayCluster.Protocol;

namespace ReplayCluster.Intercept.Routing;

/// <summary>
/// The intercept's data path, run by the capture thread itself: each captured reply is routed to the shard that
/// claimed its session (<see cref="ReplyRouteTable{TOwner}"/>), grouped per shard, and at the end of each burst of
/// frames written to the owning capture node's reply channel (<see cref="ReplyChannel"/>), or handed to remoting
/// for a node without one. No thread hand-off between capture and send: a hop to a router actor cost a light-load
/// reply 150-310 µs at p50 and milliseconds at p99 on the lab's loaded 2 cores (RelayLatencyLabTests).
/// </summary>
/// <remarks>
/// The capture nodes' claims on their reply channels it reads itself, on the capture thread, when the capture loop
/// finds a connection readable (<see cref="ICaptureSideInput"/>). Everything else reaches it as a command that the
/// <see cref="ReplyRouter"/> actor posts after its checks (route claims sent through remoting, a node that left, a
/// channel up or down) and that the capture thread applies before the burst's flush, woken by
/// <see cref="PacketIO.LiveCapture.Wake"/> when idle. Not thread-safe otherwise: one thread calls
/// <see cref="Route"/> and <see cref="EndOfBurst"/>.
/// </remarks>
internal sealed class ReplyForwarder : ICaptureSideInput
{
    /// <summary>How often routes and parked replies are checked for expiry while there are any.</summary>
    public static readonly TimeSpan SweepInterval = TimeSpan.FromMilliseconds(500);

    private readonly ReplyRouteTable<IActorRef> _table;
    private readonly Dictionary<IActorRef, List<ResponseRecord>> _batches = [];
    private readonly List<IActorRef> _pendingOwners = [];
    private readonly Dictionary<Address, ReplyChannel> _channels = [];
    private readonly Dictionary<IActorRef, int> _shardIndex = [];
    private readonly ConcurrentQueue<Command> _inbox = new();
    private readonly InterceptNodeSettings _settings;
    private readonly InterceptStatistics _statistics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Action<IActorRef, ResponseRecord> _add;
    private readonly Action<RouteClaims> _applyClaims;

    // The channels' connections as the last Gather listed them (OnReady's indexes refer to it): rebuilt when a
    // channel opens or closes, not on every turn.
    private (Address Address, ReplyChannel Channel, int Link)[] _inputs = [];
    private bool _inputsChanged;
    private Action _wake = () => { };
    private IActorRef _router = ActorRefs.Nobody;
    private long _nextSweepTicks;

    // When batches were last sent (TimeProvider timestamp; 0: never), and how many records that flush carried.
    private long _lastFlush;
    private int _lastFlushRecords;

    public ReplyForwarder(InterceptNodeSettings settings, InterceptStatistics statistics, TimeProvider time, ILogger<ReplyForwarder> logger)
    {
        _settings = settings;
        _statistics = statistics;
        _time = time;
        _logger = logger;
        _add = Add;
        _applyClaims = claims => Apply(new Command.Claims(claims));
        _table = new ReplyRouteTable<IActorRef>(new ReplyRouteTableOptions
        {
            ParkingTime = settings.ParkingTime,
            RouteLifetime = settings.RouteLifetime,
        }, time);
    }

    /// <summary>
    /// Connects the two ends: <paramref name="wake"/> has the routing thread run <see cref="EndOfBurst"/> soon (the
    /// capture's wake-up), and <paramref name="router"/> hears of channels that failed. Commands posted before wait.
    /// </summary>
    public void Attach(Action wake, IActorRef router)
    {
        ArgumentNullException.ThrowIfNull(wake);
        _router = router;
        _wake = wake;
        wake();
    }

    /// <summary>Any thread: queues a command for the routing thread and wakes it.</summary>
    public void Post(Command command)
    {
        _inbox.Enqueue(command);
        _wake();
    }

    /// <summary>Routing thread: routes one captured reply, or parks it until its session's claim arrives.</summary>
    public void Route(in ResponseRecord record)
    {
        if (_table.TryRoute(record, out var owner))
        {
            Add(owner, record);
        }
    }

    /// <summary>
    /// Routing thread, after each burst of frames and each wake-up: applies the posted commands, sends the batches
    /// (at once, unless batches went out less than the batch window ago: see <see cref="InterceptNodeSettings.BatchWindow"/>),
    /// expires what is due; returns when it wants to run again, and whether captured frames should wait until then.
    /// </summary>
    /// <remarks>
    /// In immediate mode every reply wakes the capture thread. When the last flush carried at least
    /// <see cref="HoldThreshold"/> records (replies arrive faster than one per window), the next replies wait in the
    /// kernel ring for the batch window and the thread takes them in one wake-up; after a quiet window it is back to
    /// waking per reply, so light load waits for nothing.
    /// </remarks>
    public CaptureWait EndOfBurst()
    {
        while (_inbox.TryDequeue(out var command))
        {
            try
            {
                Apply(command);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // As an actor resumed after a failed message: the command is lost, the routes and the capture stay.
                _statistics.Refusals.Refuse(_logger, "forwarder command", command.GetType().Name, "failed", ex.Message);
            }
        }

        var flushDue = FlushOrWait();
        var now = _time.GetUtcNow().UtcTicks;
        if (_table.RouteCount == 0 && _table.ParkedCount == 0)
        {
            _nextSweepTicks = 0;
        }
        else if (_nextSweepTicks == 0)
        {
            _nextSweepTicks = now + SweepInterval.Ticks;
        }
        else if (now >= _nextSweepTicks)
        {
            _table.Sweep();
            _nextSweepTicks = now + SweepInterval.Ticks;
        }

        UpdateGauges();
        var sweepDue = _nextSweepTicks == 0 ? -1 : Math.Max(0, _nextSweepTicks - now) / (TimeSpan.TicksPerMillisecond / 1000);
        if (flushDue < 0 && _lastFlushRecords >= HoldThreshold && _settings.BatchWindow > TimeSpan.Zero)
        {
            // Just flushed a full window's worth: hold the next frames for a window (the flush at its end resets this).
            _lastFlushRecords = 0;
            return new CaptureWait(Earliest((long)_settings.BatchWindow.TotalMicroseconds, sweepDue), HoldFrames: true);
        }

        return new CaptureWait(Earliest(flushDue, sweepDue));

        // The sooner of two timeouts in µs, -1 standing for none.
        static long Earliest(long a, long b) => a < 0 ? b : b < 0 ? a : Math.Min(a, b);
    }

    /// <summary>Records in one flush from which the capture thread holds frames for a batch window (see <see cref="EndOfBurst"/>).</summary>
    internal const int HoldThreshold = 4;

    // Sends the waiting batches now, or leaves them for the rest of the batch window: a reply after a quiet moment
    // goes at once (light load pays no wait), and under load the frames leave at most once per window, each with
    // what arrived meanwhile. Returns the microseconds until they are due (-1: nothing waits).
    private long FlushOrWait()
    {
        if (_pendingOwners.Count == 0)
        {
            return -1;
        }

        var now = _time.GetTimestamp();
        if (_lastFlush != 0 && _settings.BatchWindow > TimeSpan.Zero)
        {
            var waited = _time.GetElapsedTime(_lastFlush, now);
            if (waited < _settings.BatchWindow)
            {
                return Math.Max(1, (long)Math.Ceiling((_settings.BatchWindow - waited).TotalMicroseconds));
            }
        }

        _lastFlushRecords = Flush();
        _lastFlush = now;
        return -1;
    }

    /// <summary>Routing thread, before it waits: the channels' connections, on which the capture nodes' claims come.</summary>
    public int Gather(Span<int> into)
    {
        if (_inputsChanged)
        {
            _inputsChanged = false;
            _inputs = [.. _channels.SelectMany(channel => Enumerable.Range(0, channel.Value.Links).Select(link => (channel.Key, channel.Value, link)))];
        }

        var count = Math.Min(_inputs.Length, into.Length);
        for (var i = 0; i < count; i++)
        {
            into[i] = _inputs[i].Channel.Descriptor(_inputs[i].Link);
        }

        return count;
    }

    /// <summary>
    /// Routing thread: connection <paramref name="index"/> of the last <see cref="Gather"/> has claims frames (or
    /// closed): they apply at once, before the replies of this turn are routed. A connection that closed or sent what
    /// no capture node writes ends its channel; the router connects again later.
    /// </summary>
    public void OnReady(int index)
    {
        var (address, channel, link) = _inputs[index];
        if (!_channels.TryGetValue(address, out var current) || current != channel)
        {
            return; // closed earlier in this turn
        }

        try
        {
            switch (channel.ReadClaims(link, _applyClaims, out var problem))
            {
                case ClaimsRead.Closed:
                    // What a capture node does when it stops: not a failure here. The router learns the channel is
                    // gone, so that a node that is still a member gets connected again.
                    CloseChannel(address, null);
                    InterceptLog.ChannelEndedByPeer(_logger, address.ToString(), channel.Frames);
                    _router.Tell(new ReplyRouter.ChannelLost(address, channel), ActorRefs.NoSender);
                    break;
                case ClaimsRead.Refused:
                    _statistics.Refusals.Refuse(_logger, "reply channel claims", address.ToString(), RefusalReasons.BadFrame, problem);
                    CloseChannel(address, problem);
                    break;
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // As an actor resumed after a failed message: the channel goes, the capture and the routes stay.
            _statistics.Refusals.Refuse(_logger, "reply channel claims", address.ToString(), "failed", ex.Message);
            CloseChannel(address, ex.Message);
        }
    }

    /// <summary>Routing thread, when it stops: closes the channels.</summary>
    public void Close()
    {
        foreach (var channel in _channels.Values)
        {
            channel.Dispose();
        }

        _channels.Clear();
        _inputsChanged = true;
    }

    private void Apply(Command command)
    {
        switch (command)
        {
            case Command.Claims claims:
                // Releases first: a capture node hands an identity out again only after the session that held it
                // ended, so within one message a release always belongs to an older session than a claim of the same
                // endpoints. The other order would drop the new session's route.
                foreach (var endpoints in claims.Message.Released)
                {
                    _table.Release(endpoints, claims.Message.Owner);
                }

                foreach (var endpoints in claims.Message.Claimed)
                {
                    // Replies parked for this session join its batch now, ahead of any captured later.
                    _table.Claim(endpoints, claims.Message.Owner, _add);
                }

                break;
            case Command.NodeLeft left:
                var routes = _table.RemoveOwners(owner => owner.Path.Address == left.Address);
                foreach (var owner in _batches.Keys.Where(owner => owner.Path.Address == left.Address).ToList())
                {
                    _batches.Remove(owner);
                }

                _pendingOwners.RemoveAll(owner => owner.Path.Address == left.Address);
                CloseChannel(left.Address, null);
                if (routes > 0)
                {
                    InterceptLog.OwnerLeft(_logger, left.Address.ToString(), routes);
                }

                break;
            case Command.ChannelUp up:
                CloseChannel(up.Address, null);
                _channels[up.Address] = up.Channel;
                _inputsChanged = true;
                for (var i = 0; i < up.Shards.Count; i++)
                {
                    _shardIndex[up.Shards[i]] = i;
                }

                InterceptLog.ChannelOpened(_logger, up.Address.ToString(), up.Endpoint);
                break;
            case Command.ChannelDown down:
                CloseChannel(down.Address, null);
                break;
        }
    }

    private void Add(IActorRef owner, ResponseRecord record)
    {
        _statistics.RepliesRouted++;
        if (!_batches.TryGetValue(owner, out var batch))
        {
            batch = new List<ResponseRecord>(_settings.BatchSize);
            _batches[owner] = batch;
        }

        if (batch.Count == 0)
        {
            _pendingOwners.Add(owner);
        }

        batch.Add(record);
        if (batch.Count >= _settings.BatchSize)
        {
            Send(owner, batch);
        }
    }

    // Sends every waiting batch; returns how many records went.
    private int Flush()
    {
        var records = 0;
        foreach (var owner in _pendingOwners)
        {
            if (_batches.TryGetValue(owner, out var batch) && batch.Count > 0)
            {
                records += batch.Count;
                Send(owner, batch);
            }
        }

        _pendingOwners.Clear();
        return records;
    }

    private void Send(IActorRef owner, List<ResponseRecord> batch)
    {
        var records = CollectionsMarshal.AsSpan(batch);
        _statistics.BatchesSent++;
        if (_channels.TryGetValue(owner.Path.Address, out var channel) && _shardIndex.TryGetValue(owner, out var shard))
        {
            if (channel.TrySend(shard, records))
            {
                _statistics.BatchesByChannel++;
                RecordHandOff(records);
                batch.Clear();
                return;
            }

            // Not known to have arrived: remoting carries this batch (a record twice is a duplicate segment to the session).
            CloseChannel(owner.Path.Address, "a send failed");
        }

        owner.Tell(new ResponseBatch(records.ToArray()), ActorRefs.NoSender);
        RecordHandOff(records);
        batch.Clear();
    }

    // Capture to hand-over, this node's share of the relay latency (the capture node times the whole).
    private void RecordHandOff(ReadOnlySpan<ResponseRecord> records)
    {
        var nowNanos = ResponseRecord.UnixNanos(_time.GetUtcNow());
        foreach (ref readonly var record in records)
        {
            _statistics.HandOffLatency.RecordMicroseconds((nowNanos - record.CapturedAtNanos) / 1000);
        }
    }

    // Closes a node's channel; with a reason it failed here, and the router (which owns the offer) reconnects later.
    private void CloseChannel(Address address, string? failure)
    {
        if (!_channels.Remove(address, out var channel))
        {
            return;
        }

        _inputsChanged = true;

        foreach (var shard in _shardIndex.Keys.Where(shard => shard.Path.Address == address).ToList())
        {
            _shardIndex.Remove(shard);
        }

        channel.Dispose();
        if (failure is not null)
        {
            InterceptLog.ChannelClosed(_logger, address.ToString(), channel.Frames, failure);
            _statistics.ReplyChannelFailures++;
            _router.Tell(new ReplyRouter.ChannelLost(address, channel), ActorRefs.NoSender);
        }
    }

    private void UpdateGauges()
    {
        _statistics.Routes = _table.RouteCount;
        _statistics.Parked = _table.ParkedCount;
        _statistics.RepliesDroppedUnrouted = _table.DroppedUnrouted;
        _statistics.ReplyChannels = _channels.Count;
    }

    /// <summary>What the router asks of the routing thread.</summary>
    internal abstract record Command
    {
        private Command()
        {
        }

        /// <summary>Route claims and releases, checked by the router.</summary>
        public sealed record Claims(RouteClaims Message) : Command;

        /// <summary>A capture node left the cluster: its routes, batches and channel go.</summary>
        public sealed record NodeLeft(Address Address) : Command;

        /// <summary>A capture node's channel is open: its batches go through it from now on.</summary>
        public sealed record ChannelUp(Address Address, ReplyChannel Channel, IReadOnlyList<IActorRef> Shards, string Endpoint) : Command;

        /// <summary>A capture node's channel is to close (it offered a new one).</summary>
        public sealed record ChannelDown(Address Address) : Command;
    }
}
