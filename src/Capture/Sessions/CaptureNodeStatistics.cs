using System.Collections.Concurrent;
using ReplayCluster.Statistics;

namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// The capture node's counters: written by the capture thread, the session shards and the session actors
/// (all on different threads), read by the statistics log line and the reports to the coordinator. Every
/// way a session or a request is lost has a name.
/// </summary>
/// <remarks>
/// Requests are accounted so that <c>captured = delivered + in flight + lost</c> at every instant:
/// delivered means the target acknowledged the request's bytes; lost is added when a session ends with
/// requests the target never acknowledged, under the session's end reason; in flight is what live
/// sessions still hold. A replay that is merely behind is in flight, not lost.
/// </remarks>
internal sealed class CaptureNodeStatistics
{
    /// <summary>
    /// Every counter a session keeps, by its report name: one list, so a new counter reaches the log line,
    /// the coordinator's status and /metrics at once (a test checks that none is missing).
    /// </summary>
    public static readonly IReadOnlyList<(string Name, Func<SessionCounters, long> Read)> SessionCounterCatalogue =
    [
        ("segments_sent", c => c.SegmentsSent),
        ("retransmissions", c => c.Retransmissions),
        ("fast_retransmits", c => c.FastRetransmits),
        ("syn_retransmissions", c => c.SynRetransmissions),
        ("retransmit_timeouts_deferred", c => c.RetransmitTimeoutsDeferred),
        ("zero_window_probes", c => c.ZeroWindowProbes),
        ("reconnects", c => c.Reconnects),
        ("port_reuses", c => c.PortReuses),
        ("handshakes_adopted", c => c.HandshakesAdopted),
        ("requests_captured", c => c.RequestsCaptured),
        ("requests_sent", c => c.RequestsSent),
        ("requests_delivered", c => c.RequestsDelivered),
        ("response_waits_expired", c => c.ResponseWaitsExpired),
        ("requests_released_at_once", c => c.RequestsReleasedAtOnce),
        ("requests_released_on_answer", c => c.RequestsReleasedOnAnswer),
        ("requests_released_after_silence", c => c.RequestsReleasedAfterSilence),
        ("requests_released_on_recorded_gap", c => c.RequestsReleasedOnRecordedGap),
        ("requests_held_at_bound", c => c.RequestsHeldAtBound),
        ("stale_connections_reset", c => c.StaleConnectionsReset),
        ("bytes_captured", c => c.BytesCaptured),
        ("bytes_acknowledged", c => c.BytesAcknowledged),
        ("response_bytes", c => c.ResponseBytes),
        ("client_duplicate_bytes", c => c.ClientDuplicateBytes),
        ("gap_bytes_skipped", c => c.GapBytesSkipped),
        ("late_packets_absorbed", c => c.LatePacketsAbsorbed),
        ("target_resets_ignored", c => c.TargetResetsIgnored),
    ];

    private readonly ConcurrentDictionary<SessionEndReason, long> _ended = new();
    private readonly ConcurrentDictionary<SessionEndReason, long> _requestsLost = new();

    // Session actors add their progress from many threads; the summary reads a consistent total.
    private readonly Lock _sessionsLock = new();
    private long _packetsCaptured;
    private long _packetsTruncated;
    private long _packetsIgnored;
    private long _requestsOnline;
    private long _sessionsStarted;
    private long _sessionsFailed;
    private long _sessionsWithoutIdentity;
    private long _sessionsSkipped;
    private long _sessionsNotJoinedMidStream;
    private long _sessionsRefusedNoIntercept;
    private long _sessionsRateLimited;
    private long _sessionsRefusedMemory;
    private long _sessionsRefusedCeiling;
    private long _responsesUnmatched;
    private long _responsesByChannel;
    private long _claimsByChannel;
    private long _replyChannels;
    private long _packetsRefusedQueueFull;

    public long PacketsCaptured => Interlocked.Read(ref _packetsCaptured);

    /// <summary>Captured packets the parser refused, all reasons (<see cref="ParseRejects"/> has them by reason).</summary>
    public long PacketsRejected => ParseRejects.Rejected;

    /// <summary>Captured packets the parser refused, by reason.</summary>
    public Packets.ParseRejectCounters ParseRejects { get; } = new();

    public long PacketsTruncated => Interlocked.Read(ref _packetsTruncated);

    /// <summary>Packets of no session (pure ACKs of unknown connections, packets to no target).</summary>
    public long PacketsIgnored => Interlocked.Read(ref _packetsIgnored);

    /// <summary>Captured packets dropped because their shard's queue was full (a loss, counted, never silent).</summary>
    public long PacketsRefusedQueueFull => Interlocked.Read(ref _packetsRefusedQueueFull);

    public long SessionsStarted => Interlocked.Read(ref _sessionsStarted);

    public long SessionsFailed => Interlocked.Read(ref _sessionsFailed);

    public long SessionsWithoutIdentity => Interlocked.Read(ref _sessionsWithoutIdentity);

    /// <summary>Sessions left out by sampling (not a loss: asked for).</summary>
    public long SessionsSkipped => Interlocked.Read(ref _sessionsSkipped);

    /// <summary>Connections first seen after their handshake and left out (replaycluster.capture.join-mid-stream off).</summary>
    public long SessionsNotJoinedMidStream => Interlocked.Read(ref _sessionsNotJoinedMidStream);

    /// <summary>Connections not replayed because no intercept was in the cluster when they started (replies could not return).</summary>
    public long SessionsRefusedNoIntercept => Interlocked.Read(ref _sessionsRefusedNoIntercept);

    /// <summary>Sessions (copies) not started because the plan's rate cap was reached (asked for).</summary>
    public long SessionsRateLimited => Interlocked.Read(ref _sessionsRateLimited);

    /// <summary>New sessions refused because the node's buffer budget was exhausted.</summary>
    public long SessionsRefusedMemory => Interlocked.Read(ref _sessionsRefusedMemory);

    /// <summary>New sessions refused because the node's live-session ceiling was reached.</summary>
    public long SessionsRefusedCeiling => Interlocked.Read(ref _sessionsRefusedCeiling);

    public long ResponsesUnmatched => Interlocked.Read(ref _responsesUnmatched);

    /// <summary>The replay plan version this node follows; 0 for its own settings only.</summary>
    public long PlanVersion { get; set; }

    /// <summary>The node's buffer budget, once the shards run.</summary>
    public BufferBudget? Budget { get; set; }

    /// <summary>Reads the number of live sessions (the admission limits own it).</summary>
    public Func<long>? LiveSessionsSource { get; set; }

    public long LiveSessions => LiveSessionsSource?.Invoke() ?? 0;

    /// <summary>Reads the client identity mapper new sessions draw from (its quarantine counters).</summary>
    public Func<Identities.ClientIdentityMapper?>? IdentitiesSource { get; set; }

    /// <summary>Cluster messages this node refused (a plan, a slice from a non-coordinator, ...), by reason.</summary>
    public Membership.MessageRefusals Refusals { get; } = new();

    /// <summary>The raw socket's counters, when the node sends for real.</summary>
    public PacketIO.RawIpSender? Sender { get; set; }

    /// <summary>The raw IPv6 socket; its sends and failures (and IPv6 segments without a socket) count in raw_sent and raw_send_failed.</summary>
    public Sending.Ipv6RawSocket? Ipv6Socket { get; set; }

    private PacketIO.RawIpSender? Ipv6Sender => Ipv6Socket?.Sender;

    /// <summary>Reads the kernel's capture counters (received, dropped), when capturing live.</summary>
    public Func<PacketIO.CaptureStatistics>? Kernel { get; set; }

    /// <summary>Totals over all sessions; a live session's part is at most <see cref="SessionActor.ProgressInterval"/> old.</summary>
    public SessionCounters Sessions { get; } = new();

    /// <summary>Reply latencies of all sessions, recorded as they happen.</summary>
    public ReplyLatencyHistogram ReplyLatency { get; } = new();

    /// <summary>Reply records' relay latencies, intercept capture to this node's session manager (see <c>ResponseBatch.RecordRelayLatency</c>).</summary>
    public LatencyHistogram RelayLatency { get; } = new(LatencyHistogramLayout.RelayLatency);

    /// <summary>Client segments' capture latency (capture timestamp to handled by their session), live capture only.</summary>
    public LatencyHistogram CaptureLatency { get; } = new(LatencyHistogramLayout.CaptureLatency);

    /// <summary>Whether capture timestamps are now (live capture) rather than recorded ones (a pcap file).</summary>
    public bool CapturingLive { get; set; }

    public IReadOnlyDictionary<SessionEndReason, long> EndedByReason => _ended;

    /// <summary>Requests the target never acknowledged, by the end reason of their session.</summary>
    public IReadOnlyDictionary<SessionEndReason, long> RequestsLostByReason => _requestsLost;

    /// <summary>Requests the target never acknowledged, all reasons.</summary>
    public long RequestsLost => _requestsLost.Values.Sum();

    /// <summary>Requests live sessions hold that the target has not acknowledged yet (behind, not lost).</summary>
    public long RequestsInFlight
    {
        get
        {
            long captured, delivered;
            lock (_sessionsLock)
            {
                captured = Sessions.RequestsCaptured;
                delivered = Sessions.RequestsDelivered;
            }

            return Math.Max(0, captured - delivered - RequestsLost);
        }
    }

    /// <summary>
    /// Requests the online server was sent, counted once however many copies replay them (only the
    /// first copy of each connection counts): target / online is the amplification.
    /// </summary>
    public long RequestsOnline => Interlocked.Read(ref _requestsOnline);

    public void CountCaptured() => Interlocked.Increment(ref _packetsCaptured);

    public void CountRejected(Packets.ParseResult reason) => ParseRejects.Count(reason);

    public void CountTruncated() => Interlocked.Increment(ref _packetsTruncated);

    public void CountIgnored() => Interlocked.Increment(ref _packetsIgnored);

    public void CountRefusedQueueFull() => Interlocked.Increment(ref _packetsRefusedQueueFull);

    public void CountStarted() => Interlocked.Increment(ref _sessionsStarted);

    public void CountFailed() => Interlocked.Increment(ref _sessionsFailed);

    public void CountWithoutIdentity() => Interlocked.Increment(ref _sessionsWithoutIdentity);

    public void CountSkipped() => Interlocked.Increment(ref _sessionsSkipped);

    public void CountNotJoinedMidStream() => Interlocked.Increment(ref _sessionsNotJoinedMidStream);

    public void CountRefusedNoIntercept() => Interlocked.Increment(ref _sessionsRefusedNoIntercept);

    public void CountRateLimited() => Interlocked.Increment(ref _sessionsRateLimited);

    public void CountRefusedMemory() => Interlocked.Increment(ref _sessionsRefusedMemory);

    public void CountRefusedCeiling() => Interlocked.Increment(ref _sessionsRefusedCeiling);

    public void CountUnmatched(int records = 1) => Interlocked.Add(ref _responsesUnmatched, records);

    /// <summary>Reply records that came through a reply channel rather than remoting.</summary>
    public long ResponsesByChannel => Interlocked.Read(ref _responsesByChannel);

    /// <summary>Reply channel connections open now (authenticated).</summary>
    public long ReplyChannels => Interlocked.Read(ref _replyChannels);

    public void CountByChannel(int records) => Interlocked.Add(ref _responsesByChannel, records);

    /// <summary>Route claims and releases sent to intercepts through reply channels rather than remoting.</summary>
    public long ClaimsByChannel => Interlocked.Read(ref _claimsByChannel);

    public void CountClaimsByChannel(int entries) => Interlocked.Add(ref _claimsByChannel, entries);

    public void ReplyChannelOpened() => Interlocked.Increment(ref _replyChannels);

    public void ReplyChannelClosed() => Interlocked.Decrement(ref _replyChannels);

    /// <summary>Adds what a live session did since its last report (thread-safe).</summary>
    public void AddProgress(SessionCounters delta, bool firstCopy = true)
    {
        ArgumentNullException.ThrowIfNull(delta);
        lock (_sessionsLock)
        {
            Sessions.Add(delta);
            if (firstCopy)
            {
                _requestsOnline += delta.RequestsCaptured;
            }
        }
    }

    /// <summary>
    /// Counts an ended session: what it did since its last report, and its requests the target never
    /// acknowledged as lost under <paramref name="reason"/> (thread-safe).
    /// </summary>
    public void AddEnded(SessionEndReason reason, SessionCounters delta, long requestsUndelivered, bool firstCopy = true)
    {
        _ended.AddOrUpdate(reason, 1, (_, n) => n + 1);
        if (requestsUndelivered > 0)
        {
            _requestsLost.AddOrUpdate(reason, requestsUndelivered, (_, n) => n + requestsUndelivered);
        }

        AddProgress(delta, firstCopy);
    }

    public CaptureNodeStatistics()
    {
        Metrics = new NodeMetrics(Configuration.NodeRoles.Capture);
        Publish(Metrics);
    }

    /// <summary>This node's instruments: what the report, the log line and /metrics show.</summary>
    public NodeMetrics Metrics { get; }

    /// <summary>What the response comparison's wiring left out, by reason (in the catalogue as <c>comparison_dropped</c>).</summary>
    public Comparison.CaptureComparisonCounters Comparison { get; } = new();

    /// <summary>The catalogue, in the order of the log line: packets, sessions, requests and the sessions' own counters, replies, identities, the process.</summary>
    private void Publish(NodeMetrics m)
    {
        m.Counter("packets_captured", "{packet}", "Packets read from the capture (interface or pcap file).", () => PacketsCaptured);
        m.PacketsRejected(ParseRejects);
        m.Counter("packets_truncated", "{packet}", "Captured packets the snap length cut short (their bytes are gone).", () => PacketsTruncated);
        m.Counter("packets_ignored", "{packet}", "Packets of no session: pure ACKs of unknown connections, packets to no target.", () => PacketsIgnored);
        m.Counter("packets_refused_queue_full", "{packet}", "Captured packets dropped because their shard's queue was full.", () => PacketsRefusedQueueFull);
        m.Counter("kernel_received", "{packet}", "Packets the kernel passed the capture filter (live capture).", () => Kernel?.Invoke().Received ?? 0);
        m.Counter("kernel_dropped", "{packet}", "Packets the kernel dropped from the capture ring (live capture).", () => Kernel?.Invoke().KernelDropped ?? 0);
        m.Counter("kernel_if_dropped", "{packet}", "Packets the interface dropped before the capture (live capture).", () => Kernel?.Invoke().InterfaceDropped ?? 0);
        m.Counter("raw_sent", "{packet}", "Packets sent through the raw IP socket.", () => (Sender?.Sent ?? 0) + (Ipv6Sender?.Sent ?? 0));
        m.CounterFamily("raw_send_failed", "error", "{packet}", "Raw IP sends the kernel refused, by error.", () =>
            [KeyValuePair.Create("eperm", (Sender?.FailedNotPermitted ?? 0) + (Ipv6Sender?.FailedNotPermitted ?? 0)),
             KeyValuePair.Create("emsgsize", (Sender?.FailedTooBig ?? 0) + (Ipv6Sender?.FailedTooBig ?? 0)),
             KeyValuePair.Create("enobufs", (Sender?.FailedNoBuffers ?? 0) + (Ipv6Sender?.FailedNoBuffers ?? 0)),
             KeyValuePair.Create("other", (Sender?.FailedOther ?? 0) + (Ipv6Sender?.FailedOther ?? 0) + (Ipv6Socket?.Unsendable ?? 0))]);

        m.Counter("sessions_started", "{session}", "Sessions (copies) started.", () => SessionsStarted);
        m.Gauge("sessions_live", "{session}", "Sessions live now.", () => LiveSessions);
        m.Counter("sessions_failed", "{session}", "Sessions whose actor failed.", () => SessionsFailed);
        m.Counter("sessions_refused_memory", "{session}", "New sessions refused: the node's buffer budget was exhausted.", () => SessionsRefusedMemory);
        m.Counter("sessions_refused_ceiling", "{session}", "New sessions refused: the node's live-session ceiling was reached.", () => SessionsRefusedCeiling);
        m.Counter("sessions_without_identity", "{session}", "New sessions refused: no client identity was free.", () => SessionsWithoutIdentity);
        m.Counter("sessions_skipped", "{session}", "Sessions left out by sampling (asked for).", () => SessionsSkipped);
        m.Counter("sessions_not_joined_mid_stream", "{session}", "Connections first seen after their handshake and left out.", () => SessionsNotJoinedMidStream);
        m.Counter("sessions_refused_no_intercept", "{session}", "Connections not replayed: no intercept was in the cluster.", () => SessionsRefusedNoIntercept);
        m.Counter("sessions_rate_limited", "{session}", "Sessions not started because the plan's rate cap was reached (asked for).", () => SessionsRateLimited);
        m.CounterFamily("sessions_ended", "reason", "{session}", "Sessions ended, by reason.",
            () => _ended.Select(p => KeyValuePair.Create(p.Key.ToString().ToLowerInvariant(), p.Value)));
        m.Gauge("buffered_bytes", "By", "Captured bytes held by live sessions.", () => Budget?.Used ?? 0);
        m.Gauge("plan_version", "{version}", "The replay plan version this node follows; 0 for its own settings only.", () => PlanVersion);

        m.Counter("requests_online", "{request}", "Requests the online server was sent, once however many copies replay them.", () => RequestsOnline);
        m.Gauge("requests_in_flight", "{request}", "Requests live sessions hold that the target has not acknowledged yet (behind, not lost).", () => RequestsInFlight);
        m.CounterFamily("requests_lost", "reason", "{request}", "Requests the target never acknowledged, by the end reason of their session.",
            () => _requestsLost.Select(p => KeyValuePair.Create(p.Key.ToString().ToLowerInvariant(), p.Value)));
        foreach (var (name, read) in SessionCounterCatalogue)
        {
            m.Counter(name, name.Contains("bytes", StringComparison.Ordinal) ? "By" : name.StartsWith("requests", StringComparison.Ordinal) ? "{request}" : "{event}",
                $"What sessions did: {name.Replace('_', ' ')}.", () => ReadSessions(read));
        }

        m.Counter("responses_unmatched", "{record}", "Reply records that matched no session.", () => ResponsesUnmatched);
        m.Counter("responses_by_channel", "{record}", "Reply records that came through a reply channel rather than remoting.", () => ResponsesByChannel);
        m.Counter("claims_by_channel", "{claim}", "Route claims and releases sent through reply channels rather than remoting.", () => ClaimsByChannel);
        m.Gauge("reply_channels", "{connection}", "Reply channel connections open now.", () => ReplyChannels);

        m.Gauge("identities_in_use", "{identity}", "Client identities held by live sessions.", () => IdentitiesSource?.Invoke()?.InUse ?? 0);
        m.Gauge("identities_quarantined", "{identity}", "Released identities held back while the target may still hold their connection.", () => IdentitiesSource?.Invoke()?.Quarantined ?? 0);
        m.Counter("identities_quarantine_overflows", "{identity}", "Identities let go early because the quarantine was full.", () => IdentitiesSource?.Invoke()?.QuarantineOverflows ?? 0);
        m.Counter("identities_reused_early", "{identity}", "Identities handed out again before their reuse delay passed.", () => IdentitiesSource?.Invoke()?.ReusedEarly ?? 0);
        m.Counter("identities_reuse_deferred", "{identity}", "Identity requests that waited for one to leave the quarantine.", () => IdentitiesSource?.Invoke()?.ReuseDeferred ?? 0);

        Comparison.Publish(m);
        m.NodeWide(Refusals);
        m.Histogram("Capture latency of client segments, kernel capture timestamp to handled by their session (live capture).", CaptureLatency);
        m.Histogram("Relay latency of reply records, captured at the intercept to received here (wall clocks of both hosts).", RelayLatency);
        m.Histogram("Reply latency of replayed requests, last request byte first sent to first response byte seen.", ReplyLatency.Histogram);
    }

    private long ReadSessions(Func<SessionCounters, long> read)
    {
        lock (_sessionsLock)
        {
            return read(Sessions);
        }
    }

    /// <summary>The counters reported to the coordinator: the catalogue's reading (cumulative, snake_case as in /metrics).</summary>
    public IReadOnlyDictionary<string, long> ToCounters() => Metrics.Read();

    /// <summary>
    /// One line for the log: every instrument of the catalogue as <c>name=value</c>, under the same name as in the
    /// report and /metrics (a family as <c>name=total (value=n ...)</c>), grouped, then the latency percentiles.
    /// </summary>
    public string Summary() => Metrics.Line(Metrics.Read(), GroupOf);

    // The line's groups, from the instruments' first word.
    private static string GroupOf(string name) => name[..Math.Max(0, name.IndexOf('_', StringComparison.Ordinal))] switch
    {
        "packets" or "kernel" or "raw" => "packets",
        "sessions" or "plan" or "buffered" => "sessions",
        "identities" => "identities",
        "process" or "messages" or "actor" => "process",
        "responses" or "claims" or "reply" => "replies",
        _ => "requests",
    };
}
