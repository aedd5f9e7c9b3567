using Akka.Actor;
using Akka.Event;
using ReplayCluster.Replay;

namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// One replayed session: owns a <see cref="ReplaySession"/> and feeds it captured segments, the target's
/// replies and its single deadline, all through this mailbox, so the state machine never sees two events
/// at once. Stops itself when the session finished; a failure stops it too (the shard's strategy) and is
/// counted, because a restart would lose the TCP state.
/// </summary>
/// <remarks>
/// Kept cheap because there is one per live session: no timer scheduler of its own (one cancelable tick,
/// re-armed only when the deadline moves earlier: a tick that comes early is harmless and re-arms), and no
/// periodic message to report progress: it adds its counters to the node's at most every
/// <see cref="ProgressInterval"/> while it works, and once more when it ends.
/// </remarks>
internal sealed class SessionActor : UntypedActor
{
    /// <summary>How stale a working session's part of the node's counters may be.</summary>
    public static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(250);

    private readonly ReplaySession _session;
    private readonly TimeProvider _time;
    private readonly CaptureNodeStatistics _statistics;

    // Only the first copy of an online connection counts its requests as online requests.
    private readonly bool _firstCopy;
    private SessionCounters _reported = new();
    private DateTimeOffset _reportedAt;
    private bool _unreported;
    private bool _endCounted;
    private ICancelable? _tick;
    private DateTimeOffset _tickAt = DateTimeOffset.MaxValue;

    public SessionActor(SessionEndpoints endpoints, SessionOptions options, ISegmentTransport transport, TimeProvider time,
        CaptureNodeStatistics statistics, BufferBudget? budget, bool firstCopy = true)
    {
        _time = time;
        _firstCopy = firstCopy;
        _statistics = statistics;
        _session = new ReplaySession(endpoints, options, transport, time, budget, statistics.ReplyLatency);
        _reportedAt = time.GetUtcNow();
    }

    public static Props Props(SessionEndpoints endpoints, SessionOptions options, ISegmentTransport transport, TimeProvider time,
        CaptureNodeStatistics statistics, BufferBudget? budget = null, bool firstCopy = true) =>
        Akka.Actor.Props.CreateBy(new Producer(() => new SessionActor(endpoints, options, transport, time, statistics, budget, firstCopy)));

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case CapturedPacket packet:
                if (_statistics.CapturingLive && _firstCopy && packet.Segment.CapturedAtNanos != 0)
                {
                    _statistics.CaptureLatency.Record(_time.GetUtcNow() - DateTimeOffset.UnixEpoch.AddTicks(packet.Segment.CapturedAtNanos / 100));
                }

                _session.OnCaptured(packet.Segment);
                break;
            case SessionReplies replies:
                _session.OnResponses(replies.Records);
                break;
            case Tick:
                _tick = null;
                _tickAt = DateTimeOffset.MaxValue;
                _session.OnTimer();
                break;
            default:
                Unhandled(message);
                return;
        }

        AfterEvent();
    }

    protected override void PostStop()
    {
        _tick?.Cancel();
        if (_session.HasPending)
        {
            Context.GetLogger().Info("Session stopped with data pending: {0}", _session.Describe());
        }

        try
        {
            // Whatever stopped us (the end, a failure, shutdown), the target must not keep the connection.
            _session.Abort();
        }
        catch (Exception ex)
        {
            Context.GetLogger().Warning("Could not reset the target's connection of a stopped session: {0}", ex.Message);
        }
        finally
        {
            // Straight into the node's counters, not a message: at shutdown the shard stops before it
            // would read one, and the final statistics line would miss these sessions.
            if (_endCounted)
            {
                ReportProgress(_time.GetUtcNow());
            }
            else
            {
                CountEnd();
            }
        }
    }

    /// <summary>
    /// The session ended: its requests the target never acknowledged are lost now, under its end reason
    /// (not after the linger, during which it only absorbs late packets: they would count as in flight).
    /// </summary>
    private void CountEnd()
    {
        _endCounted = true;
        var counters = _session.Counters;
        _statistics.AddEnded(_session.EndReason, counters.Since(_reported), counters.RequestsCaptured - counters.RequestsDelivered, _firstCopy);
        _reported = counters.Snapshot();
        _reportedAt = _time.GetUtcNow();
        _unreported = false;
    }

    private void AfterEvent()
    {
        if (_session.IsFinished)
        {
            Context.Stop(Self);
            return;
        }

        var now = _time.GetUtcNow();
        if (!_endCounted && _session.EndReason != SessionEndReason.None)
        {
            CountEnd();
        }
        else if (!_endCounted)
        {
            _unreported = true;
            if (now - _reportedAt >= ProgressInterval)
            {
                ReportProgress(now);
            }
        }

        var deadline = _session.NextDeadline;
        if (_unreported)
        {
            // Work not yet in the node's counters is reported by the next tick at the latest.
            var reportAt = _reportedAt + ProgressInterval;
            deadline = deadline is { } d && d < reportAt ? d : reportAt;
        }

        Arm(deadline, now);
    }

    private void ReportProgress(DateTimeOffset now)
    {
        var counters = _session.Counters;
        _statistics.AddProgress(counters.Since(_reported), _firstCopy);
        _reported = counters.Snapshot();
        _reportedAt = now;
        _unreported = false;
    }

    private void Arm(DateTimeOffset? deadline, DateTimeOffset now)
    {
        if (deadline is not { } at)
        {
            return;
        }

        if (_tick is not null && _tickAt <= at)
        {
            // The armed tick comes first; on arrival it re-arms for whatever is due then.
            return;
        }

        _tick?.Cancel();
        var delay = at - now;
        _tickAt = at;
        _tick = Context.System.Scheduler.ScheduleTellOnceCancelable(delay > TimeSpan.Zero ? delay : TimeSpan.Zero, Self, Tick.Instance, Self);
    }

    private sealed class Tick
    {
        public static readonly Tick Instance = new();
    }

    // Creates the actor by a plain constructor call: Props.Create(expression) evaluates its expression tree
    // for every session, which cost more than the rest of starting one at 10k sessions/s.
    private sealed class Producer(Func<SessionActor> create) : IIndirectActorProducer
    {
        public Type ActorType => typeof(SessionActor);

        public ActorBase Produce() => create();

        public void Release(ActorBase actor)
        {
        }
    }
}
