using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ReplayCluster.PacketIO;

namespace ReplayCluster.Memory;

/// <summary>
/// Gives back to the system the native memory a node's start left free but mapped, once the node has been ready for a
/// while (<see cref="MemoryTrimPolicy"/> says when; <c>replaycluster.node.trim-memory-after</c>).
/// </summary>
/// <remarks>
/// Starting a node compiles ~3,300 methods, and its first minute's periodic work (cluster ticks, TLS handshakes, the
/// first reports) compiles more; the JIT's and OpenSSL's working memory comes from malloc and is freed afterwards,
/// but glibc keeps freed chunks that are not at the top of a heap mapped, so an idle node kept 8-12 MB of free native
/// heap resident for its whole life. <c>malloc_trim(0)</c> gives those pages back (<c>madvise</c>) and leaves what
/// is in use where it is: 2-4 ms, no pause of other threads beyond malloc's own locks. Before it, while the managed
/// heap is still a start-up heap, one compacting full GC and its finalizers give back 2-5 MB more. Once, not after
/// every replay: after a ~1k connections/s replay the capture node had nothing left to give back this way (its growth
/// was the managed heap's), bench/README.md "Given back after start".
/// </remarks>
internal sealed partial class MemoryTrimmer : IHostedService, IDisposable
{
    /// <summary>
    /// The start trim compacts the managed heap first only below this size: with a start-up heap (3-7 MB committed
    /// idle) GC and trim took 8-19 ms; a node whose heap a replay has already grown is left to the GC.
    /// </summary>
    private const long CompactingHeapLimit = 32L << 20;

    private readonly Func<bool> _ready;
    private readonly TimeProvider _time;
    private readonly ILogger<MemoryTrimmer> _logger;
    private readonly MemoryTrimPolicy _policy;
    private readonly Lock _gate = new();
    private ITimer? _timer;
    private long _startTimestamp;
    private bool _stopped;

    /// <param name="ready">Whether the node is ready (its <c>/readyz</c>), asked only until it is.</param>
    /// <param name="settle">How long the node is ready before the start trim.</param>
    /// <param name="time">The clock.</param>
    /// <param name="logger">Where each trim is said.</param>
    public MemoryTrimmer(Func<bool> ready, TimeSpan settle, TimeProvider time, ILogger<MemoryTrimmer> logger)
    {
        _ready = ready;
        _time = time;
        _logger = logger;
        _policy = new MemoryTrimPolicy(settle);
    }

    /// <summary>Trims done so far (0 or 1), for tests.</summary>
    public int Trims { get; private set; }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _startTimestamp = _time.GetTimestamp();
        _timer = _time.CreateTimer(_ => Tick(), null, MemoryTrimPolicy.ReadyPoll, Timeout.InfiniteTimeSpan);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _stopped = true;
            _timer?.Dispose();
        }

        return Task.CompletedTask;
    }

    public void Dispose() => _timer?.Dispose();

    private void Tick()
    {
        lock (_gate)
        {
            if (_stopped)
            {
                return;
            }

            var (trim, next) = _policy.OnTick(_time.GetElapsedTime(_startTimestamp), _ready);
            if (trim)
            {
                Trim();
            }

            if (next is { } delay)
            {
                _timer?.Change(delay, Timeout.InfiniteTimeSpan);
            }
            else
            {
                _timer?.Dispose();
            }
        }
    }

    private void Trim()
    {
        var before = Environment.WorkingSet;
        var started = _time.GetTimestamp();
        if (GC.GetGCMemoryInfo().HeapSizeBytes <= CompactingHeapLimit)
        {
            // While the heap is a start-up heap: what it frees and what the finalizers it runs free natively
            // (OpenSSL and certificate handles of the join) go back with the trim below.
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        try
        {
            _ = LibC.malloc_trim(0);
        }
        catch (EntryPointNotFoundException)
        {
            // Not glibc (musl has none): what the GC above gave back is all.
            NativeTrimMissing(_logger);
            return;
        }

        Trims++;
        Trimmed(_logger, before >> 20, Environment.WorkingSet >> 20, _time.GetElapsedTime(started).TotalMilliseconds);
    }

    [LoggerMessage(EventId = 1600, Level = LogLevel.Information, Message = "Memory the start left free given back: resident {BeforeMb} -> {AfterMb} MB in {Ms:F1} ms")]
    private static partial void Trimmed(ILogger logger, long beforeMb, long afterMb, double ms);

    [LoggerMessage(EventId = 1601, Level = LogLevel.Information, Message = "malloc_trim is not in this C library: freed native memory stays mapped until exit")]
    private static partial void NativeTrimMissing(ILogger logger);
}
