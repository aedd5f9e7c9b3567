using ReplayCluster.Packets;

namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// The retransmission timer of RFC 6298: RTT sampling (Karn's rule: one timed segment at a time, never a
/// retransmitted one), the computed RTO with its bounds, exponential backoff, the retry count that
/// decides when a session is lost, and the duplicate-ACK count that triggers a fast retransmit.
/// </summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Auto)]
internal struct RetransmissionTimer(SessionOptions options)
{
    private const int DuplicateAckThreshold = 3;

    private TimeSpan? _srtt;
    private TimeSpan _rttVar;
    private TimeSpan _initial = options.InitialRto;
    private uint? _timedSeq;
    private DateTimeOffset _timedAt;
    private int _duplicateAcks;

    /// <summary>The current retransmission timeout.</summary>
    public TimeSpan Rto { get; private set; } = options.InitialRto;

    /// <summary>Smoothed RTT; null before the first sample.</summary>
    public TimeSpan? Srtt => _srtt;

    /// <summary>The timeout the measured round trips give, without the backoff of retransmissions in progress.</summary>
    public TimeSpan Estimate => Computed();

    /// <summary>Consecutive expiries (or handshake attempts) without progress.</summary>
    public int Retries { get; private set; }

    /// <summary>When the timer expires; null when stopped.</summary>
    public DateTimeOffset? Deadline
    {
        readonly get => PackedMoment.Unpack(_deadline);
        private set
        {
            _deadline = PackedMoment.Pack(value);
            _deferredFrom = 0;
        }
    }

    private long _deadline;

    // The deadline that expired while the reply relay was behind and was put off (TryDefer); 0 when none.
    private long _deferredFrom;

    // When the timer was last armed or restarted: when what it waits on was sent.
    private long _armedAt;

    /// <summary>When the running timer was armed or restarted (the send it times out); null before the first.</summary>
    public readonly DateTimeOffset? ArmedAt => PackedMoment.Unpack(_armedAt);

    /// <summary>A new client connection: no RTT known.</summary>
    public void Reset()
    {
        _srtt = null;
        _rttVar = TimeSpan.Zero;
        _initial = options.InitialRto;
        Rto = _initial;
        ResetConnection();
    }

    /// <summary>
    /// Until the connection has a sample of its own, it waits <paramref name="rto"/> instead of
    /// <see cref="SessionOptions.InitialRto"/>: what handshakes of other sessions to the same target took
    /// (<see cref="HandshakeRtts"/>). Changes nothing once a sample was taken.
    /// </summary>
    public void StartFrom(TimeSpan rto)
    {
        if (!_srtt.HasValue)
        {
            _initial = rto;
            Rto = rto;
        }
    }

    /// <summary>A new connection to the target: the RTT estimate stays (same path), the rest starts over.</summary>
    public void ResetConnection()
    {
        Retries = 0;
        _duplicateAcks = 0;
        _timedSeq = null;
        Deadline = null;
    }

    /// <summary>Starts the timer unless it runs (RFC 6298 5.1).</summary>
    public void Arm(DateTimeOffset now)
    {
        if (Deadline is null)
        {
            Deadline = now + Rto;
            _armedAt = PackedMoment.Pack(now);
        }
    }

    /// <summary>Restarts the timer from now (RFC 6298 5.3).</summary>
    public void Restart(DateTimeOffset now)
    {
        Deadline = now + Rto;
        _armedAt = PackedMoment.Pack(now);
    }

    public void Stop() => Deadline = null;

    /// <summary>Times the segment ending at <paramref name="end"/> unless one is timed already.</summary>
    public void TimeSegment(uint end, DateTimeOffset now)
    {
        if (!_timedSeq.HasValue)
        {
            _timedSeq = end;
            _timedAt = now;
        }
    }

    /// <summary>Times our SYN (any earlier sample is void: a new handshake).</summary>
    public void TimeSyn(uint end, DateTimeOffset now)
    {
        _timedSeq = end;
        _timedAt = now;
    }

    /// <summary>Karn's rule: what was timed is being retransmitted, its acknowledgment would be ambiguous.</summary>
    public void CancelSample() => _timedSeq = null;

    /// <summary>
    /// The handshake completed: sample its RTT, clear the retries, stop the timer. The sample is the timed SYN's, or
    /// else <paramref name="echoed"/> (the round trip the target's echo of the answered SYN's timestamp gives, which a
    /// retransmission does not make ambiguous); returns the sample taken, if any.
    /// </summary>
    public TimeSpan? OnHandshake(DateTimeOffset now, TimeSpan? echoed = null)
    {
        var sample = _timedSeq.HasValue ? now - _timedAt : echoed;
        if (sample is { } taken)
        {
            Sample(taken);
        }

        _timedSeq = null;
        Retries = 0;
        Deadline = null;
        return sample;
    }

    /// <summary>
    /// New data was acknowledged up to <paramref name="ack"/>: sample if it covers the timed segment,
    /// clear the retries and recompute the RTO from the estimate (undoing any backoff, RFC 6298 5.7).
    /// </summary>
    public void OnAcknowledged(uint ack, DateTimeOffset now)
    {
        if (_timedSeq is { } timed && SeqNum.AfterOrEqual(ack, timed))
        {
            Sample(now - _timedAt);
            _timedSeq = null;
        }

        Retries = 0;
        _duplicateAcks = 0;
        Rto = Computed();
    }

    /// <summary>Counts a duplicate ACK; true on the one that calls for a fast retransmit.</summary>
    public bool OnDuplicateAck() => ++_duplicateAcks == DuplicateAckThreshold;

    /// <summary>
    /// The timer expired while the reply relay still holds what may answer it (<see cref="RelayLag"/>): it waits until
    /// <paramref name="until"/> instead, with no retry counted, no backoff, and what was timed still timed (no segment was
    /// sent twice, so its acknowledgment stays unambiguous), but never past the first deadline so put off +
    /// <paramref name="ceiling"/>. False, with nothing changed, when that ceiling is spent.
    /// </summary>
    public bool TryDefer(DateTimeOffset until, TimeSpan ceiling)
    {
        if (Deadline is not { } deadline)
        {
            return false;
        }

        var first = _deferredFrom != 0 ? _deferredFrom : _deadline;
        var last = PackedMoment.Unpack(first)!.Value + ceiling;
        if (until > last)
        {
            until = last;
        }

        if (until <= deadline)
        {
            return false;
        }

        Deadline = until;
        _deferredFrom = first;
        return true;
    }

    /// <summary>
    /// The timer expired while nothing can answer at all (no intercept, <see cref="RelayLag.NoIntercept"/>): it waits until
    /// <paramref name="until"/> with no retry counted and no backoff; what was timed is void (an answer after the hold
    /// would time the hold, not the path).
    /// </summary>
    public void Hold(DateTimeOffset until)
    {
        _timedSeq = null;
        Deadline = until;
    }

    /// <summary>The timer expired: it stops, and what was timed is void.</summary>
    public void Expire()
    {
        Deadline = null;
        _timedSeq = null;
    }

    /// <summary>Counts one more attempt; false once more than <paramref name="limit"/> were made.</summary>
    public bool TryRetry(int limit) => ++Retries <= limit;

    /// <summary>Doubles the RTO up to its bound (RFC 6298 5.5).</summary>
    public void Backoff() => Rto = Rto * 2 > options.MaxRto ? options.MaxRto : Rto * 2;

    private void Sample(TimeSpan sample)
    {
        if (_srtt is not { } srtt)
        {
            _srtt = sample;
            _rttVar = sample / 2;
        }
        else
        {
            var delta = srtt - sample;
            _rttVar = (_rttVar * 3 / 4) + (delta.Duration() / 4);
            _srtt = (srtt * 7 / 8) + (sample / 8);
        }

        Rto = Computed();
    }

    private TimeSpan Computed()
    {
        if (_srtt is not { } srtt)
        {
            return _initial;
        }

        var rto = srtt + (_rttVar * 4);
        return rto < options.MinRto ? options.MinRto : rto > options.MaxRto ? options.MaxRto : rto;
    }
}
