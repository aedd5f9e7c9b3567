using Akka.Actor;
using Akka.Event;
using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// One replayed session: owns a <see cref="ReplaySession"/> and feeds it captured segments, the target's
/// replies and its single deadline, all through this mailbox, so the state machine never sees two events
/// at once. When the session finished it goes back to its shard's pool and serves a later session (one session
/// at a time, each from its own <see cref="Start"/>); a failure stops it (the shard's strategy) and is counted,
/// because a restart would lose the TCP state.
/// </summary>
/// <remarks>
/// Kept cheap because there is one per live session (bench/README.md "Live sessions"):
/// <list type="bullet">
/// <item>One <see cref="Props"/> per shard: what differs per session comes in its first message,
/// <see cref="Start"/>, which the shard sends before anything else.</item>
/// <item>No timer scheduler of its own: a deadline at least <see cref="SessionWakeups.FarAhead"/> away (an idle
/// session's keep-alive timeout) is an entry in its shard's <see cref="SessionWakeups"/>; a nearer one is one
/// timer of its shard's thread (<see cref="Sending.ShardThreadExecutor.Schedule"/>; Akka's scheduler where shards
/// have no thread of their own), re-armed only when the deadline moves earlier (a tick that comes early is harmless
/// and re-arms).</item>
/// <item>No periodic message to report progress, and no copy of its counters: it hands them to the node's at
/// most every <see cref="ProgressInterval"/> while it works, and once more when it ends; an idle session has
/// handed them over and holds none (its next count starts new ones).</item>
/// </list>
/// </remarks>
internal sealed class SessionActor : UntypedActor, Sending.IShardTimer
{
    /// <summary>How stale a working session's part of the node's counters may be.</summary>
    public static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(250);

    // What a session that counted nothing since its last report reports (only read).
    private static readonly SessionCounters NothingCounted = new();

    private readonly Host _host;
    private ReplaySession? _session;

    // The session's requests the target has not acknowledged, of the counts already handed over.
    private long _undeliveredReported;

    // UTC ticks: the last report, the armed tick (long.MaxValue: none), the wake-up in the shard's SessionWakeups.
    private long _reportedAt;
    private long _tickAt = long.MaxValue;
    private long _wakeAt = long.MaxValue;
    private ICancelable? _tick;

    // On a shard thread the near tick is the thread's timer (ShardThreadExecutor.Schedule), which cannot be cancelled:
    // a due timer whose generation is not this one's is stale and sends nothing.
    private readonly IActorRef _self;
    private int _tickGeneration;

    // Only the first copy of an online connection counts its requests as online requests.
    private bool _firstCopy;
    private bool _unreported;

    public SessionActor(Host host)
    {
        _host = host;
        _reportedAt = host.Time.GetUtcNow().UtcTicks;
        _self = Self;
    }

    /// <summary>The Props of every session of a shard (see <see cref="Start"/>).</summary>
    public static Props Props(Host host) => Akka.Actor.Props.CreateBy(new Producer(host));

    protected override void OnReceive(object message)
    {
        if (_session is null && message is not Start)
        {
            // Idle in its shard's pool: whatever still comes was meant for the session it finished (a late packet,
            // a reply or a tick sent before its shard learned of the end); the next session starts with Start.
            return;
        }

        switch (message)
        {
            case CapturedPacket packet:
                var statistics = _host.Statistics;
                if (statistics.CapturingLive && _firstCopy && packet.Segment.CapturedAtNanos != 0)
                {
                    statistics.CaptureLatency.Record(_host.Time.GetUtcNow() - DateTimeOffset.UnixEpoch.AddTicks(packet.Segment.CapturedAtNanos / 100));
                }

                Session.OnCaptured(packet.Segment);
                break;
            case SessionReplies replies:
                Session.OnResponses(replies.Records.Span);
                break;
            case Tick tick:
                if (tick == Tick.Precise)
                {
                    _tick = null;
                    _tickAt = long.MaxValue;
                }
                else
                {
                    // Its shard took the entry out when it sent this.
                    _wakeAt = long.MaxValue;
                }

                Session.OnTimer();
                break;
            case Start start:
                if (_session is not null)
                {
                    throw new InvalidOperationException("A session actor was started twice.");
                }

                _firstCopy = start.FirstCopy;
                _reportedAt = _host.Time.GetUtcNow().UtcTicks;
                _session = new ReplaySession(start.Endpoints, start.Options, _host.Transport, _host.Time, _host.Budget, _host.Statistics.ReplyLatency, _host.Handshakes, _host.RelayLag);
                break;
            default:
                Unhandled(message);
                return;
        }

        AfterEvent();
    }

    protected override void PostStop()
    {
        if (_session is { } session)
        {
            // Stopped with a session (its failure, or shutdown); one idle in the pool or not started has nothing to count.
            Close(session);
        }
    }

    /// <summary>
    /// The session ended: it is counted, the actor forgets it and goes back to its shard's pool (a
    /// <see cref="Finished"/> with what the session keeps through its linger, which the shard holds from now on),
    /// and the shard hands it the next new connection with another <see cref="Start"/>.
    /// Starting an actor costs more than the rest of a short session's turns on the shard (Akka's ActorOf looks up
    /// deployment and mailbox configuration, watching and stopping are system messages): at ~1k sessions/s
    /// creating them was 16 % of the shard threads' CPU (bench/README.md, "Pooled session actors").
    /// </summary>
    private void Retire(ReplaySession session, EndedSession ended)
    {
        Close(session);
        _session = null;
        _undeliveredReported = 0;
        _firstCopy = false;
        _unreported = false;
        Context.Parent.Tell(new Finished(ended), Self);
    }

    private void Close(ReplaySession session)
    {
        _tick?.Cancel();
        _tick = null;
        _tickGeneration++;
        _tickAt = long.MaxValue;
        _host.Wakeups.Forget(Self);
        _wakeAt = long.MaxValue;
        if (session.HasPending)
        {
            Context.GetLogger().Info("Session stopped with data pending: {0}", session.Describe());
        }

        try
        {
            // Whatever stopped us (the end, a failure, shutdown), the target must not keep the connection.
            session.Abort();
        }
        catch (Exception ex)
        {
            Context.GetLogger().Warning("Could not reset the target's connection of a stopped session: {0}", ex.Message);
        }
        finally
        {
            // Straight into the node's counters, not a message: at shutdown the shard stops before it
            // would read one, and the final statistics line would miss these sessions.
            CountEnd();
        }
    }

    // Every message after Start needs the session (OnReceive drops what comes while there is none); the shard sends
    // Start before anything else, and a restart never happens: the shard's strategy stops a failed session.
    private ReplaySession Session => _session ?? throw new InvalidOperationException("A session actor got a message before its start.");

    /// <summary>
    /// The session ended (or is stopped): its requests the target never acknowledged are lost now, under its end reason.
    /// </summary>
    private void CountEnd()
    {
        var counters = Session.TakeCounters() ?? NothingCounted;
        _host.Statistics.AddEnded(Session.EndReason, counters, _undeliveredReported + counters.RequestsCaptured - counters.RequestsDelivered, _firstCopy);
        Reported(counters, _host.Time.GetUtcNow().UtcTicks);
    }

    private void AfterEvent()
    {
        var session = Session;
        if (session.Ended is { } ended)
        {
            // Its linger is its shard's (EndedSession): the actor is free at once.
            Retire(session, ended);
            return;
        }

        var now = _host.Time.GetUtcNow().UtcTicks;
        _unreported = true;
        if (now - _reportedAt >= ProgressInterval.Ticks)
        {
            ReportProgress(now);
        }

        var deadline = session.NextDeadline is { } next ? next.UtcTicks : long.MaxValue;
        if (_unreported)
        {
            // Work not yet in the node's counters is reported by the next tick at the latest.
            deadline = Math.Min(deadline, _reportedAt + ProgressInterval.Ticks);
        }

        Arm(deadline, now);
    }

    private void ReportProgress(long now)
    {
        if (Session.TakeCounters() is { } counters)
        {
            _host.Statistics.AddProgress(counters, _firstCopy);
            Reported(counters, now);
            return;
        }

        Reported(NothingCounted, now);
    }

    /// <summary>The counters are in the node's now (and the session starts new ones).</summary>
    private void Reported(SessionCounters counters, long now)
    {
        _undeliveredReported += counters.RequestsCaptured - counters.RequestsDelivered;
        _reportedAt = now;
        _unreported = false;
    }

    private void Arm(long at, long now)
    {
        if (at == long.MaxValue || _tickAt <= at || _wakeAt <= at)
        {
            // Nothing armed, or a tick or wake-up comes first; on arrival it re-arms for whatever is due then.
            return;
        }

        if (at - now >= SessionWakeups.FarAhead.Ticks)
        {
            // Nothing to do for seconds at least: the session gives back its idle buffers. A nearer tick, if
            // any, is earlier (it was nearer): only the far wake-up moves.
            Session.Trim();
            _wakeAt = at;
            _host.Wakeups.WakeAt(Self, at);
            return;
        }

        _tick?.Cancel();
        _tick = null;
        _tickAt = at;
        var delay = TimeSpan.FromTicks(Math.Max(at - now, 0));
        if (Sending.ShardThreadExecutor.Current is { } thread)
        {
            thread.Schedule(delay, this, ++_tickGeneration);
            return;
        }

        _tick = Context.System.Scheduler.ScheduleTellOnceCancelable(delay, Self, Tick.Precise, Self);
    }

    /// <summary>The shard thread's timer (between mailbox runs, on the thread that runs this actor): tick unless stale.</summary>
    void Sending.IShardTimer.OnDue(int generation)
    {
        if (generation == _tickGeneration && _tickAt != long.MaxValue)
        {
            _self.Tell(Tick.Precise, _self);
        }
    }

    /// <summary>
    /// What every session of a shard shares (one per shard, in its one <see cref="Props"/>), among it the shard's
    /// handshake round trips per target (<see cref="HandshakeRtts"/>), where a new session's first SYN timeout starts, and
    /// how far behind the reply relay is (<see cref="Sessions.RelayLag"/>), which puts retransmission timeouts off.
    /// </summary>
    internal sealed record Host(ISegmentTransport Transport, TimeProvider Time, CaptureNodeStatistics Statistics, BufferBudget? Budget, SessionWakeups Wakeups,
        HandshakeRtts Handshakes, RelayLag RelayLag);

    /// <summary>A session's first message: its identity at the target, its options, whether it is the first copy.</summary>
    internal sealed record Start(SessionEndpoints Endpoints, SessionOptions Options, bool FirstCopy);

    /// <summary>To the shard: this actor's session ended and the actor is free for the next one; the shard keeps <paramref name="Ended"/> through the linger.</summary>
    internal sealed record Finished(EndedSession Ended);

    /// <summary>A deadline is due: <see cref="Precise"/> from the near timer, <see cref="Wake"/> from the shard's wake-ups.</summary>
    internal sealed class Tick : IDeadLetterSuppression
    {
        public static readonly Tick Precise = new();
        public static readonly Tick Wake = new();

        private Tick()
        {
        }
    }

    // Creates the actor by a plain constructor call: Props.Create(expression) evaluates its expression tree
    // for every actor, which cost more than the rest of starting one at 10k sessions/s.
    private sealed class Producer(Host host) : IIndirectActorProducer
    {
        public Type ActorType => typeof(SessionActor);

        public ActorBase Produce() => new SessionActor(host);

        public void Release(ActorBase actor)
        {
        }
    }
}
