using ReplayCluster.Capture.Sending;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.PacketIO;

namespace ReplayCluster.Capture.Capturing;

/// <summary>
/// The live capture read by the shard threads themselves: one ring per shard, the members of one PACKET_FANOUT group,
/// so the kernel gives every connection to one shard and the shard's thread reads it beside its reply channel sockets
/// and its timers (<see cref="ShardThreadExecutor"/>). A captured packet is parsed, staged and handed to its session on
/// the thread that read it: no capture thread to wake for each burst and no hand-over to wake the shard after it.
/// </summary>
/// <remarks>
/// The capture thread's path (<see cref="LiveCapture"/>) stays for what this cannot read: the libpcap reader, the
/// <c>any</c> interface, shards on the thread pool. Each member is read, re-filtered and closed on its shard's thread
/// only; its ring is unmapped (<see cref="Dispose"/>) once every thread let go of it.
/// </remarks>
internal sealed class ShardCapture : IDisposable
{
    // How long a stop or a filter change waits for the shard threads (each does it in its next turn).
    private static readonly TimeSpan ThreadTurnTimeout = TimeSpan.FromSeconds(5);

    private readonly FanoutCapture _fanout;
    private readonly Reader[] _readers;
    private volatile bool _stopping;

    private ShardCapture(FanoutCapture fanout, Reader[] readers)
    {
        _fanout = fanout;
        _readers = readers;
    }

    /// <summary>The interface, filter and total ring size.</summary>
    public LiveCaptureOptions Options => _fanout.Options;

    /// <summary>The kernel's counters over all members. Any thread.</summary>
    public CaptureStatistics Statistics => _fanout.Statistics;

    /// <summary>
    /// Hands member <c>i</c> of <paramref name="fanout"/> to shard <c>i</c>'s thread, which reads it from its next turn
    /// on with <paramref name="handlerFor"/>(<c>i</c>) and hands what it staged to the shard after each read
    /// (<see cref="SessionShards.Flush(int)"/>). <paramref name="onFault"/> runs (on the thread pool) when a member
    /// ended on a failure, not on <see cref="Stop"/>: its interface went away, or the handler threw.
    /// </summary>
    public static ShardCapture Start(FanoutCapture fanout, SessionShards shards, Func<int, FrameHandler> handlerFor, Action<Exception> onFault)
    {
        ArgumentNullException.ThrowIfNull(fanout);
        ArgumentNullException.ThrowIfNull(shards);
        ArgumentNullException.ThrowIfNull(handlerFor);
        if (fanout.Members.Count != shards.Count)
        {
            throw new ArgumentException($"{fanout.Members.Count} capture rings for {shards.Count} shards", nameof(fanout));
        }

        var capture = new ShardCapture(fanout, new Reader[shards.Count]);
        for (var i = 0; i < shards.Count; i++)
        {
            var index = i;
            var reader = new Reader(capture, shards.Refs[i], fanout.Members[i], handlerFor(i), () => shards.Flush(index), onFault);
            capture._readers[i] = reader;
            ShardThreadExecutor.RunOnThreadOf(shards.Refs[i], reader.AdoptBy);
        }

        return capture;
    }

    /// <summary>
    /// Replaces every member's filter, each on its shard's thread; returns when all did.
    /// </summary>
    /// <exception cref="LiveCaptureException">A member refused the filter (it does not compile) or its thread did not answer.</exception>
    public void ChangeFilter(string filter)
    {
        var changes = _readers.Select(reader => reader.OnItsThread(() => reader.Member.ChangeFilter(filter))).ToArray();
        try
        {
            if (!Task.WaitAll(changes, ThreadTurnTimeout))
            {
                throw new LiveCaptureException($"the filter \"{filter}\" on '{Options.Interface}' was not installed by every shard thread within {ThreadTurnTimeout.TotalSeconds} s");
            }
        }
        catch (AggregateException ex) when (ex.InnerException is LiveCaptureException refusal)
        {
            throw refusal;
        }
    }

    /// <summary>
    /// Has every shard thread stop reading its member (after handing its shard what it read) and waits for them; true
    /// when all did within the timeout. Frames still in the rings are not read.
    /// </summary>
    public bool Stop()
    {
        _stopping = true;
        foreach (var reader in _readers)
        {
            reader.RequestClose("the capture stopped");
        }

        return Task.WaitAll([.. _readers.Select(r => r.Closed.Task)], ThreadTurnTimeout);
    }

    /// <summary>Unmaps the rings and closes the sockets, if every thread let go of its member (<see cref="Stop"/>).</summary>
    public void Dispose()
    {
        // A thread that still holds its member could read an unmapped ring: then the rings stay until the process ends.
        if (_readers.All(r => r.Closed.Task.IsCompleted))
        {
            _fanout.Dispose();
        }
    }

    /// <summary>One member, polled and read by its shard's thread.</summary>
    private sealed class Reader(ShardCapture owner, Akka.Actor.IActorRef shard, FanoutCaptureMember member, FrameHandler handler, Action flush, Action<Exception> onFault) : IShardSocket
    {
        private volatile string? _closeReason;
        private ShardThreadExecutor? _host;
        private Exception? _fault;

        public FanoutCaptureMember Member => member;

        public TaskCompletionSource Closed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Descriptor => member.FileDescriptor;

        public string? CloseReason => _closeReason;

        public bool ReadyWithoutPoll => member.HasBlock;

        // On the shard's thread (RunOnThreadOf); a shard on the thread pool has no thread to read on.
        public void AdoptBy(ShardThreadExecutor? host)
        {
            if (host is null)
            {
                _fault = new InvalidOperationException($"shard {member.Index} does not run on a shard thread (shard-threads = off): it cannot read a capture ring");
                Close(_fault.Message);
                return;
            }

            Volatile.Write(ref _host, host);
            host.Adopt(this);
        }

        public void RequestClose(string reason)
        {
            _closeReason ??= reason;
            Volatile.Read(ref _host)?.Wake();
        }

        // Runs an action on this member's thread, queued behind its adoption.
        public Task OnItsThread(Action action)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            ShardThreadExecutor.RunOnThreadOf(shard, host =>
            {
                try
                {
                    if (host is null)
                    {
                        throw new LiveCaptureException($"capture ring {member.Index} has no shard thread");
                    }

                    action();
                    done.SetResult();
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    done.SetException(ex);
                }
            });
            return done.Task;
        }

        public string? OnReadable()
        {
            int blocks;
            try
            {
                blocks = member.Dispatch(handler);
                if (blocks == 0)
                {
                    // Readable with no block handed over: the socket has an error to report (POLLERR), or nothing.
                    member.ThrowIfSocketError();
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                _fault = ex;
                return ex.Message;
            }
            finally
            {
                // What this read staged reaches the shard in its next turn, on this thread: no wake-up.
                flush();
            }

            return _closeReason;
        }

        public void Close(string reason)
        {
            Closed.TrySetResult();
            if (!owner._stopping)
            {
                // The shard thread stopping with the actor system is not a capture failure; a socket error or a handler fault is.
                if (_fault is { } fault)
                {
                    _ = Task.Run(() => onFault(fault));
                }
            }
        }
    }
}
