using Akka.Configuration;
using Akka.Dispatch;
using ReplayCluster.PacketIO;

namespace ReplayCluster.Capture.Sending;

/// <summary>
/// Runs one session shard and all of its session actors on one dedicated thread (an Akka.NET executor for that
/// shard's dispatcher). A connection's packets, its replies and its timers are then handled where its session
/// lives: no hand-over between threads inside a shard, and one place where a "turn" ends. When the thread has
/// run everything queued, it sends the segments its sessions built (one <c>sendmmsg</c>) and sleeps until new
/// work arrives: no spinning, no timer, nothing burnt while idle.
/// </summary>
internal sealed class ShardThreadExecutor : ExecutorService
{
    // A long queue must not hold built segments back: send after this many mailbox runs at the latest.
    private const int RunsPerFlush = 32;

    private readonly System.Collections.Concurrent.ConcurrentQueue<IRunnable> _queue = new();
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 1);
    private readonly Thread _thread;
    private readonly Action _flush;
    private readonly Action<RawIpBatch>? _attach;
    private int _sleeping;
    private volatile bool _stopping;

    public ShardThreadExecutor(string id, string threadName, Action flush, Action<RawIpBatch>? attach) : base(id)
    {
        _flush = flush;
        _attach = attach;
        _thread = new Thread(Loop) { IsBackground = true, Name = threadName };
        _thread.Start();
    }

    public override void Execute(IRunnable run)
    {
        _queue.Enqueue(run);
        if (Volatile.Read(ref _sleeping) == 1 && Interlocked.CompareExchange(ref _sleeping, 0, 1) == 1)
        {
            _wake.Set();
        }
    }

    public override void Shutdown()
    {
        _stopping = true;
        Interlocked.Exchange(ref _sleeping, 0);
        _wake.Set();
    }

    private void Loop()
    {
        using var batch = new RawIpBatch();
        _attach?.Invoke(batch);
        while (!_stopping)
        {
            var runs = 0;
            while (_queue.TryDequeue(out var run))
            {
                run.Run();
                if (++runs % RunsPerFlush == 0)
                {
                    _flush();
                }
            }

            _flush();

            // Sleep only if nothing arrived meanwhile: a producer that sees the flag takes it and wakes us.
            Volatile.Write(ref _sleeping, 1);
            if (!_queue.IsEmpty && Interlocked.CompareExchange(ref _sleeping, 0, 1) == 1)
            {
                continue;
            }

            _wake.Wait();
            _wake.Reset();
        }
    }
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
        return new ShardThreadExecutor(id, id, transport is null ? () => { } : transport.FlushThread,
            transport is null ? null : BatchingSegmentTransport.AttachBatch);
    }
}
