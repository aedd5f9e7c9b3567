using ReplayCluster.Packets;

namespace ReplayCluster.Capture.Sessions;

/// <summary>Why the pacer let a request (or the client's FIN) go, or that it holds it.</summary>
internal enum PacingRelease
{
    /// <summary>Not yet.</summary>
    Held = 0,

    /// <summary>Nothing to wait for: the first request, one pipelined in the recording, or no-wait pacing.</summary>
    AtOnce,

    /// <summary>The target sent as much response as the recorded client had seen before this request.</summary>
    Answered,

    /// <summary>The target answered less than online and then fell silent.</summary>
    Silence,

    /// <summary>The recorded client's gap passed since the previous request was sent (keeping pace).</summary>
    RecordedGap,

    /// <summary>The target did not answer within the response wait limit.</summary>
    WaitLimit,
}

/// <summary>
/// The gate in front of each new request: when it may go to the target.
/// </summary>
/// <remarks>
/// <para>
/// Online, the client sent a request after it had seen a certain amount of the server's response: its
/// acknowledgment on the request (the captured ack) tells how much. The default keeps that order: a
/// request goes once the target sent as much response as the client had seen (<see cref="PacingRelease.Answered"/>;
/// shorter answers count once the target falls silent for <see cref="SessionOptions.ResponseSilence"/>,
/// no answer at all after <see cref="SessionOptions.ResponseWaitLimit"/>).
/// </para>
/// <para>
/// That alone is as slow as the relay: the target's reply reaches us through the intercept and the
/// cluster, often several times the online round trip, so a chatty request/response client (a database
/// session) would replay at a fraction of its live rate. So a request also goes once the recorded
/// client's own gap has passed since the previous request went out: capture time of this request minus
/// capture time of the previous request's last byte, divided by <see cref="SessionOptions.RecordedSpeed"/>
/// (a pcap file replayed faster). A target as fast as online has answered by then; one that is slower
/// is protected by a bound: a request never goes on its gap while <see cref="SessionOptions.MaxOutstandingRequests"/>
/// requests are released and not known answered (counted by the response bytes relayed so far).
/// With a bound of 1 the gap never releases anything: strictly one request at a time.
/// </para>
/// <para>
/// Nor does the gap release anything on a connection before the target answered there: a connection's
/// opening exchange is a negotiation that servers do not take pipelined. PostgreSQL answers a client's
/// SSLRequest with one byte and ends the session ("received unencrypted data after SSL request") when
/// the StartupMessage is already there; an SMTP server rejects a client talking before its greeting.
/// The recorded gap of such a follow-up is one online round trip, far shorter than the relay, so it
/// would always arrive too early. Once the target has answered, requests pipeline on their gaps as usual.
/// </para>
/// <para>
/// Answers are counted in the online server's byte space: the captured ack of the last request known
/// answered plus the target's response bytes since. When the target's responses are shorter than the
/// online ones this count lags; the silence rule puts it right whenever the target falls quiet.
/// </para>
/// </remarks>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Auto)]
internal struct RequestPacer(SessionOptions options, ISessionCounting counting)
{
    // Response bytes beyond this are not counted further (the sum stays a valid sequence distance).
    private const long MaxCountedResponse = 1L << 30;

    private bool _anchored;

    // Whether a request was released since the anchor: the first one passes the gate too (and is counted).
    private bool _releasedAny;

    // Online ack known answered at the last resynchronisation, and the target's response bytes since.
    private uint _answeredAck;
    private long _responseBytes;
    private uint _lastReleasedAck;
    private long _lastReleaseAt;
    private long _lastResponseAt;

    // The reference of recorded gaps: capture time of the client byte last sent new, and when it was sent.
    private long _lastSentCapturedAt;
    private long _lastSentAt;
    private bool _lastSentKnown;
    private long _anchorCapturedAt;

    // The target sent response bytes on the current connection: until then the recorded gap releases nothing.
    private bool _answeredOnConnection;

    // Captured acks of the requests released since the last resynchronisation, oldest first (a ring,
    // allocated once a request is released ahead of an answer; at most the bound). The oldest one's value
    // is never read (only whether there is one), so a ring of one needs no array: Trim lets it go.
    private uint[]? _ring;
    private int _ringHead;
    private int _ringCount;

    // The request last held at the bound, so that one hold counts once.
    private uint? _heldAtBound;

    // The moments above as UTC ticks (8 bytes each instead of 16).
    private DateTimeOffset LastReleaseAt { readonly get => new(_lastReleaseAt, TimeSpan.Zero); set => _lastReleaseAt = value.UtcTicks; }

    private DateTimeOffset LastResponseAt { readonly get => new(_lastResponseAt, TimeSpan.Zero); set => _lastResponseAt = value.UtcTicks; }

    private DateTimeOffset LastSentAt { readonly get => new(_lastSentAt, TimeSpan.Zero); set => _lastSentAt = value.UtcTicks; }

    /// <summary>When a held request should be looked at again; null when only an event can release it.</summary>
    public DateTimeOffset? Deadline { readonly get => PackedMoment.Unpack(_deadline); private set => _deadline = PackedMoment.Pack(value); }

    private long _deadline;

    /// <summary>
    /// How long the target must stay silent before a request goes while several released ones are unanswered: the
    /// session keeps it at its retransmission timeout estimate, which the relay's delays already raise (the target's
    /// acknowledgments come back the same way as its answers). Zero: <see cref="SessionOptions.ResponseSilence"/> alone.
    /// </summary>
    public TimeSpan OutstandingSilence { get; set; }

    /// <summary>Requests released whose answer has not been seen complete (the newest one included).</summary>
    public int Outstanding => _ringCount;

    /// <summary>Lets go of the ring while it holds one request at most (a session gone idle keeps no array).</summary>
    public void Trim()
    {
        if (_ringCount <= 1)
        {
            _ring = null;
        }
    }

    /// <summary>The deadline passed: the request is looked at again (and held again with a new one if need be).</summary>
    public void ClearDeadline() => Deadline = null;

    /// <summary>A new client connection: nothing released, nothing known.</summary>
    public void Reset()
    {
        _anchored = false;
        _releasedAny = false;
        _answeredAck = 0;
        _responseBytes = 0;
        _lastReleasedAck = 0;
        LastReleaseAt = default;
        LastResponseAt = default;
        _lastSentCapturedAt = 0;
        LastSentAt = default;
        _lastSentKnown = false;
        _anchorCapturedAt = 0;
        _ringHead = 0;
        _ringCount = 0;
        _heldAtBound = null;
        _answeredOnConnection = false;
        Deadline = null;
    }

    /// <summary>
    /// Where the online server's data starts, as the client acknowledged it before its first request
    /// (its handshake ACK, or the first segment of a connection joined mid-stream). A first request
    /// acking more followed a greeting and waits for the target's.
    /// </summary>
    public void Anchor(uint ack, long capturedAtNanos)
    {
        if (_anchored)
        {
            return;
        }

        _anchored = true;
        _answeredAck = ack;
        _lastReleasedAck = ack;
        _responseBytes = 0;
        _anchorCapturedAt = capturedAtNanos;
    }

    /// <summary>A connection to the target was established (first or again): the wait limit counts from now.</summary>
    public void OnConnected(DateTimeOffset now)
    {
        LastReleaseAt = now;
        _answeredOnConnection = false;
        if (!_lastSentKnown && _anchorCapturedAt != 0)
        {
            // The handshake ACK is the client's last word before its first request: gaps count from it.
            _lastSentCapturedAt = _anchorCapturedAt;
            LastSentAt = now;
            _lastSentKnown = true;
        }
    }

    /// <summary>True when bytes captured with <paramref name="capturedAck"/> begin a request that must pass the gate.</summary>
    public bool NeedsRelease(uint capturedAck) => !_releasedAny || capturedAck != _lastReleasedAck;

    /// <summary>
    /// Decides on the request (or FIN) captured with <paramref name="capturedAck"/> at
    /// <paramref name="capturedAtNanos"/>; <paramref name="allSentAcknowledged"/> tells that the target
    /// acknowledged everything sent (the silence and limit rules need it: before, we could be waiting
    /// on our own retransmission rather than on the target).
    /// </summary>
    public PacingRelease TryRelease(uint capturedAck, long capturedAtNanos, bool allSentAcknowledged, bool isFin, DateTimeOffset now) =>
        TryRelease(capturedAck, capturedAtNanos, allSentAcknowledged, isFin, isReset: false, now);

    private PacingRelease TryRelease(uint capturedAck, long capturedAtNanos, bool allSentAcknowledged, bool isFin, bool isReset, DateTimeOffset now)
    {
        var reason = Decide(capturedAck, capturedAtNanos, allSentAcknowledged, isReset, now, out var deadline);
        if (reason == PacingRelease.Held)
        {
            Deadline = deadline;
            return reason;
        }

        Deadline = null;
        _heldAtBound = null;
        _releasedAny = true;
        LastReleaseAt = now;
        _lastReleasedAck = capturedAck;
        if (isFin)
        {
            return reason;
        }

        counting.Counters.RequestsSent++;
        switch (reason)
        {
            case PacingRelease.AtOnce:
                counting.Counters.RequestsReleasedAtOnce++;
                break;
            case PacingRelease.Answered:
                counting.Counters.RequestsReleasedOnAnswer++;
                break;
            case PacingRelease.Silence:
                counting.Counters.RequestsReleasedAfterSilence++;
                break;
            case PacingRelease.RecordedGap:
                counting.Counters.RequestsReleasedOnRecordedGap++;
                break;
            case PacingRelease.WaitLimit:
                counting.Counters.ResponseWaitsExpired++;
                break;
        }

        return reason;
    }

    /// <summary>
    /// The client reset its connection and every byte reached the target: may our reset follow? Not
    /// before the target answered every request released - at least began answering the last one
    /// (clients reset without reading their last answers; the online server still served them) - or
    /// fell silent, or the wait limit passed: a reset arriving first makes the target drop requests it
    /// holds unread.
    /// </summary>
    public PacingRelease TryReleaseReset(uint? resetAck, bool allSentAcknowledged, DateTimeOffset now)
    {
        if (!_releasedAny || options.Pacing == PacingMode.NoWait)
        {
            return PacingRelease.AtOnce;
        }

        var ack = _lastReleasedAck + 1;
        if (resetAck is { } seen && SeqNum.After(seen, ack))
        {
            ack = seen;
        }

        // No capture time: the recorded gap does not apply to a reset.
        return TryRelease(ack, capturedAtNanos: 0, allSentAcknowledged, isFin: true, isReset: true, now);
    }

    /// <summary>New client bytes captured at <paramref name="capturedAtNanos"/> went to the target for the first time.</summary>
    public void OnFirstSent(long capturedAtNanos, DateTimeOffset now)
    {
        _lastSentCapturedAt = capturedAtNanos;
        LastSentAt = now;
        _lastSentKnown = true;
    }

    /// <summary><paramref name="bytes"/> new response bytes of the target arrived.</summary>
    public void OnResponseBytes(int bytes, DateTimeOffset now)
    {
        _responseBytes = Math.Min(_responseBytes + bytes, MaxCountedResponse);
        LastResponseAt = now;
        _answeredOnConnection |= bytes > 0;
        Prune(candidateAck: null);
    }

    private PacingRelease Decide(uint ack, long capturedAtNanos, bool allSentAcknowledged, bool isReset, DateTimeOffset now, out DateTimeOffset? deadline)
    {
        deadline = null;
        if (!_anchored || options.Pacing == PacingMode.NoWait)
        {
            Resynchronise(ack);
            return PacingRelease.AtOnce;
        }

        if (SeqNum.BeforeOrEqual(ack, _lastReleasedAck))
        {
            // Sent online before any more response was seen: it shares the previous request's answer.
            if (_ringCount == 0)
            {
                Push(ack);
            }

            return PacingRelease.AtOnce;
        }

        Prune(ack);
        if (isReset && options.MaxOutstandingRequests > 1)
        {
            return DecidePipelinedReset(ack, allSentAcknowledged, now, out deadline);
        }

        if (SeqNum.AfterOrEqual(Covered, ack))
        {
            Resynchronise(ack);
            return PacingRelease.Answered;
        }

        DateTimeOffset? silenceAt = null;
        DateTimeOffset? limitAt = null;
        if (allSentAcknowledged)
        {
            if (_responseBytes > 0 && SilenceCounts(isReset))
            {
                // With several requests out, the answers still on their way through the relay arrive in bursts
                // further apart than the plain silence: only a pause as long as the relay-aware RTO means "no more".
                var silence = _ringCount > 1 ? RelaySilence : options.ResponseSilence;
                silenceAt = (LastResponseAt > LastReleaseAt ? LastResponseAt : LastReleaseAt) + silence;
                if (now >= silenceAt)
                {
                    Resynchronise(ack);
                    return PacingRelease.Silence;
                }
            }

            limitAt = LastReleaseAt + options.ResponseWaitLimit;
            if (now >= limitAt)
            {
                Resynchronise(ack);
                return PacingRelease.WaitLimit;
            }
        }

        DateTimeOffset? gapAt = null;
        if (options.MaxOutstandingRequests > 1 && _answeredOnConnection && _lastSentKnown && capturedAtNanos != 0 && _lastSentCapturedAt != 0)
        {
            var gapNanos = Math.Max(0, capturedAtNanos - _lastSentCapturedAt);
            var due = LastSentAt + TimeSpan.FromTicks((long)(gapNanos / 100 / options.RecordedSpeed));
            if (now + options.RecordedGapTolerance < due)
            {
                gapAt = due;
            }
            else if (_ringCount < options.MaxOutstandingRequests)
            {
                Push(ack);
                return PacingRelease.RecordedGap;
            }
            else if (_heldAtBound != ack)
            {
                // Due, but the target has not answered enough: only its answers release more now.
                _heldAtBound = ack;
                counting.Counters.RequestsHeldAtBound++;
            }
        }

        deadline = Earliest(Earliest(silenceAt, limitAt), gapAt);
        return PacingRelease.Held;
    }

    // With requests released ahead of their answers, the byte count of answers is an estimate: a silence taken for
    // "answered shorter" while answers were only delayed in the relay moves it ahead of the truth. A reset made on it
    // reaches the target while its server still holds requests unread, and its kernel drops them. So a pipelined
    // session's reset also waits until the target has been quiet for the relay-aware silence: answers still coming
    // mean requests still being served. Ends lose up to that long (hundreds of ms) before their reset. Measured before
    // the wait limit counted from the last answer: bench/sidebyside.sh keepalive beside a loaded machine (target at half
    // the online rate, 7.4 s of drain), 1,239 of 68,461 requests acknowledged by the target's kernel and never served.
    private PacingRelease DecidePipelinedReset(uint ack, bool allSentAcknowledged, DateTimeOffset now, out DateTimeOffset? deadline)
    {
        deadline = null;
        var lastActivity = LastResponseAt > LastReleaseAt ? LastResponseAt : LastReleaseAt;
        var quietAt = lastActivity + RelaySilence;
        var covered = SeqNum.AfterOrEqual(Covered, ack);

        // While the answers fall short of what the client had seen, the wait limit counts from the last answer: a
        // target slower than online (or a replay behind) still serving the session's requests is not "never
        // answering", and a reset now would drop the ones it holds. Once they cover it, from the last release: a
        // server that streams on (a download the client aborted) must not hold the reset for as long as it streams.
        var limitAt = (covered ? LastReleaseAt : lastActivity) + options.ResponseWaitLimit;
        var answered = covered || SilenceCounts(isReset: true);
        if (allSentAcknowledged && answered && now >= quietAt)
        {
            Resynchronise(ack);
            return PacingRelease.Answered;
        }

        if (allSentAcknowledged && now >= limitAt)
        {
            Resynchronise(ack);
            return PacingRelease.WaitLimit;
        }

        deadline = allSentAcknowledged ? Earliest(answered ? quietAt : null, limitAt) : null;
        return PacingRelease.Held;
    }

    // A reset makes the target's kernel drop every request its server has not read yet, so silence releases one only
    // when the target began answering the last request released (it has read them all) and no earlier one is still
    // unanswered. Measured: wrk keep-alive, 50 connections, 32 requests ahead (/wait:32): 382 of 30,063 requests
    // (1.3 %) were acknowledged by the target's kernel and never served when a 50 ms pause in the relayed answers
    // released the clients' resets; 10 per reset connection, the last ones.
    private bool SilenceCounts(bool isReset) =>
        !isReset || (_ringCount <= 1 && LastResponseAt > LastReleaseAt);

    // The silence that means "no more answers" while answers may still be in the relay.
    private TimeSpan RelaySilence => OutstandingSilence > options.ResponseSilence ? OutstandingSilence : options.ResponseSilence;

    // The online ack up to which the target's responses are accounted for.
    private uint Covered => _answeredAck + (uint)_responseBytes;

    private void Resynchronise(uint ack)
    {
        _anchored = true;
        _answeredAck = ack;
        _responseBytes = 0;
        _ringHead = 0;
        _ringCount = 0;
        Push(ack);
    }

    // Drops released requests whose answer is complete: the next request's captured ack is covered.
    private void Prune(uint? candidateAck)
    {
        var covered = Covered;
        while (_ringCount > 0)
        {
            uint next;
            if (_ringCount > 1)
            {
                next = _ring![(_ringHead + 1) % _ring.Length];
            }
            else if (candidateAck is { } candidate)
            {
                next = candidate;
            }
            else
            {
                return;
            }

            if (SeqNum.After(next, covered))
            {
                return;
            }

            _ringHead = _ring is null ? 0 : (_ringHead + 1) % _ring.Length;
            _ringCount--;
        }
    }

    private void Push(uint ack)
    {
        // Small at first (a strict or slow-paced session never needs more than one or two), grown up to the bound.
        var bound = Math.Max(1, options.MaxOutstandingRequests);
        if (_ring is null)
        {
            // A ring of one (after Trim) keeps its count; its oldest value is not needed.
            _ring = new uint[Math.Min(bound, 4)];
            _ringHead = 0;
        }
        else if (_ringCount == _ring.Length && _ring.Length < bound)
        {
            var grown = new uint[Math.Min(bound, _ring.Length * 2)];
            for (var i = 0; i < _ringCount; i++)
            {
                grown[i] = _ring[(_ringHead + i) % _ring.Length];
            }

            _ring = grown;
            _ringHead = 0;
        }

        if (_ringCount == _ring.Length)
        {
            // Only a resynchronised ring of one reaches here with a bound of 1: the oldest gives way.
            _ringHead = (_ringHead + 1) % _ring.Length;
            _ringCount--;
        }

        _ring[(_ringHead + _ringCount) % _ring.Length] = ack;
        _ringCount++;
    }

    private static DateTimeOffset? Earliest(DateTimeOffset? a, DateTimeOffset? b) =>
        a is null ? b : b is null ? a : a < b ? a : b;
}
