using Akka.Actor;
using Akka.Event;
using ReplayCluster.Replay;

namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// One replayed session: owns a <see cref="ReplaySession"/> and feeds it captured segments, response
/// records and its single timer, all through this mailbox, so the state machine never sees two events
/// at once. Stops itself when the session finished; a failure stops it too (the manager's strategy)
/// and is counted, because a restart would lose the TCP state.
/// </summary>
internal sealed class SessionActor : ReceiveActor, IWithTimers
{
    private const string TimerKey = "session";

    private readonly ReplaySession _session;
    private readonly TimeProvider _time;
    private readonly CaptureNodeStatistics _statistics;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    // Only the first copy of an online connection counts its requests as online requests.
    private readonly bool _firstCopy;
    private SessionCounters _reported = new();

    public SessionActor(SessionEndpoints endpoints, SessionOptions options, ISegmentTransport transport, TimeProvider time,
        CaptureNodeStatistics statistics, BufferBudget? budget, bool firstCopy = true)
    {
        _time = time;
        _firstCopy = firstCopy;
        _statistics = statistics;
        _session = new ReplaySession(endpoints, options, transport, time, budget, statistics.ReplyLatency);
        Receive<CapturedSegment>(segment =>
        {
            _session.OnCaptured(segment);
            AfterEvent();
        });
        Receive<ResponseRecord>(record =>
        {
            _session.OnResponse(record);
            AfterEvent();
        });
        Receive<Tick>(_ =>
        {
            _session.OnTimer();
            AfterEvent();
        });
        Receive<ReportProgress>(_ =>
        {
            var delta = _session.Counters.Since(_reported);
            if (delta.SegmentsSent != 0 || delta.RequestsCaptured != 0 || delta.RequestsDelivered != 0 || delta.LatePacketsAbsorbed != 0)
            {
                _reported = _session.Counters.Snapshot();
                _statistics.AddProgress(delta, _firstCopy);
            }
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(SessionEndpoints endpoints, SessionOptions options, ISegmentTransport transport, TimeProvider time,
        CaptureNodeStatistics statistics, BufferBudget? budget = null, bool firstCopy = true) =>
        Akka.Actor.Props.Create(() => new SessionActor(endpoints, options, transport, time, statistics, budget, firstCopy));

    protected override void PostStop()
    {
        if (_session.HasPending)
        {
            _log.Info("Session stopped with data pending: {0}", _session.Describe());
        }

        try
        {
            // Whatever stopped us (the end, a failure, shutdown), the target must not keep the connection.
            _session.Abort();
        }
        catch (Exception ex)
        {
            _log.Warning("Could not reset the target's connection of a stopped session: {0}", ex.Message);
        }
        finally
        {
            // Straight into the node's counters, not a message: at shutdown the manager stops before it
            // would read one, and the final statistics line would miss these sessions.
            _statistics.AddEnded(_session.EndReason, _session.Counters.Since(_reported), _firstCopy);
        }
    }

    private void AfterEvent()
    {
        if (_session.IsFinished)
        {
            Context.Stop(Self);
            return;
        }

        if (_session.NextDeadline is { } deadline)
        {
            var delay = deadline - _time.GetUtcNow();
            Timers.StartSingleTimer(TimerKey, Tick.Instance, delay > TimeSpan.Zero ? delay : TimeSpan.Zero);
        }
        else
        {
            Timers.Cancel(TimerKey);
        }
    }

    private sealed class Tick
    {
        public static readonly Tick Instance = new();
    }
}
