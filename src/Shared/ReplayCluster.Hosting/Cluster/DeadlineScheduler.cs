using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Event;

namespace ReplayCluster.Cluster;

/// <summary>
/// Akka's scheduler (<c>akka.scheduler.implementation</c>) without a fixed tick: one thread sleeps until the
/// earliest timer is due, so a node with nothing due does not wake up at all.
/// </summary>
/// <remarks>
/// <para>
/// Akka's <c>HashedWheelTimerScheduler</c> wakes every <c>tick-duration</c> (10 ms) whether a timer is due or not,
/// each time through <c>Task.Delay</c>, a timer-thread wake-up and a thread-pool work item. That alone was most of
/// an idle node's CPU: 100 wake-ups/s, each followed by the pool's spin before it sleeps again (~13,000 context
/// switches/s and 3.5-6 % of a core per node, measured with bench/idle.sh).
/// </para>
/// <para>
/// Timing follows the wheel's: a timer never runs before its delay has passed, and deadlines are rounded up to the
/// next multiple of <c>akka.scheduler.tick-duration</c> since start, so timers that fall due within one grain run
/// together in one wake-up (under load, thousands of session timers cost at most one wake-up per grain, like the
/// wheel's tick). Repeated timers run at fixed delay after each run (as the wheel does). Due actions run on the
/// scheduler thread, so they must be short (a <c>Tell</c>); one that throws is logged and not repeated.
/// </para>
/// <para>
/// Cancelled timers stay in the queue until they fall due or until the queue has doubled since the last purge, which
/// then drops them all (amortised O(1) per timer): actors that re-arm a timer per message cannot grow it without
/// bound. On dispose the thread stops and every outstanding timer that is not cancelled runs once, as with the wheel.
/// </para>
/// <para>
/// Repeated timers whose interval is at least twice <c>akka.scheduler.periodic-grain</c> (common.hocon: 500 ms, so
/// Akka's cluster, remoting and failure-detector ticks and our statistics ticks) run at a fixed rate on that coarser grid
/// instead: their n-th run is due at the first grid point at or after <c>start + initial delay + n * interval</c>. Ticks
/// of a second or two then share a few wake-ups a second instead of each having its own (an idle node has some twenty
/// of them), a tick is at most one grid step late, and the late steps do not add up (the average interval stays
/// exact). One-shot timers (session retransmission and pacing, ask timeouts) keep the fine grain.
/// </para>
/// <para>
/// The same thread is the node's control thread: <see cref="ControlThreadExecutor"/> queues the mailbox runs of the
/// control-plane dispatchers here (hocon/common.hocon: Akka's default, internal and remote dispatchers). A timer's
/// <c>Tell</c> then schedules its actor on the thread that is already awake, and the messages that actor sends to
/// other control-plane actors run in the same wake-up: a cluster tick costs one thread wake-up instead of one for
/// the timer and one or more for thread-pool workers. Timers fall due between mailbox runs, so a run must not block.
/// </para>
/// </remarks>
internal sealed class DeadlineScheduler : SchedulerBase, IDateTimeOffsetNowTimeProvider, IDisposable
{
    private const int MinimumPurgeThreshold = 1024;

    // The monotonic clocks Akka reads through the scheduler (Akka's own MonotonicClock is internal): both count from
    // the first scheduler in the process, with Stopwatch resolution.
    private static readonly long ClockStart = Stopwatch.GetTimestamp();

    // A monitor, not a System.Threading.Lock: the thread sleeps with Monitor.Wait and is woken with Monitor.Pulse.
    private readonly object _gate = new();
    private readonly PriorityQueue<Entry, long> _queue = new();
    private readonly long _grainTicks;
    private readonly long _periodicGrainTicks;
    private readonly TimeSpan _shutdownTimeout;
    private readonly long _startTimestamp = Stopwatch.GetTimestamp();
    private readonly Thread _thread;

    // When the thread will wake up by itself (elapsed ticks); long.MinValue while it is awake and will look at the
    // queue again before it sleeps. Only read and written under _gate.
    private long _wakeAt = long.MinValue;
    private int _purgeThreshold = MinimumPurgeThreshold;
    private long _wakeUps;
    private long _runs;
    private bool _stopping;

    // Mailbox runs queued for this thread (ControlThreadExecutor), from any thread. A producer on another thread
    // pulses _gate only while the thread sleeps or is about to (_sleeping, set under _gate before the queue is
    // looked at a last time), so a busy thread takes no lock per message.
    private readonly System.Collections.Concurrent.ConcurrentQueue<IRunnable> _work = new();
    private int _sleeping;
    private bool _disposed;

    /// <summary>Created by the actor system from <c>akka.scheduler</c>.</summary>
    /// <param name="scheduler">The actor system's configuration.</param>
    /// <param name="log">Where failed timer actions are logged.</param>
    public DeadlineScheduler(Config scheduler, ILoggingAdapter log)
        : base(scheduler, log)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        var grain = SchedulerConfig.GetTimeSpan("akka.scheduler.tick-duration", TimeSpan.FromMilliseconds(10));
        if (grain < TimeSpan.FromMilliseconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(scheduler), grain,
                "akka.scheduler.tick-duration must be at least 1ms (the DeadlineScheduler's grain)");
        }

        _grainTicks = grain.Ticks;
        var periodicGrain = SchedulerConfig.GetTimeSpan("akka.scheduler.periodic-grain", TimeSpan.FromMilliseconds(250));
        _periodicGrainTicks = Math.Max(periodicGrain.Ticks, 0); // 0 (or HOCON's off, a negative value): off
        _shutdownTimeout = SchedulerConfig.GetTimeSpan("akka.scheduler.shutdown-timeout", TimeSpan.FromSeconds(5));
        _thread = new Thread(Run) { IsBackground = true, Name = "akka-scheduler" };
        _thread.Start();
    }

    /// <summary>Timers waiting, cancelled ones not yet purged included.</summary>
    internal int QueuedCount
    {
        get
        {
            lock (_gate)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>How often the thread has woken up (a timer fell due, work was queued, an earlier timer was added, or it stopped).</summary>
    internal long WakeUps => Interlocked.Read(ref _wakeUps);

    /// <summary>Work items (mailbox runs) the thread has run.</summary>
    internal long Runs => Interlocked.Read(ref _runs);

    /// <summary>Whether the caller runs on the scheduler's thread.</summary>
    internal bool IsSchedulerThread => Thread.CurrentThread == _thread;

    /// <summary>
    /// Any thread: runs <paramref name="run"/> on the scheduler's thread, after the work queued before it, between
    /// due timers; false once the scheduler stops (the caller runs it elsewhere).
    /// </summary>
    internal bool TryExecute(IRunnable run)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (Volatile.Read(ref _stopping))
        {
            return false;
        }

        _work.Enqueue(run);
        if (Volatile.Read(ref _stopping))
        {
            // Stopped meanwhile: the thread may have left already (each run is dequeued once, by it or here).
            DrainWorkToThreadPool();
            return true;
        }

        if (Thread.CurrentThread == _thread)
        {
            return true; // the thread looks at the queue before it sleeps
        }

        // Pairs with the thread's Interlocked.Exchange of _sleeping: either it sees this run, or this sees it asleep.
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _sleeping) != 0)
        {
            lock (_gate)
            {
                Monitor.Pulse(_gate);
            }
        }

        return true;
    }

    /// <inheritdoc />
    public override TimeSpan MonotonicClock => Stopwatch.GetElapsedTime(ClockStart);

    /// <inheritdoc />
    public override TimeSpan HighResMonotonicClock => Stopwatch.GetElapsedTime(ClockStart);

    /// <inheritdoc />
    protected override DateTimeOffset TimeNow => DateTimeOffset.Now;

    /// <summary>Stops the thread, then runs every outstanding timer that is not cancelled once.</summary>
    public void Dispose()
    {
        List<Entry> outstanding;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            Volatile.Write(ref _stopping, true);
            Monitor.Pulse(_gate);
        }

        // Akka disposes the scheduler from a termination task on the thread pool; from the thread itself (a mailbox
        // run) there is nothing to wait for: it leaves its loop when this run returns.
        if (Thread.CurrentThread != _thread && !_thread.Join(_shutdownTimeout))
        {
            Log.Warning("Failed to shutdown scheduler within {0}", _shutdownTimeout);
            DrainWorkToThreadPool();
            return;
        }

        // Work queued before the thread stopped runs on the thread pool, where the executor sends what comes after.
        DrainWorkToThreadPool();

        lock (_gate)
        {
            outstanding = new List<Entry>(_queue.Count);
            while (_queue.TryDequeue(out var entry, out _))
            {
                if (!entry.Cancelled)
                {
                    outstanding.Add(entry);
                }
            }
        }

        foreach (var entry in outstanding)
        {
            try
            {
                entry.Action.Run();
            }
            catch (SchedulerException)
            {
                // From actors already terminated: expected while the system stops.
            }
#pragma warning disable CA1031 // a failing timer action must not stop the others from running
            catch (Exception e)
#pragma warning restore CA1031
            {
                Log.Error(e, "Exception while executing timer task.");
            }
        }
    }

    /// <inheritdoc />
    protected override void InternalScheduleTellOnce(TimeSpan delay, ICanTell receiver, object message, IActorRef sender, ICancelable cancelable) =>
        Add(delay, TimeSpan.Zero, new ScheduledTell(receiver, message, sender), cancelable);

    /// <inheritdoc />
    protected override void InternalScheduleTellRepeatedly(TimeSpan initialDelay, TimeSpan interval, ICanTell receiver, object message,
        IActorRef sender, ICancelable cancelable) =>
        Add(initialDelay, interval, new ScheduledTell(receiver, message, sender), cancelable);

    /// <inheritdoc />
    protected override void InternalScheduleOnce(TimeSpan delay, Action action, ICancelable cancelable) =>
        Add(delay, TimeSpan.Zero, new ActionRunnable(action), cancelable);

    /// <inheritdoc />
    protected override void InternalScheduleOnce(TimeSpan delay, IRunnable action, ICancelable cancelable) =>
        Add(delay, TimeSpan.Zero, action, cancelable);

    /// <inheritdoc />
    protected override void InternalScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, Action action, ICancelable cancelable) =>
        Add(initialDelay, interval, new ActionRunnable(action), cancelable);

    /// <inheritdoc />
    protected override void InternalScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, IRunnable action, ICancelable cancelable) =>
        Add(initialDelay, interval, action, cancelable);

    private long Elapsed() => Stopwatch.GetElapsedTime(_startTimestamp).Ticks;

    private static long RoundUp(long ticks, long grain) => (ticks + grain - 1) / grain * grain;

    // The first grain boundary at or after `elapsed + delay`: never early, and timers within one grain share a wake-up.
    private long DeadlineAfter(long elapsed, TimeSpan delay) => RoundUp(elapsed + Math.Max(delay.Ticks, 0), _grainTicks);

    private void Add(TimeSpan delay, TimeSpan interval, IRunnable action, ICancelable? cancelable)
    {
        var periodic = _periodicGrainTicks > 0 && interval.Ticks >= 2 * _periodicGrainTicks;
        var entry = new Entry(action, cancelable, interval.Ticks, periodic);
        var elapsed = Elapsed();
        long deadline;
        if (periodic)
        {
            entry.NominalTicks = elapsed + Math.Max(delay.Ticks, 0);
            deadline = RoundUp(entry.NominalTicks, _periodicGrainTicks);
        }
        else
        {
            deadline = DeadlineAfter(elapsed, delay);
        }

        lock (_gate)
        {
            if (_stopping)
            {
                throw new SchedulerException("cannot enqueue after timer shutdown");
            }

            Enqueue(entry, deadline);
        }
    }

    // Under _gate.
    private void Enqueue(Entry entry, long deadline)
    {
        if (_queue.Count >= _purgeThreshold)
        {
            Purge();
        }

        _queue.Enqueue(entry, deadline);
        if (deadline < _wakeAt)
        {
            // The thread sleeps past this deadline: wake it so it sleeps until this one instead.
            Monitor.Pulse(_gate);
        }
    }

    // Under _gate: drops cancelled timers, then lets the queue double again before the next purge.
    private void Purge()
    {
        var kept = new List<(Entry, long)>(_queue.Count);
        while (_queue.TryDequeue(out var entry, out var deadline))
        {
            if (!entry.Cancelled)
            {
                kept.Add((entry, deadline));
            }
        }

        _queue.EnqueueRange(kept);
        _purgeThreshold = Math.Max(MinimumPurgeThreshold, kept.Count * 2);
    }

    private void Run()
    {
        var due = new List<Entry>();
        while (true)
        {
            lock (_gate)
            {
                while (true)
                {
                    if (_stopping)
                    {
                        return;
                    }

                    var now = Elapsed();
                    while (_queue.TryPeek(out var entry, out var deadline) && deadline <= now)
                    {
                        _queue.Dequeue();
                        if (!entry.Cancelled)
                        {
                            due.Add(entry);
                        }
                    }

                    if (due.Count > 0 || !_work.IsEmpty)
                    {
                        _wakeAt = long.MinValue;
                        break;
                    }

                    // About to sleep: from here on a producer pulses. The queue is looked at once more after the
                    // flag is up, so a run queued just before is not left waiting for the next timer.
                    Interlocked.Exchange(ref _sleeping, 1);
                    if (!_work.IsEmpty)
                    {
                        _sleeping = 0;
                        _wakeAt = long.MinValue;
                        break;
                    }

                    if (_queue.TryPeek(out _, out var next))
                    {
                        _wakeAt = next;
                        // Round up: waking a little late costs nothing, waking early costs a second wake-up.
                        var milliseconds = (next - now + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond;
                        Monitor.Wait(_gate, (int)Math.Min(milliseconds, int.MaxValue));
                    }
                    else
                    {
                        _wakeAt = long.MaxValue;
                        Monitor.Wait(_gate, Timeout.Infinite);
                    }

                    _sleeping = 0;
                    _wakeAt = long.MinValue;
                    Interlocked.Increment(ref _wakeUps);
                }
            }

            foreach (var entry in due)
            {
                RunOne(entry);
            }

            due.Clear();
            RunWork();
        }
    }

    private void DrainWorkToThreadPool()
    {
        while (_work.TryDequeue(out var run))
        {
            ThreadPool.UnsafeQueueUserWorkItem(static r => r.Run(), run, preferLocal: false);
        }
    }

    // Runs the queued mailbox runs, those they queue included, until the queue is empty or a batch has run (then the
    // loop looks at the timers again, so a busy control plane does not hold them back).
    private void RunWork()
    {
        const int batch = 256;
        var ran = 0;
        while (ran < batch && _work.TryDequeue(out var run))
        {
            ran++;
            try
            {
                run.Run();
            }
#pragma warning disable CA1031 // a mailbox run handles its actor's failures; anything else must not stop the thread
            catch (Exception e)
#pragma warning restore CA1031
            {
                Log.Error(e, "Error in a control-thread work item {0}", run);
            }
        }

        Interlocked.Add(ref _runs, ran);
    }

    private void RunOne(Entry entry)
    {
        try
        {
            entry.Action.Run();
        }
#pragma warning disable CA1031 // one failing timer action must not stop the scheduler
        catch (Exception e)
#pragma warning restore CA1031
        {
            Log.Error(e, "Error while executing scheduled task {0}", entry.Action);
            return; // like the wheel: a failed repeated action is not repeated
        }

        if (entry.IntervalTicks > 0 && !entry.Cancelled)
        {
            var now = Elapsed();
            long deadline;
            if (entry.Periodic)
            {
                // Fixed rate from the unrounded schedule, so the rounding does not stretch the interval; after a
                // stall longer than the interval it restarts from now rather than catching up in a burst.
                entry.NominalTicks += entry.IntervalTicks;
                if (entry.NominalTicks <= now)
                {
                    entry.NominalTicks = now + entry.IntervalTicks;
                }

                deadline = RoundUp(entry.NominalTicks, _periodicGrainTicks);
            }
            else
            {
                deadline = DeadlineAfter(now, TimeSpan.FromTicks(entry.IntervalTicks));
            }

            lock (_gate)
            {
                if (!_stopping)
                {
                    Enqueue(entry, deadline);
                }
            }
        }
    }

    private sealed class Entry(IRunnable action, ICancelable? cancelable, long intervalTicks, bool periodic)
    {
        public IRunnable Action { get; } = action;

        public long IntervalTicks { get; } = intervalTicks;

        /// <summary>On the periodic grid, at a fixed rate.</summary>
        public bool Periodic { get; } = periodic;

        /// <summary>Periodic only: when the next run is due before rounding to the grid (elapsed ticks).</summary>
        public long NominalTicks { get; set; }

        public bool Cancelled => cancelable?.IsCancellationRequested ?? false;
    }

    private sealed class ScheduledTell(ICanTell receiver, object message, IActorRef sender) : IRunnable
    {
        public void Run() => receiver.Tell(message, sender);

        public void Execute() => Run();

        public override string ToString() => $"[{receiver}.Tell({message}, {sender})]";
    }
}
