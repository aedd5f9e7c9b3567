using Akka.Actor;
using Microsoft.Extensions.Logging;
using ReplayCluster.Capture.Admission;
using ReplayCluster.Capture.Identities;
using ReplayCluster.Capture.Plans;
using ReplayCluster.Capture.Routing;
using ReplayCluster.Cluster;
using ReplayCluster.Packets;
using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// One of the node's session shards (one per core by default): it only demultiplexes and supervises. A
/// captured packet goes to the sessions of its online connection, or, for a new connection that admission
/// takes, to new session actors (one per copy, each with its own identity at the target); the target's
/// replies, which the intercepts send straight to the shard that claimed the session, go to their session
/// grouped per session. A failed session is stopped and counted, never restarted.
/// </summary>
internal sealed class SessionShard : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan ForgetInterval = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Finished session actors a shard keeps for new connections at most. A pooled actor is ~0.5 KB; 1,024 cover a
    /// shard's share of ~10k new connections/s at a 100 ms session life and cost ~0.5 MB. Actors the pool did not need
    /// for a whole <see cref="ForgetInterval"/> are stopped then.
    /// </summary>
    internal const int MaxPooledSessions = 1024;

    // The newest sessions (one per copy) of each online connection, with the client ISN that started them.
    private readonly Dictionary<OnlineConnection, (Copies Sessions, uint? ClientIsn)> _byConnection = [];
    private readonly Dictionary<SessionEndpoints, IActorRef> _byEndpoints = [];
    private readonly Dictionary<IActorRef, (OnlineConnection Connection, SessionEndpoints Endpoints, ClientIdentityMapper Identities)> _byActor = [];

    // Ended sessions through their linger (see EndedSession): by identity for the target's late replies (the identity
    // and the route stay taken until the linger ends), by online connection for the client's late packets (the last
    // copy to end of a connection no live session has), and in the order their lingers end.
    private readonly Dictionary<SessionEndpoints, (EndedSession Ended, ClientIdentityMapper Identities)> _lingering = [];
    private readonly Dictionary<OnlineConnection, EndedSession> _timeWait = [];
    private readonly PriorityQueue<(EndedSession Ended, OnlineConnection Connection), long> _lingerEnds = new();

    // What the lingering sessions counted (late packets, resets answered) since it last went to the node's counters.
    private SessionCounters _late = new();
    private bool _lateCounted;
    private readonly List<SessionEndpoints> _claims = [];
    private readonly List<SessionEndpoints> _releases = [];
    private readonly Shared _context;
    private readonly SessionShards.ShardQueue _queue;
    private readonly SessionAdmission _admission;
    private readonly SessionWakeups _wakeups = new();
    private readonly RelayLag _relayLag;

    // When a session refused for want of an identity was last logged (a timestamp of the context's clock).
    private static readonly TimeSpan NoIdentityLogInterval = TimeSpan.FromSeconds(10);
    private long _noIdentityLoggedAt;
    private readonly List<IActorRef> _due = [];
    private readonly Props _sessionProps;
    private readonly int _index;

    // Finished session actors, ready for the next new connection (see SessionActor.Finished), and the fewest the
    // pool held since the last ForgetIdle: that many were not needed in the interval.
    private readonly Stack<IActorRef> _pool = new();
    private int _poolLow;
    private bool _flushQueued;

    public SessionShard(Shared context, int index)
    {
        _context = context;
        _index = index;
        // The signal admission refuses new sessions on (no intercept in the cluster), read at a session's retransmission
        // timeout: a volatile count. Without readiness (tests that build shards alone) sessions never hold.
        _relayLag = new RelayLag(context.Limits.Readiness is { } readiness ? () => !readiness.RepliesCanReturn : null);

        // One Props for all the shard's sessions (each gets what is its own in its first message), on the
        // shard's dispatcher and on the session mailbox. hocon/capture.hocon defines the mailbox; an actor
        // system without it (tests that build their own) gets Akka's default.
        var props = SessionActor.Props(new SessionActor.Host(context.Transport, context.Time, context.Statistics, context.Limits.Budget, _wakeups, new HandshakeRtts(), _relayLag))
            .WithDispatcher(Context.Props.Dispatcher);
        _sessionProps = Context.System.Settings.Config.HasPath(SessionMailbox.ConfigPath) ? props.WithMailbox(SessionMailbox.ConfigPath) : props;
        _queue = context.Shards.QueueOf(index);
        _admission = new SessionAdmission(context.Limits, context.Statistics, context.Time);
        Receive<CapturedBurst>(OnCapturedBurst);
        Receive<ResponseBatch>(OnResponses);
        Receive<SessionActor.Finished>(f => OnSessionFinished(Sender, f.Ended));
        Receive<Terminated>(t => OnSessionTerminated(t.ActorRef));
        Receive<FlushClaims>(_ => Flush());
        Receive<AnnounceRoutes>(a => SendClaims([.. _byEndpoints.Keys, .. _lingering.Keys], [], a.To is { } to ? [to] : _context.Intercepts.Intercepts));
        Receive<ForgetIdle>(_ => ForgetIdleState());
        Receive<WakeDue>(_ => Wake());
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(Shared context, int index) => Akka.Actor.Props.Create(() => new SessionShard(context, index));

    protected override void PreStart()
    {
        Timers.StartPeriodicTimer("forget", ForgetIdle.Instance, ForgetInterval);
        Timers.StartPeriodicTimer("wake", WakeDue.Instance, SessionWakeups.Resolution);
    }

    protected override void PostStop() => CountLate();

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(error =>
    {
        _context.Statistics.CountFailed();
        CaptureLog.SessionFailed(_context.Logger, "(session actor)", error.Message);
        return Directive.Stop;
    });

    private void OnCapturedBurst(CapturedBurst burst)
    {
        foreach (var packet in burst.Packets)
        {
            OnCaptured(packet);
        }
    }

    private void OnCaptured(CapturedPacket packet)
    {
        _queue.Leave();
        var segment = packet.Segment;
        var connection = packet.Connection;
        if (_admission.IsLeftOut(connection, segment))
        {
            return;
        }

        var isSyn = segment.HasFlag(TcpFlags.Syn) && !segment.HasFlag(TcpFlags.Ack);
        if (_byConnection.TryGetValue(connection, out var current))
        {
            if (!(isSyn && current.ClientIsn != segment.Sequence))
            {
                current.Sessions.Tell(packet);
                return;
            }
        }
        else if (_timeWait.TryGetValue(connection, out var ended))
        {
            if (!ended.IsNewConnection(segment))
            {
                // A late packet of a connection whose replay ended: not the start of another.
                Late().LatePacketsAbsorbed++;
                return;
            }

            _timeWait.Remove(connection);
        }

        // A new connection (or the same client port reused while our replay of its previous connection
        // is still under way: clients cycle ports faster than a lagging replay finishes). The old session
        // keeps going on its own identity; the new one gets another, so neither is lost.
        var plan = _context.Plan.Current;
        if (_admission.Decide(connection, segment, plan, out var clientIsn) != AdmissionVerdict.Admit)
        {
            return;
        }

        var route = packet.Route;
        var options = plan.SessionFor(route);
        IActorRef[]? copies = null;
        var started = 0;
        SessionEndpoints firstCopy = default;
        for (var copy = 0; copy < plan.Copies; copy++)
        {
            if (_admission.DecideCopy() != CopyVerdict.Admit
                || StartSession(connection, route.TargetAddress, route.TargetPort, options, firstCopy: started == 0) is not (var session, var endpoints))
            {
                continue;
            }

            if (started == 0)
            {
                firstCopy = endpoints;
            }

            // Sized for every copy: at the default of one it is the array Copies keeps, nothing else is allocated.
            copies ??= new IActorRef[plan.Copies];
            copies[started++] = session;
        }

        if (copies is null)
        {
            // Not replayed at all: its later packets must not be taken for a new session.
            _admission.LeaveOut(connection, clientIsn);
            return;
        }

        // Response comparison (issue 11): one decision per new connection, nothing per packet. A compared connection
        // is replayed to the secondary reference too when the plan names one (fed the same packets as the copies).
        if (_context.Comparison?.Choose(connection) is { } compared)
        {
            SessionEndpoints? secondary = null;
            if (compared.Secondary is { } reference)
            {
                // Outside the rate cap (it is not a replay the plan asked for) but within the live-session ceiling.
                if (!_context.Limits.TryReserveLive())
                {
                    _context.Statistics.CountRefusedCeiling();
                }
                else if (StartSession(connection, reference.Address, reference.Port, options, firstCopy: false) is (var session, var endpoints))
                {
                    Array.Resize(ref copies, started + 1);
                    copies[started++] = session;
                    secondary = endpoints;
                }
            }

            _context.Comparison.Started(connection, firstCopy, secondary);
        }

        if (started < copies.Length)
        {
            Array.Resize(ref copies, started);
        }

        _byConnection[connection] = (Copies.Of(copies), isSyn ? segment.Sequence : null);
        foreach (var session in copies)
        {
            session.Tell(packet, ActorRefs.NoSender);
        }
    }

    /// <summary>
    /// Starts one replayed session of <paramref name="connection"/> toward <paramref name="targetAddress"/>:<paramref name="targetPort"/>
    /// with an identity of its own; null when no identity is free (counted).
    /// </summary>
    private (IActorRef Session, SessionEndpoints Endpoints)? StartSession(OnlineConnection connection, NetAddress targetAddress, ushort targetPort,
        SessionOptions options, bool firstCopy)
    {
        if (!_context.Identities.TryAcquire(connection.ClientAddress, connection.ClientPort, targetAddress, targetPort,
                out var address, out var port, out var identities))
        {
            _context.Limits.ReleaseLive();
            _context.Statistics.CountWithoutIdentity();
            var now = _context.Time.GetTimestamp();
            if (_noIdentityLoggedAt == 0 || _context.Time.GetElapsedTime(_noIdentityLoggedAt, now) >= NoIdentityLogInterval)
            {
                // The refusal is counted above; the log says which client it hit and how full the slice is, once per interval.
                _noIdentityLoggedAt = now;
                var family = targetAddress.IsIpv4 ? "IPv4" : "IPv6";
                var mapper = _context.Identities.Mapper;
                var reason = mapper is null ? "no identity slice from the coordinator yet"
                    : !mapper.Serves(targetAddress.Family)
                    ? $"no {family} fake client range for an {family} target ({mapper.Ranges}; -c takes an IPv4 and an IPv6 range: 10.200.0.0/16,fd00:c8::/64)"
                    : mapper.KeepsReal && connection.ClientAddress.IsIpv4 != targetAddress.IsIpv4
                    ? $"the real client address cannot reach an {family} target"
                    : $"every identity probed (the slice's addresses with this client port, then with other ports) is in use ({mapper.InUse} identities in use, {mapper.Quarantined} held back)";
                CaptureLog.NoIdentity(_context.Logger, $"{connection.ClientAddress.ToEndpointString()}:{connection.ClientPort}",
                    $"{targetAddress.ToEndpointString()}:{targetPort}", reason, _context.Statistics.SessionsWithoutIdentity);
            }

            return null;
        }

        var endpoints = new SessionEndpoints(address, port, targetAddress, targetPort);
        var session = TakeSessionActor();
        session.Tell(new SessionActor.Start(endpoints, options, FirstCopy: firstCopy), ActorRefs.NoSender);
        _byEndpoints[endpoints] = session;
        _byActor[session] = (connection, endpoints, identities);
        _context.Statistics.CountStarted();
        Queue(_claims, endpoints);
        return (session, endpoints);
    }

    private void OnResponses(ResponseBatch batch)
    {
        // Relay latency: intercept capture to here, on wall clocks (one clock in the lab; NTP's offset across hosts).
        var now = _context.Time.GetUtcNow();
        batch.RecordRelayLatency(_context.Statistics.RelayLatency, now);
        if (batch.Count > 0)
        {
            // How far behind the relay is, for the sessions' retransmission timeouts: per intercept, whose clock it is.
            _relayLag.Observe(batch.Origin ?? Sender.Path.Address, batch.Records[^1].CapturedAtNanos, now);
        }

        // Consecutive records of one session travel as one message: a burst of replies costs its session
        // one mailbox turn, and order per session is kept because runs go out in capture order.
        var records = batch.Records;
        var start = 0;
        IActorRef? owner = null;
        for (var i = 0; i <= records.Length; i++)
        {
            IActorRef? next = null;
            if (i < records.Length && !_byEndpoints.TryGetValue(SessionEndpoints.Of(records[i]), out next))
            {
                OnLateReply(records[i]);
            }

            if (i < records.Length && next is not null && next.Equals(owner))
            {
                continue;
            }

            if (owner is not null)
            {
                owner.Tell(new SessionReplies(batch.Memory[start..i]), ActorRefs.NoSender);
            }

            owner = next;
            start = i;
        }
    }

    /// <summary>A reply no live session owns: late for a lingering session (which may answer it), else unmatched.</summary>
    private void OnLateReply(in ResponseRecord record)
    {
        if (!_lingering.TryGetValue(SessionEndpoints.Of(record), out var lingering))
        {
            _context.Statistics.CountUnmatched();
            return;
        }

        if (lingering.Ended.AnswerLateReply(record, _context.Transport))
        {
            Late().StaleConnectionsReset++;
            Late().SegmentsSent++;
        }
        else
        {
            Late().LatePacketsAbsorbed++;
        }
    }

    private SessionCounters Late()
    {
        _lateCounted = true;
        return _late;
    }

    /// <summary>What the lingering sessions counted goes to the node's counters (every wake-up scan, and at the end).</summary>
    private void CountLate()
    {
        if (_lateCounted)
        {
            _context.Statistics.AddProgress(_late, firstCopy: false);
            _late = new SessionCounters();
            _lateCounted = false;
        }
    }

    /// <summary>Ends the lingers due by <paramref name="utcTicks"/>: their identities and routes are free again.</summary>
    private void EndLingers(long utcTicks)
    {
        while (_lingerEnds.TryPeek(out var item, out var until) && until <= utcTicks)
        {
            _lingerEnds.Dequeue();
            if (_lingering.Remove(item.Ended.Endpoints, out var lingering))
            {
                Release(item.Ended.Endpoints, lingering.Identities);
            }

            if (_timeWait.TryGetValue(item.Connection, out var ended) && ReferenceEquals(ended, item.Ended))
            {
                _timeWait.Remove(item.Connection);
            }
        }
    }

    /// <summary>A pooled actor when there is one, else a new (watched) one.</summary>
    private IActorRef TakeSessionActor()
    {
        if (_pool.TryPop(out var pooled))
        {
            _poolLow = Math.Min(_poolLow, _pool.Count);
            return pooled;
        }

        var session = Context.ActorOf(_sessionProps);
        Context.Watch(session);
        return session;
    }

    /// <summary>
    /// The session of <paramref name="session"/> ended (counted by the actor): the shard keeps <paramref name="ended"/>
    /// through the linger, and the actor for the next session.
    /// </summary>
    private void OnSessionFinished(IActorRef session, EndedSession ended)
    {
        if (!OnSessionStopped(session, ended))
        {
            return;
        }

        if (_pool.Count < MaxPooledSessions)
        {
            _pool.Push(session);
        }
        else
        {
            Context.Unwatch(session);
            Context.Stop(session);
        }
    }

    private void ForgetIdleState()
    {
        _admission.ForgetIdle();

        // Stop the pooled actors that no new session needed during the whole interval.
        for (var unused = _poolLow; unused > 0 && _pool.TryPop(out var idle); unused--)
        {
            Context.Unwatch(idle);
            Context.Stop(idle);
        }

        _poolLow = _pool.Count;
    }

    /// <summary>A session actor stopped (its session failed, or shutdown): it is not reused.</summary>
    private void OnSessionTerminated(IActorRef session)
    {
        if (!OnSessionStopped(session, ended: null) && _pool.Contains(session))
        {
            // Not expected (a pooled actor has no session to fail), but a dead actor must never get a session.
            var alive = _pool.Where(a => !a.Equals(session)).Reverse().ToList();
            _pool.Clear();
            alive.ForEach(_pool.Push);
            _poolLow = Math.Min(_poolLow, _pool.Count);
        }
    }

    /// <summary>
    /// Forgets the live session of <paramref name="session"/>; false when it had none (already forgotten). An ended
    /// session lingers (<paramref name="ended"/>) and keeps its identity and route until then; a stopped one (null) frees them now.
    /// </summary>
    private bool OnSessionStopped(IActorRef session, EndedSession? ended)
    {
        if (!_byActor.Remove(session, out var entry))
        {
            return false;
        }

        var connectionEnded = false;
        if (_byConnection.TryGetValue(entry.Connection, out var current) && current.Sessions.Contains(session))
        {
            var remaining = current.Sessions.Without(session);
            if (remaining.IsEmpty)
            {
                _byConnection.Remove(entry.Connection);
                connectionEnded = true;
            }
            else
            {
                _byConnection[entry.Connection] = current with { Sessions = remaining };
            }
        }

        _byEndpoints.Remove(entry.Endpoints);
        _context.Limits.ReleaseLive();
        if (ended is null || ended.Until <= _context.Time.GetUtcNow())
        {
            Release(entry.Endpoints, entry.Identities);
            return true;
        }

        _lingering[entry.Endpoints] = (ended, entry.Identities);
        if (connectionEnded)
        {
            _timeWait[entry.Connection] = ended;
        }

        _lingerEnds.Enqueue((ended, entry.Connection), ended.Until.UtcTicks);
        return true;
    }

    private void Release(SessionEndpoints endpoints, ClientIdentityMapper identities)
    {
        IdentitySource.Release(identities, endpoints.ClientAddress, endpoints.ClientPort, endpoints.TargetAddress, endpoints.TargetPort);
        Queue(_releases, endpoints);
    }

    /// <summary>
    /// Sends their tick to the sessions whose far deadline comes before the next scan, ends the lingers that are
    /// over (so a linger lasts up to one <see cref="SessionWakeups.Resolution"/> longer than asked) and counts what
    /// lingering sessions counted.
    /// </summary>
    private void Wake()
    {
        var now = _context.Time.GetUtcNow().UtcTicks;
        EndLingers(now);
        CountLate();
        _wakeups.TakeDue(now, _due);
        foreach (var session in _due)
        {
            session.Tell(SessionActor.Tick.Wake, ActorRefs.NoSender);
        }

        _due.Clear();
    }

    private void Queue(List<SessionEndpoints> list, SessionEndpoints endpoints)
    {
        list.Add(endpoints);
        if (!_flushQueued)
        {
            // Sent after the messages already in the mailbox: a burst of new sessions becomes one message.
            _flushQueued = true;
            Self.Tell(FlushClaims.Instance);
        }
    }

    private void Flush()
    {
        _flushQueued = false;
        SendClaims(_claims, _releases, _context.Intercepts.Intercepts);
        _claims.Clear();
        _releases.Clear();
    }

    private void SendClaims(IReadOnlyList<SessionEndpoints> claims, IReadOnlyList<SessionEndpoints> releases, IEnumerable<Address> intercepts)
    {
        if (claims.Count + releases.Count == 0)
        {
            return;
        }

        // Owner is this shard: the intercepts send each session's replies straight here. Through the intercept's reply
        // channel when it has one open (the claim then does not wait behind remoting), else through remoting.
        var channels = _context.Intercepts.Channels;
        foreach (var address in intercepts)
        {
            if (channels is not null && channels.TrySendClaims(address, _index, claims, releases))
            {
                continue;
            }

            var router = Context.ActorSelection(new RootActorPath(address) / "user" / ActorNames.ReplyRouter);
            for (var offset = 0; offset < Math.Max(claims.Count, releases.Count); offset += RouteClaims.MaxEntries / 2)
            {
                router.Tell(new RouteClaims(Self,
                    [.. claims.Skip(offset).Take(RouteClaims.MaxEntries / 2)],
                    [.. releases.Skip(offset).Take(RouteClaims.MaxEntries / 2)]));
            }
        }
    }

    /// <summary>What every shard of a node shares.</summary>
    internal sealed record Shared(
        PlanInEffect Plan,
        SessionShards Shards,
        AdmissionLimits Limits,
        IdentitySource Identities,
        InterceptDirectory Intercepts,
        ISegmentTransport Transport,
        TimeProvider Time,
        CaptureNodeStatistics Statistics,
        ILogger Logger)
    {
        /// <summary>Response comparison's hook (issue 11), called once per new session; null in tests that do not compare.</summary>
        public Comparison.ComparisonHook? Comparison { get; init; }
    }

    /// <summary>Announce every live session of this shard to <paramref name="To"/> (null: every intercept).</summary>
    internal sealed record AnnounceRoutes(Address? To);

    /// <summary>
    /// The sessions (copies) of one online connection: the session itself when there is one (no array: ~32 bytes
    /// less per live connection at the default of one copy), an array of them otherwise.
    /// </summary>
    private readonly struct Copies
    {
        private readonly object? _sessions;

        private Copies(object? sessions) => _sessions = sessions;

        public bool IsEmpty => _sessions is null;

        public static Copies Of(IActorRef[] sessions) => new(sessions.Length == 1 ? sessions[0] : sessions.Length == 0 ? null : sessions);

        public void Tell(CapturedPacket packet)
        {
            if (_sessions is IActorRef[] sessions)
            {
                foreach (var copy in sessions)
                {
                    copy.Tell(packet, ActorRefs.NoSender);
                }
            }
            else
            {
                (_sessions as IActorRef)?.Tell(packet, ActorRefs.NoSender);
            }
        }

        public bool Contains(IActorRef session) =>
            _sessions is IActorRef[] sessions ? Array.IndexOf(sessions, session) >= 0 : session.Equals(_sessions);

        public Copies Without(IActorRef session) =>
            _sessions is IActorRef[] sessions ? Of([.. sessions.Where(s => !s.Equals(session))]) : session.Equals(_sessions) ? default : this;
    }

    private sealed class FlushClaims
    {
        public static readonly FlushClaims Instance = new();
    }

    private sealed class ForgetIdle
    {
        public static readonly ForgetIdle Instance = new();
    }

    private sealed class WakeDue
    {
        public static readonly WakeDue Instance = new();
    }
}
