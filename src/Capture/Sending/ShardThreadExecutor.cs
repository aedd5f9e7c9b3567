using Akka.Configuration;
using Akka.Dispatch;
using ReplayCluster.PacketIO;

namespace ReplayCluster.Capture.Sending;

/// <summary>
/// Runs one session shard and all of its session actors on one dedicated thread (an Akka.NET executor for that
/// shard's dispatcher). A connection's packets, its replies and its timers are then handled where its session
/// lives: no hand-over between threads inside a shard, and one place where a "turn" ends. When the thread has
/// run everything queued, it sends the segments its sessions built (one <c>sendmmsg</c>) and sleeps in
/// <c>ppoll</c> until new work arrives, one of its sockets (<see cref="IShardSocket"/>: the shard's reply channel
/// connections) is readable or its sessions' next timer (<see cref="Schedule"/>) is due: no spinning, no periodic
/// timer, nothing burnt while idle.
/// </summary>
/// <remarks>
/// The thread reads its reply channel sockets itself. With a reader thread per channel, every reply frame cost two
/// thread wake-ups (the reader's, then the shard's through an event), 100-300 µs each on the lab's shared cores, and
/// the futex traffic was a large share of the capture node's CPU at 1k new connections/s (perf). Now a frame wakes
/// the thread that handles it, and the records it delivers to the shard (a Tell to an actor of this executor) run
/// in the next turn with no wake-up at all. Likewise a session's retransmission, pacing and progress timers are the
/// thread's own (<see cref="Schedule"/>): arming one is a heap entry, and it fires as the ppoll timeout of a thread
/// that is about to sleep anyway, where Akka's scheduler took a registration and a cancellation per arm, its own
/// thread's wake-up, and an event to wake this one (bench/README.md, "Session timers on the shard thread").
/// </remarks>
internal sealed class ShardThreadExecutor : ExecutorService
{
    // A long queue must not hold built segments back: send after this many mailbox runs at the latest.
    private const int RunsPerFlush = 32;

    [ThreadStatic]
    private static ShardThreadExecutor? t_current;

    private readonly System.Collections.Concurrent.ConcurrentQueue<IRunnable> _queue = new();
    private readonly System.Collections.Concurrent.ConcurrentQueue<IShardSocket> _adopted = new();
    private readonly List<IShardSocket> _sockets = [];
    private readonly Thread _thread;
    private readonly Action _flush;
    private readonly Action<RawIpBatch, RawIpBatch>? _attach;

    // The sessions' timers (this thread only): by due time in Stopwatch ticks, rounded up to _grain so that timers
    // due close together fire in one wake-up (as Akka's scheduler groups them by its tick-duration).
    private readonly PriorityQueue<(IShardTimer Timer, int Generation), long> _timers = new();
    private readonly long _grain;
    private long _timersArmed;

    // The thread's wake-up for queued work, polled beside the sockets. Written only when the thread sleeps (the
    // _sleeping flag), and under _eventLock, so that a write never reaches a descriptor the ending thread closed.
    private readonly int _event;
    private readonly Lock _eventLock = new();
    private bool _ended;
    private LibC.PollFd[] _pollFds = new LibC.PollFd[4];
    private int _sleeping;
    private int _socketCount;
    private volatile bool _stopping;

    public ShardThreadExecutor(string id, string threadName, Action flush, Action<RawIpBatch, RawIpBatch>? attach, TimeSpan? timerGrain = null) : base(id)
    {
        _flush = flush;
        _attach = attach;
        _grain = Math.Max(1, (long)((timerGrain ?? TimeSpan.FromMilliseconds(10)).TotalSeconds * System.Diagnostics.Stopwatch.Frequency));
        _event = EventFd.Create();

        _thread = new Thread(Loop) { IsBackground = true, Name = threadName };
        _thread.Start();
    }

    /// <summary>The executor whose thread is running the caller; null on any other thread.</summary>
    public static ShardThreadExecutor? Current => t_current;

    /// <summary>Sockets the thread polls now (any thread may read it: the count after the thread's last change).</summary>
    internal int SocketCount => Volatile.Read(ref _socketCount);

    /// <summary>Timers waiting on the thread, stale ones included (read on the thread).</summary>
    internal int TimerCount => _timers.Count;

    /// <summary>Timers armed on the thread since it started (any thread may read it).</summary>
    internal long TimersArmed => Volatile.Read(ref _timersArmed);

    /// <summary>
    /// On this executor's thread only (an actor it runs): calls <paramref name="timer"/>'s <see cref="IShardTimer.OnDue"/>
    /// with <paramref name="generation"/> on this thread after <paramref name="delay"/> (rounded up to the timer grain),
    /// between mailbox runs. There is no cancellation: the timer compares the generation with its current one.
    /// </summary>
    public void Schedule(TimeSpan delay, IShardTimer timer, int generation)
    {
        ArgumentNullException.ThrowIfNull(timer);
        if (t_current != this)
        {
            throw new InvalidOperationException("A shard timer is armed from its shard's thread only.");
        }

        var due = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(Math.Max(0, delay.TotalSeconds) * System.Diagnostics.Stopwatch.Frequency);
        _timers.Enqueue((timer, generation), (due + _grain - 1) / _grain * _grain);
        Volatile.Write(ref _timersArmed, _timersArmed + 1);
    }

    public override void Execute(IRunnable run)
    {
        _queue.Enqueue(run);
        WakeIfSleeping();
    }

    /// <summary>
    /// Any thread: the thread polls <paramref name="socket"/> from its next turn on, until the socket's
    /// <see cref="IShardSocket.OnReadable"/> or <see cref="IShardSocket.CloseReason"/> ends it, or the executor
    /// shuts down; either way the thread closes it. A socket adopted after the thread ended is closed at once.
    /// </summary>
    public void Adopt(IShardSocket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        lock (_eventLock)
        {
            if (!_ended)
            {
                _adopted.Enqueue(socket);
                Signal();
                return;
            }
        }

        socket.Close("the shard thread has ended");
    }

    /// <summary>Any thread: has the thread look at its sockets' <see cref="IShardSocket.CloseReason"/> soon.</summary>
    public void Wake()
    {
        lock (_eventLock)
        {
            Signal();
        }
    }

    /// <summary>
    /// Runs <paramref name="action"/> on the thread of <paramref name="actor"/>'s dispatcher, with that thread's executor
    /// (null when the actor runs on another kind of dispatcher), after what the dispatcher queued before. A top-level
    /// actor's dispatcher appears once the actor started: a caller in the node's first moments waits for it here, for
    /// up to two seconds, then runs <paramref name="action"/> with null on the calling thread.
    /// </summary>
    public static void RunOnThreadOf(Akka.Actor.IActorRef actor, Action<ShardThreadExecutor?> action)
    {
        ArgumentNullException.ThrowIfNull(actor);
        ArgumentNullException.ThrowIfNull(action);
        for (var waited = 0; actor is Akka.Actor.ActorRefWithCell { Underlying: not Akka.Actor.ActorCell } && waited < 2000; waited += 5)
        {
            Thread.Sleep(5);
        }

        if (actor is Akka.Actor.ActorRefWithCell { Underlying: Akka.Actor.ActorCell cell })
        {
            cell.Dispatcher.Schedule(() => action(Current));
        }
        else
        {
            action(null);
        }
    }

    public override void Shutdown()
    {
        _stopping = true;
        Wake();
    }

    // Wakes the thread when it sleeps (or is about to): a producer that sees the flag takes it and writes the event.
    private void WakeIfSleeping()
    {
        if (Volatile.Read(ref _sleeping) == 1 && Interlocked.CompareExchange(ref _sleeping, 0, 1) == 1)
        {
            Wake();
        }
    }

    // Under _eventLock.
    private void Signal()
    {
        if (!_ended)
        {
            EventFd.Signal(_event);
        }
    }

    private void Loop()
    {
        t_current = this;
        try
        {
            // One batch per family: a session's segments are all of its family, so each keeps its order. The slots are
            // native memory that becomes resident only when written (an IPv4-only replay never touches the IPv6 ones).
            using var batch = new RawIpBatch();
            using var batch6 = new RawIpBatch(batch.Capacity, System.Net.Sockets.AddressFamily.InterNetworkV6);
            _attach?.Invoke(batch, batch6);
            while (!_stopping)
            {
                // What arrived first (the replies the last poll read, packets, messages), then the timers: a session
                // whose answer was read in this turn has it before its retransmission timeout is looked at.
                RunQueue();
                if (RunDueTimers())
                {
                    RunQueue();
                }

                _flush();
                TakeAdopted();
                DropClosing();

                // Sleep only if nothing arrived meanwhile: a producer that sees the flag takes it and wakes us. The
                // exchange is a full fence: the flag is visible before the queue is looked at (a plain write could
                // pass the read, and a producer that enqueued in between would not wake us).
                Interlocked.Exchange(ref _sleeping, 1);
                var idle = _queue.IsEmpty;
                if (!idle)
                {
                    Volatile.Write(ref _sleeping, 0);
                    if (_sockets.Count == 0)
                    {
                        continue;
                    }
                }

                // With work queued, a look at the sockets without waiting, so that a busy queue cannot starve them.
                Poll(idle);
                Volatile.Write(ref _sleeping, 0);
            }
        }
        finally
        {
            t_current = null;
            lock (_eventLock)
            {
                _ended = true;
            }

            TakeAdopted();
            foreach (var socket in _sockets)
            {
                socket.Close("the shard thread stopped");
            }

            _sockets.Clear();
            Volatile.Write(ref _socketCount, 0);
            EventFd.Close(_event);
        }
    }

    // Waits (or only looks, when not idle) for the event or a readable socket, and reads the sockets that are.
    private void Poll(bool idle)
    {
        var count = 1 + _sockets.Count;
        if (_pollFds.Length < count)
        {
            _pollFds = new LibC.PollFd[count * 2];
        }

        _pollFds[0] = new LibC.PollFd { Fd = _event, Events = LibC.PollIn };
        for (var i = 0; i < _sockets.Count; i++)
        {
            _pollFds[i + 1] = new LibC.PollFd { Fd = _sockets[i].Descriptor, Events = LibC.PollIn };
        }

        var timeout = 0L;
        if (idle)
        {
            timeout = _timers.TryPeek(out _, out var due)
                ? Math.Max(0, (long)((due - System.Diagnostics.Stopwatch.GetTimestamp()) * (1e9 / System.Diagnostics.Stopwatch.Frequency)))
                : -1;
        }

        var ready = LibC.PollAll(_pollFds, count, timeout);

        // Awake from here on: what the sockets' reads hand to this thread's actors (a Tell) must not write the event
        // for a thread that is running (the loop looks at its queue before it sleeps again).
        Volatile.Write(ref _sleeping, 0);
        if (ready <= 0)
        {
            return; // nothing (a look), or EINTR: the loop goes round
        }

        if (_pollFds[0].Revents != 0)
        {
            EventFd.Drain(_event);
        }

        // Backwards: a socket that ends is removed without moving the ones not yet read.
        for (var i = _sockets.Count - 1; i >= 0; i--)
        {
            if (_pollFds[i + 1].Revents != 0)
            {
                Read(i);
            }
        }
    }

    private void Read(int index)
    {
        string? reason;
        try
        {
            reason = _sockets[index].OnReadable();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The socket's fault ends the socket, not the shard.
            reason = ex.Message;
        }

        if (reason is not null)
        {
            Remove(index, reason);
        }
    }

    private void RunQueue()
    {
        var runs = 0;
        while (_queue.TryDequeue(out var run))
        {
            run.Run();
            if (++runs % RunsPerFlush == 0)
            {
                _flush();

                // A long queue must not leave a capture ring unread either: what the kernel handed over meanwhile is taken
                // now (into the shards' queues, bounded and counted), so the ring never fills behind a busy turn.
                for (var i = _sockets.Count - 1; i >= 0; i--)
                {
                    if (_sockets[i].ReadyWithoutPoll)
                    {
                        Read(i);
                    }
                }
            }
        }
    }

    // The timers due now, in due order; what they do (a Tell to an actor of this executor) runs in this turn. True when one was due.
    private bool RunDueTimers()
    {
        if (_timers.Count == 0)
        {
            return false;
        }

        var now = System.Diagnostics.Stopwatch.GetTimestamp();
        var ran = false;
        while (_timers.TryPeek(out var timer, out var due) && due <= now)
        {
            ran = true;
            _timers.Dequeue();
            try
            {
                timer.Timer.OnDue(timer.Generation);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // A timer's fault is its owner's (it would have been a failed message); the other timers still run.
                System.Diagnostics.Trace.TraceError($"A shard timer failed: {ex.Message}");
            }
        }

        return ran;
    }

    private void TakeAdopted()
    {
        while (_adopted.TryDequeue(out var socket))
        {
            _sockets.Add(socket);
        }

        Volatile.Write(ref _socketCount, _sockets.Count);
    }

    private void DropClosing()
    {
        for (var i = _sockets.Count - 1; i >= 0; i--)
        {
            if (_sockets[i].CloseReason is { } reason)
            {
                Remove(i, reason);
            }
        }
    }

    private void Remove(int index, string reason)
    {
        var socket = _sockets[index];
        _sockets.RemoveAt(index);
        Volatile.Write(ref _socketCount, _sockets.Count);
        socket.Close(reason);
    }
}

/// <summary>What a <see cref="ShardThreadExecutor"/>'s timer calls when it is due, on the executor's thread.</summary>
internal interface IShardTimer
{
    /// <summary>The timer armed with <paramref name="generation"/> is due (it may have been superseded since).</summary>
    void OnDue(int generation);
}

/// <summary>
/// A socket a <see cref="ShardThreadExecutor"/>'s thread polls beside its work queue and reads when it is readable
/// (a reply channel connection of the shard). All members but <see cref="CloseReason"/> are called on that thread.
/// </summary>
internal interface IShardSocket
{
    /// <summary>The descriptor to poll: a non-blocking socket.</summary>
    int Descriptor { get; }

    /// <summary>
    /// Any thread: set when someone else wants the socket closed (the peer left, it reconnected); the thread then
    /// removes and closes it at its next turn (<see cref="ShardThreadExecutor.Wake"/> makes that soon).
    /// </summary>
    string? CloseReason { get; }

    /// <summary>Reads what the socket holds (a bounded amount); null to keep it, or why it ends.</summary>
    string? OnReadable();

    /// <summary>
    /// On the thread, between mailbox runs of a long queue: true when the socket has something to read that can be seen
    /// without a system call (a capture ring's next block), so the thread reads it before its next poll. False by default.
    /// </summary>
    bool ReadyWithoutPoll => false;

    /// <summary>The thread dropped the socket (it ended, was asked to, or the thread stops): close it. Called once.</summary>
    void Close(string reason);
}

/// <summary>
/// Produces a <see cref="ShardThreadExecutor"/> for a shard dispatcher. Dispatchers are made from HOCON, which
/// cannot carry an object: the node registers its transport under the dispatcher's id before the shards start.
/// </summary>
internal sealed class ShardThreadExecutorConfigurator(Config config, IDispatcherPrerequisites prerequisites)
    : ExecutorServiceConfigurator(config, prerequisites)
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, BatchingSegmentTransport> Transports = new(StringComparer.Ordinal);

    /// <summary>The HOCON of <paramref name="count"/> shard dispatchers named <paramref name="prefix"/>-0 .. -(count-1).</summary>
    public static string Hocon(string prefix, int count) => string.Concat(Enumerable.Range(0, count).Select(i => $$"""
        {{prefix}}-{{i}} {
          type = Dispatcher
          executor = "{{typeof(ShardThreadExecutorConfigurator).AssemblyQualifiedName}}"
          # Messages one actor handles before the thread moves on to the next: sessions get a few packets each
          # per turn, and a turn's segments leave together.
          throughput = 16
        }

        """));

    /// <summary>Makes the dispatcher <paramref name="id"/> send through <paramref name="transport"/>'s per-thread batches.</summary>
    public static void Register(string id, BatchingSegmentTransport transport) => Transports[id] = transport;

    public override ExecutorService Produce(string id)
    {
        Transports.TryGetValue(id, out var transport);
        // The timer grain is Akka's scheduler's (hocon/common.hocon, akka.scheduler.tick-duration): the precision
        // sessions had on it, and at most one timer wake-up per grain.
        var grain = Prerequisites.Settings.Config.GetTimeSpan("akka.scheduler.tick-duration", TimeSpan.FromMilliseconds(10));
        return new ShardThreadExecutor(id, id, transport is null ? () => { } : transport.FlushThread,
            transport is null ? null : BatchingSegmentTransport.AttachBatches, grain);
    }
}
