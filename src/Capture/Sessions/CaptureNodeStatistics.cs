using System.Collections.Concurrent;
using System.Text;
using ReplayCluster.Statistics;

namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// The capture node's counters: written by the capture thread and the session manager, read by the
/// statistics log (and, later, the coordinator). Every way a session or request is lost has a name.
/// </summary>
internal sealed class CaptureNodeStatistics
{
    private readonly ConcurrentDictionary<SessionEndReason, long> _ended = new();

    // Session actors add their progress from many threads; the summary reads a consistent total.
    private readonly Lock _sessionsLock = new();
    private long _packetsCaptured;
    private long _packetsRejected;
    private long _packetsTruncated;
    private long _packetsIgnored;
    private long _requestsOnline;

    public long PacketsCaptured => Interlocked.Read(ref _packetsCaptured);

    public long PacketsRejected => Interlocked.Read(ref _packetsRejected);

    public long PacketsTruncated => Interlocked.Read(ref _packetsTruncated);

    /// <summary>Packets of no session (pure ACKs of unknown connections).</summary>
    public long PacketsIgnored => Interlocked.Read(ref _packetsIgnored);

    public long SessionsStarted { get; set; }

    public long SessionsFailed { get; set; }

    public long SessionsWithoutIdentity { get; set; }

    /// <summary>Sessions left out by sampling (not a loss: asked for).</summary>
    public long SessionsSkipped { get; set; }

    /// <summary>Sessions (copies) not started because the plan's rate cap was reached (asked for).</summary>
    public long SessionsRateLimited { get; set; }

    /// <summary>The replay plan version this node follows; 0 for its own settings only.</summary>
    public long PlanVersion { get; set; }

    /// <summary>New sessions refused because the node's buffer budget was exhausted.</summary>
    public long SessionsRefusedMemory { get; set; }

    /// <summary>The node's buffer budget, once the manager runs.</summary>
    public BufferBudget? Budget { get; set; }

    public long ResponsesUnmatched { get; set; }

    public long LiveSessions { get; set; }

    /// <summary>The raw socket's counters, when the node sends for real.</summary>
    public PacketIO.RawIpSender? Sender { get; set; }

    /// <summary>Reads the kernel's capture counters (received, dropped), when capturing live.</summary>
    public Func<PacketIO.CaptureStatistics>? Kernel { get; set; }

    /// <summary>Totals over all sessions, live ones included up to their last progress report (about a second).</summary>
    public SessionCounters Sessions { get; } = new();

    /// <summary>Reply latencies of all sessions, recorded as they happen (not with the progress reports).</summary>
    public ReplyLatencyHistogram ReplyLatency { get; } = new();

    /// <summary>Reply records' relay latencies, intercept capture to this node's session manager (see <c>ResponseBatch.RecordRelayLatency</c>).</summary>
    public LatencyHistogram RelayLatency { get; } = new(LatencyHistogramLayout.RelayLatency);

    public IReadOnlyDictionary<SessionEndReason, long> EndedByReason => _ended;

    public void CountCaptured() => Interlocked.Increment(ref _packetsCaptured);

    public void CountRejected() => Interlocked.Increment(ref _packetsRejected);

    public void CountTruncated() => Interlocked.Increment(ref _packetsTruncated);

    public void CountIgnored() => Interlocked.Increment(ref _packetsIgnored);

    /// <summary>
    /// Requests the online server was sent, counted once however many copies replay them (only the
    /// first copy of each connection counts): target / online is the amplification.
    /// </summary>
    public long RequestsOnline => Interlocked.Read(ref _requestsOnline);

    /// <summary>Adds what a live session did since its last report (thread-safe).</summary>
    public void AddProgress(SessionCounters delta, bool firstCopy = true)
    {
        lock (_sessionsLock)
        {
            Sessions.Add(delta);
            if (firstCopy)
            {
                _requestsOnline += delta.RequestsCaptured;
            }
        }
    }

    /// <summary>Counts an ended session and adds what it did since its last report (thread-safe).</summary>
    public void AddEnded(SessionEndReason reason, SessionCounters delta, bool firstCopy = true)
    {
        _ended.AddOrUpdate(reason, 1, (_, n) => n + 1);
        AddProgress(delta, firstCopy);
    }

    private string SenderSummary() => Sender is { } s
        ? $" | raw sent={s.Sent} failed={s.Failed} (eperm={s.FailedNotPermitted} emsgsize={s.FailedTooBig} enobufs={s.FailedNoBuffers} other={s.FailedOther})"
        : string.Empty;

    private string KernelSummary()
    {
        if (Kernel is null)
        {
            return string.Empty;
        }

        var kernel = Kernel();
        return $" | kernel received={kernel.Received} dropped={kernel.KernelDropped} if-dropped={kernel.InterfaceDropped}";
    }

    /// <summary>The counters reported to the coordinator (cumulative, snake_case as in /metrics).</summary>
    public IReadOnlyDictionary<string, long> ToCounters()
    {
        SessionCounters e;
        lock (_sessionsLock)
        {
            e = Sessions.Snapshot();
        }

        var counters = new Dictionary<string, long>
        {
            ["packets_captured"] = PacketsCaptured,
            ["packets_rejected"] = PacketsRejected,
            ["packets_truncated"] = PacketsTruncated,
            ["sessions_started"] = SessionsStarted,
            ["sessions_live"] = LiveSessions,
            ["sessions_failed"] = SessionsFailed,
            ["sessions_refused_memory"] = SessionsRefusedMemory,
            ["sessions_without_identity"] = SessionsWithoutIdentity,
            ["sessions_skipped"] = SessionsSkipped,
            ["sessions_rate_limited"] = SessionsRateLimited,
            ["plan_version"] = PlanVersion,
            ["requests_online"] = RequestsOnline,
            ["requests_captured"] = e.RequestsCaptured,
            ["requests_delivered"] = e.RequestsDelivered,
            ["segments_sent"] = e.SegmentsSent,
            ["retransmissions"] = e.Retransmissions,
            ["reconnects"] = e.Reconnects,
            ["response_bytes"] = e.ResponseBytes,
            ["buffered_bytes"] = Budget?.Used ?? 0,
            ["raw_send_failed"] = Sender?.Failed ?? 0,
        };
        if (Kernel is not null)
        {
            var kernel = Kernel();
            counters["kernel_dropped"] = kernel.KernelDropped;
        }

        foreach (var (reason, count) in _ended)
        {
            counters[$"sessions_ended_{reason.ToString().ToLowerInvariant()}"] = count;
        }

        ReplyLatency.WriteCounters(counters);
        RelayLatency.WriteCounters(counters);
        return counters;
    }

    /// <summary>One line for the log: stable keys, so scripts and tests can read it.</summary>
    public string Summary()
    {
        SessionCounters e;
        lock (_sessionsLock)
        {
            e = Sessions.Snapshot();
        }

        var line = new StringBuilder()
            .Append("packets captured=").Append(PacketsCaptured)
            .Append(" rejected=").Append(PacketsRejected)
            .Append(" truncated=").Append(PacketsTruncated)
            .Append(" ignored=").Append(PacketsIgnored)
            .Append(" | sessions started=").Append(SessionsStarted)
            .Append(" live=").Append(LiveSessions)
            .Append(" failed=").Append(SessionsFailed)
            .Append(" no-identity=").Append(SessionsWithoutIdentity)
            .Append(" skipped=").Append(SessionsSkipped)
            .Append(" rate-limited=").Append(SessionsRateLimited)
            .Append(" refused-memory=").Append(SessionsRefusedMemory)
            .Append(" buffered=").Append(Budget?.Used ?? 0)
            .Append(" | ended:");
        foreach (var (reason, count) in _ended.OrderBy(p => p.Key))
        {
            line.Append(' ').Append(reason).Append('=').Append(count);
        }

        return line
            .Append(" | requests captured=").Append(e.RequestsCaptured)
            .Append(" delivered=").Append(e.RequestsDelivered)
            .Append(" lost=").Append(e.RequestsCaptured - e.RequestsDelivered)
            .Append(" | segments sent=").Append(e.SegmentsSent)
            .Append(" retransmitted=").Append(e.Retransmissions)
            .Append(" reconnects=").Append(e.Reconnects)
            .Append(" handshakes-adopted=").Append(e.HandshakesAdopted)
            .Append(" gap-bytes=").Append(e.GapBytesSkipped)
            .Append(" responses-unmatched=").Append(ResponsesUnmatched)
            .Append(SenderSummary())
            .Append(KernelSummary())
            .ToString();
    }
}
