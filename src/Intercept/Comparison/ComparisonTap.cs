using Akka.Actor;
using Microsoft.Extensions.Logging;
using ReplayCluster.Comparison;
using ReplayCluster.Configuration;
using ReplayCluster.Membership;
using ReplayCluster.Packets;
using ReplayCluster.PacketIO;
using ReplayCluster.Protocol;
using ReplayCluster.Statistics;

namespace ReplayCluster.Intercept.Comparison;

/// <summary>Bounds of the intercept's comparison tap (documented defaults; every overflow counted).</summary>
internal sealed record ComparisonTapOptions
{
    /// <summary>Reply bytes forwarded per compared session. Defaults to 4 MiB (the capture node's own per-session bound).</summary>
    public long MaxSessionBytes { get; init; } = 4L * 1024 * 1024;

    /// <summary>Reply bytes waiting to be sent to capture nodes. Defaults to 16 MiB (a 10 ms flush at 1.6 GB/s).</summary>
    public long MaxPendingBytes { get; init; } = 16L * 1024 * 1024;

    /// <summary>
    /// Reply segments of sessions not (yet) known to be compared, kept in case their capture node's word arrives after
    /// their first replies (it travels beside the replay, not ahead of it). Defaults to 4096 segments, 4 MiB, 2 s.
    /// </summary>
    public int MaxEarlySegments { get; init; } = 4096;

    public long MaxEarlyBytes { get; init; } = 4L * 1024 * 1024;

    public TimeSpan EarlyWindow { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>A compared session the capture node never ended is forgotten after this long without a reply. Defaults to 5 min.</summary>
    public TimeSpan ForgetAfter { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How often replies go to the capture nodes. Defaults to 10 ms: comparison is not latency-critical.</summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromMilliseconds(10);
}

/// <summary>Counters of the tap, added to the intercept's statistics as <c>comparison_*</c>.</summary>
internal sealed class ComparisonTapCounters
{
    private long _sessions;
    private long _segments;
    private long _bytes;
    private long _droppedSessionBytes;
    private long _droppedPending;
    private long _earlyRecovered;
    private long _refused;
    private string? _captureFilter;

    public void Session() => Interlocked.Increment(ref _sessions);

    public void Forwarded(int bytes)
    {
        Interlocked.Increment(ref _segments);
        Interlocked.Add(ref _bytes, bytes);
    }

    public void DroppedSessionBytes() => Interlocked.Increment(ref _droppedSessionBytes);

    public void DroppedPending() => Interlocked.Increment(ref _droppedPending);

    public void EarlyRecovered(int count) => Interlocked.Add(ref _earlyRecovered, count);

    public void Refused() => Interlocked.Increment(ref _refused);

    /// <summary>
    /// The filter of the tap's whole-reply capture while it is open, null while it is closed: the intercept's
    /// <c>/readyz</c> detail <c>comparisonFilter</c>, what a caller waits on to know compared replies are taken.
    /// </summary>
    public string? CaptureFilter
    {
        get => Volatile.Read(ref _captureFilter);
        set => Volatile.Write(ref _captureFilter, value);
    }

    /// <summary>Adds the tap's counters to the intercept's catalogue, each read from its own field.</summary>
    public void Publish(NodeMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        metrics.Counter("comparison_sessions", "{session}", "Response comparison tap: compared sessions whose replies it took.", () => Interlocked.Read(ref _sessions));
        metrics.Counter("comparison_segments_forwarded", "{segment}", "Response comparison tap: reply segments sent to capture nodes.", () => Interlocked.Read(ref _segments));
        metrics.Counter("comparison_bytes_forwarded", "By", "Response comparison tap: reply bytes sent to capture nodes.", () => Interlocked.Read(ref _bytes));
        metrics.Counter("comparison_dropped_session_too_large", "{segment}", "Response comparison tap: segments dropped past a session's byte bound.",
            () => Interlocked.Read(ref _droppedSessionBytes));
        metrics.Counter("comparison_dropped_pending_full", "{segment}", "Response comparison tap: segments dropped while the pending bound was full.",
            () => Interlocked.Read(ref _droppedPending));
        metrics.Counter("comparison_early_segments_recovered", "{segment}", "Response comparison tap: segments kept before their session was named and sent after.",
            () => Interlocked.Read(ref _earlyRecovered));
        metrics.Counter("comparison_messages_refused", "{message}", "Response comparison tap: compare messages refused.", () => Interlocked.Read(ref _refused));
    }
}

/// <summary>
/// The intercept's side of response comparison. The reply capture of the replay stays header-only (256-byte snap
/// length, every session); comparison needs whole replies of a few sessions, so this actor opens a second capture on
/// the same interface, only once a capture node names a compared session: full snap length, a BPF filter that keeps
/// only reply packets that carry bytes or open or close a stream (no pure ACKs), and in user space only the sessions
/// capture nodes named. Their segments go to the capture node's collector in batches every
/// <see cref="ComparisonTapOptions.FlushInterval"/>; everything it holds is bounded and every drop counted.
/// </summary>
/// <remarks>
/// Why not a filter per compared session: the set changes with every session started, recompiling and swapping the
/// kernel filter that often costs more than the user-space lookup, and a session's first replies would be lost in
/// the swap. Why not a full snap length on the replay's capture: every reply would then cost its payload copy, compared
/// or not. A capture node's word can arrive after a session's first replies (it travels beside the replay), so replies
/// of sessions not named yet wait briefly in a bounded early buffer.
/// </remarks>
internal sealed partial class ComparisonTap : ReceiveActor, IWithTimers
{
    private readonly string _interface;
    private readonly string _filter;
    private readonly ComparisonTapOptions _options;
    private readonly ComparisonTapCounters _counters;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ClusterSenders _senders;
    private readonly Lock _lock = new();
    private readonly Dictionary<SessionEndpoints, Entry> _compared = [];
    private readonly LinkedList<(SessionEndpoints Endpoints, TargetSegment Segment, long At)> _early = new();
    private readonly Dictionary<SessionEndpoints, long> _young = [];
    private Dictionary<IActorRef, List<TargetSegment>> _pending = [];
    private long _earlyBytes;
    private long _pendingBytes;
    private LiveCapture? _capture;
    private bool _failed;
    private long _lastWord;

    /// <summary>Without a word from any capture node this long (they send one every 5 s while comparing), the tap closes its capture.</summary>
    internal static readonly TimeSpan CloseAfterSilence = TimeSpan.FromSeconds(30);

    public ComparisonTap(string captureInterface, string replyFilter, ComparisonTapOptions options, ComparisonTapCounters counters, TimeProvider time, ILogger logger,
        ClusterSenders? senders = null)
    {
        _interface = captureInterface;
        _filter = FilterOf(replyFilter);
        _options = options;
        _counters = counters;
        _time = time;
        _logger = logger;
        _senders = senders ?? ClusterSenders.Of(Context.System);
        Receive<CompareSessions>(OnCompare);
        Receive<Flush>(_ => OnFlush());
        Receive<Sweep>(_ => OnSweep());
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string captureInterface, string replyFilter, ComparisonTapOptions options, ComparisonTapCounters counters, TimeProvider time,
        ILogger logger, ClusterSenders? senders = null) =>
        Akka.Actor.Props.Create(() => new ComparisonTap(captureInterface, replyFilter, options, counters, time, logger, senders));

    /// <summary>The intercept's reply filter narrowed to packets that carry bytes, or a SYN, FIN or RST.</summary>
    internal static string FilterOf(string replyFilter) =>
        $"({replyFilter}) and {StreamChangeFilter.Term}";

    protected override void PostStop() => CloseCapture();

    private void CloseCapture()
    {
        if (_capture is null)
        {
            return;
        }

        try
        {
            _capture.Stop();
        }
        catch (LiveCaptureException)
        {
            // It failed already.
        }

        _capture.Dispose();
        _capture = null;
        _counters.CaptureFilter = null;
        lock (_lock)
        {
            _early.Clear();
            _young.Clear();
            _earlyBytes = 0;
        }
    }

    private void OnCompare(CompareSessions compare)
    {
        if (_senders.Check(Sender, NodeRoles.Capture) != SenderVerdict.Accepted || _senders.Check(compare.Owner.Path.Address, NodeRoles.Capture) != SenderVerdict.Accepted)
        {
            _counters.Refused();
            Log.Refused(_logger, Sender.Path.ToString(), compare.Owner.Path.ToString());
            return;
        }

        // Any word from a capture node means comparison is on: capture from now on, before its first compared session.
        var now = _time.GetTimestamp();
        _lastWord = now;
        EnsureCapturing();
        lock (_lock)
        {
            foreach (var ended in compare.Ended)
            {
                _compared.Remove(ended);
            }

            foreach (var started in compare.Started)
            {
                _counters.Session();
                var entry = new Entry(compare.Owner) { LastSeen = now };
                _compared[started] = entry;
                var recovered = 0;
                for (var node = _early.First; node is not null;)
                {
                    var next = node.Next;
                    if (node.Value.Endpoints == started)
                    {
                        _early.Remove(node);
                        _earlyBytes -= node.Value.Segment.Payload.Length;
                        Forward(entry, node.Value.Segment);
                        recovered++;
                    }

                    node = next;
                }

                _counters.EarlyRecovered(recovered);
            }
        }
    }

    private void EnsureCapturing()
    {
        if (_capture is not null || _failed)
        {
            return;
        }

        try
        {
            _capture = LiveCapture.Open(new LiveCaptureOptions { Interface = _interface, Filter = _filter, BufferSizeBytes = 16 * 1024 * 1024 });
            _capture.Start(OnFrame);
            Timers.StartPeriodicTimer("flush", Flush.Instance, _options.FlushInterval);
            if (!Timers.IsTimerActive("sweep"))
            {
                Timers.StartPeriodicTimer("sweep", Sweep.Instance, TimeSpan.FromSeconds(10));
            }

            _counters.CaptureFilter = _filter;
            Log.Capturing(_logger, _interface, _filter);
        }
        catch (LiveCaptureException ex)
        {
            // The replay goes on; only comparison is off on this intercept, and says so once.
            _failed = true;
            _capture = null;
            Log.CaptureFailed(_logger, _interface, ex.Message);
        }
    }

    /// <summary>On the tap's capture thread.</summary>
    private void OnFrame(ReadOnlySpan<byte> frame, in FrameInfo info)
    {
        if (PacketParser.TryParseAny(frame, LinkTypes.FromPcap(info.LinkType), out var packet) != ParseResult.Ok || packet.Truncated)
        {
            return;
        }

        var endpoints = new SessionEndpoints(packet.DestinationAddress, packet.DestinationPort, packet.SourceAddress, packet.SourcePort);
        var now = _time.GetTimestamp();
        lock (_lock)
        {
            if (_compared.TryGetValue(endpoints, out var entry))
            {
                entry.LastSeen = now;
                Forward(entry, Segment(endpoints, packet, frame));
                return;
            }

            // Only the first moments of a session can arrive before its capture node names it: its SYN-ACK opens
            // the window, and a session past it (every reply of a long keep-alive session) costs no copy here.
            if ((packet.Flags & TcpFlags.Syn) != 0)
            {
                if (_young.Count >= _options.MaxEarlySegments)
                {
                    PruneYoung(now);
                }

                _young[endpoints] = now;
            }
            else if (!_young.TryGetValue(endpoints, out var born) || _time.GetElapsedTime(born, now) > _options.EarlyWindow)
            {
                return;
            }

            var segment = Segment(endpoints, packet, frame);
            _early.AddLast((endpoints, segment, now));
            _earlyBytes += segment.Payload.Length;
            while (_early.First is { } oldest
                && (_early.Count > _options.MaxEarlySegments || _earlyBytes > _options.MaxEarlyBytes || _time.GetElapsedTime(oldest.Value.At, now) > _options.EarlyWindow))
            {
                _early.RemoveFirst();
                _earlyBytes -= oldest.Value.Segment.Payload.Length;
            }
        }
    }

    private static TargetSegment Segment(SessionEndpoints endpoints, in AnyTcpPacket packet, ReadOnlySpan<byte> frame) =>
        new(endpoints, packet.Sequence, (byte)packet.Flags,
            packet.PayloadLength == 0 ? ReadOnlyMemory<byte>.Empty : frame.Slice(packet.PayloadOffset, packet.PayloadLength).ToArray());

    /// <summary>Under the lock: forgets sessions past their early window (all of them if none is, the map stays bounded).</summary>
    private void PruneYoung(long now)
    {
        foreach (var (endpoints, born) in _young)
        {
            if (_time.GetElapsedTime(born, now) > _options.EarlyWindow)
            {
                _young.Remove(endpoints);
            }
        }

        if (_young.Count >= _options.MaxEarlySegments)
        {
            _young.Clear();
        }
    }

    /// <summary>Under the lock.</summary>
    private void Forward(Entry entry, TargetSegment segment)
    {
        var length = segment.Payload.Length;
        if (entry.Bytes + length > _options.MaxSessionBytes)
        {
            _counters.DroppedSessionBytes();
            return;
        }

        if (_pendingBytes + length > _options.MaxPendingBytes)
        {
            _counters.DroppedPending();
            return;
        }

        entry.Bytes += length;
        _pendingBytes += length;
        if (!_pending.TryGetValue(entry.Owner, out var list))
        {
            _pending[entry.Owner] = list = [];
        }

        list.Add(segment);
    }

    private void OnFlush()
    {
        Dictionary<IActorRef, List<TargetSegment>> pending;
        lock (_lock)
        {
            if (_pending.Count == 0)
            {
                return;
            }

            pending = _pending;
            _pending = [];
            _pendingBytes = 0;
        }

        foreach (var (owner, segments) in pending)
        {
            var batch = new List<TargetSegment>();
            var bytes = 0;
            foreach (var segment in segments)
            {
                if (batch.Count > 0 && (batch.Count >= TargetReplySegments.MaxSegments || bytes + segment.Payload.Length > TargetReplySegments.MaxPayloadBytes))
                {
                    owner.Tell(new TargetReplySegments(batch), Self);
                    batch = [];
                    bytes = 0;
                }

                // A segment larger than a message (a GRO super-segment) goes in parts.
                for (var offset = 0; offset < Math.Max(1, segment.Payload.Length); offset += TargetReplySegments.MaxPayloadBytes)
                {
                    var part = segment.Payload.Slice(offset, Math.Min(TargetReplySegments.MaxPayloadBytes, segment.Payload.Length - offset));
                    if (batch.Count > 0 && bytes + part.Length > TargetReplySegments.MaxPayloadBytes)
                    {
                        owner.Tell(new TargetReplySegments(batch), Self);
                        batch = [];
                        bytes = 0;
                    }

                    batch.Add(segment with { Sequence = unchecked(segment.Sequence + (uint)offset), Payload = part });
                    bytes += part.Length;
                    _counters.Forwarded(part.Length);
                }
            }

            if (batch.Count > 0)
            {
                owner.Tell(new TargetReplySegments(batch), Self);
            }
        }
    }

    private void OnSweep()
    {
        if (_capture is not null && _time.GetElapsedTime(_lastWord) > CloseAfterSilence)
        {
            // Comparison is off everywhere: off costs nothing here either.
            CloseCapture();
            Timers.Cancel("flush");
            Log.Closed(_logger, _interface);
        }

        lock (_lock)
        {
            foreach (var (endpoints, entry) in _compared.ToList())
            {
                if (_time.GetElapsedTime(entry.LastSeen) > _options.ForgetAfter)
                {
                    _compared.Remove(endpoints);
                }
            }
        }
    }

    private sealed class Entry(IActorRef owner)
    {
        public IActorRef Owner { get; } = owner;

        public long Bytes { get; set; }

        public long LastSeen { get; set; }
    }

    private sealed class Flush
    {
        public static readonly Flush Instance = new();
    }

    private sealed class Sweep
    {
        public static readonly Sweep Instance = new();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 330, Level = LogLevel.Information, Message = "Capturing whole replies of compared sessions on {Interface} ({Filter})")]
        public static partial void Capturing(ILogger logger, string @interface, string filter);

        [LoggerMessage(EventId = 333, Level = LogLevel.Warning, Message = "Refused compared sessions from {Sender} for {Owner}: only capture nodes of the cluster name them")]
        public static partial void Refused(ILogger logger, string sender, string owner);

        [LoggerMessage(EventId = 332, Level = LogLevel.Information, Message = "No capture node compares any more: the comparison tap on {Interface} is closed")]
        public static partial void Closed(ILogger logger, string @interface);

        [LoggerMessage(EventId = 331, Level = LogLevel.Warning, Message = "The comparison tap could not capture on {Interface}: {Reason}; no reply is compared (the replay goes on)")]
        public static partial void CaptureFailed(ILogger logger, string @interface, string reason);
    }
}
