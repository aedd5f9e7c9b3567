using ReplayCluster.Packets;
using ReplayCluster.Replay;
using ReplayCluster.Statistics;

namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// The client side of one replayed TCP connection toward the target: the captured client segments go
/// in, response records from the intercept go in, timer expiries go in; segments to the target come
/// out through <see cref="ISegmentTransport"/>. Single-threaded (one session actor owns it) and free of
/// I/O and clocks of its own, so every path is unit-testable.
/// </summary>
/// <remarks>
/// The client's sequence space is kept as captured; only acknowledgments and timestamp echoes are
/// translated into the target's space (tcpcopy's model). The captured bytes are the retransmission
/// buffer: nothing is released until the target acknowledges it. A connection the target closes or
/// resets while captured data is still pending is re-opened with a fresh handshake whose ISN is one
/// below the first unacknowledged byte, so the remaining data keeps its sequence numbers.
/// <para>
/// Reply latency: from the moment a request's last byte is first sent to the moment the first byte of
/// the target's response arrives here (relayed by the intercept, so the relay's delay is included).
/// Retransmissions and resends on a new connection do not restart the clock: a request that needed
/// them waited that long for its reply. One sample per request as <see cref="SessionCounters.RequestsCaptured"/>
/// counts them; a request sent before the previous one's response began (no-wait pacing) cannot be told
/// apart from that previous one at the target, so the first response byte is the older request's sample.
/// </para>
/// </remarks>
internal sealed class ReplaySession
{
    private const ushort AdvertisedWindow = 65535;
    private const int DuplicateAckThreshold = 3;

    private readonly SessionEndpoints _endpoints;
    private readonly SessionOptions _options;
    private readonly ISegmentTransport _transport;
    private readonly TimeProvider _time;
    private readonly long _startTimestamp;
    private readonly CapturedStream _stream;
    private readonly ReplyLatencyHistogram? _replyLatency;

    private Phase _phase = Phase.New;
    private uint _isn;
    private uint _sndUna;
    private uint _sndNxt;
    private uint _sndMax;

    // Highest sequence ever sent, across reconnects: data below it is a resend and never re-runs pacing.
    private uint _sndHigh;
    private uint? _clientIsn;
    private bool _finGateOpened;
    private bool _useTimestamps;
    private uint _tsBase;
    private ushort _ipId;

    private uint _rcvNxt;
    private uint _irs;
    private long _peerWindow;
    private int _peerWindowScale;
    private int _mss;
    private bool _timestampsOn;
    private uint _tsRecent;
    private bool _targetGone;

    private uint? _handshakeAck;
    private uint _lastSentAck;
    private bool _lastSentAckKnown;
    private long _responseBytesSinceRequest;
    private DateTimeOffset _requestSentAt;
    private DateTimeOffset _lastResponseAt;

    // When the awaited request's last byte so far was first sent; null when no reply is awaited.
    private DateTimeOffset? _replyAwaitedSince;

    // A later request went out before the awaited one's reply began: the sample stays the older one's.
    private bool _replyAwaitedFrozen;

    private uint? _clientFinSeq;
    private uint _clientFinAck;
    private bool _finSent;
    private bool _finAcked;
    private bool _targetFin;
    private bool _clientReset;

    private TimeSpan _rto;
    private TimeSpan? _srtt;
    private TimeSpan _rttVar;
    private int _retries;
    private DateTimeOffset? _rtoDeadline;
    private uint? _rttSeq;
    private DateTimeOffset _rttSentAt;
    private int _duplicateAcks;
    private DateTimeOffset? _persistDeadline;
    private TimeSpan _persistInterval;
    private DateTimeOffset? _pacingDeadline;
    private DateTimeOffset? _gapSince;
    private DateTimeOffset? _finWaitDeadline;
    private DateTimeOffset _lastActivity;
    private DateTimeOffset _lingerUntil;

    public ReplaySession(SessionEndpoints endpoints, SessionOptions options, ISegmentTransport transport, TimeProvider time,
        BufferBudget? budget = null, ReplyLatencyHistogram? replyLatency = null)
    {
        _stream = new CapturedStream(budget);
        _replyLatency = replyLatency;
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(time);
        _endpoints = endpoints;
        _options = options;
        _transport = transport;
        _time = time;
        _startTimestamp = time.GetTimestamp();
        _rto = options.InitialRto;
        _mss = options.Mss;
        _ipId = (ushort)Random.Shared.Next(ushort.MaxValue);
        _lastActivity = time.GetUtcNow();
    }

    private enum Phase
    {
        New,
        SynSent,
        Established,
        Ended,
    }

    /// <summary>The session's identity at the target.</summary>
    public SessionEndpoints Endpoints => _endpoints;

    public SessionCounters Counters { get; } = new();

    /// <summary>Why the session ended; <see cref="SessionEndReason.None"/> while it runs.</summary>
    public SessionEndReason EndReason { get; private set; }

    /// <summary>True once the session has ended and its linger time (absorbing late packets) is over.</summary>
    public bool IsFinished => _phase == Phase.Ended && Now >= _lingerUntil;

    /// <summary>True while a connection to the target is open (handshake done, not closed or reset).</summary>
    public bool IsEstablished => _phase == Phase.Established && !_targetGone;

    /// <summary>First captured byte the target has not acknowledged.</summary>
    public uint SendUnacknowledged => _sndUna;

    /// <summary>Next captured byte to send.</summary>
    public uint SendNext => _sndNxt;

    /// <summary>Next target byte expected (the acknowledgment we send).</summary>
    public uint ReceiveNext => _rcvNxt;

    /// <summary>Captured bytes held for the target.</summary>
    public long BufferedBytes => _stream.BufferedBytes;

    /// <summary>Current retransmission timeout.</summary>
    public TimeSpan RetransmissionTimeout => _rto;

    /// <summary>The earliest moment <see cref="OnTimer"/> has work to do, or null when nothing is armed.</summary>
    public DateTimeOffset? NextDeadline
    {
        get
        {
            if (_phase == Phase.Ended)
            {
                return _lingerUntil;
            }

            DateTimeOffset? next = _lastActivity + (HasPendingData ? _options.IdleTimeout : _options.KeepAliveTimeout);
            next = Min(next, _rtoDeadline);
            next = Min(next, _persistDeadline);
            next = Min(next, _pacingDeadline);
            next = Min(next, _gapSince + _options.GapWait);
            next = Min(next, _finWaitDeadline);
            return next;
        }
    }

    private DateTimeOffset Now => _time.GetUtcNow();

    private bool HasPendingData =>
        !_stream.IsEmpty || (_clientFinSeq.HasValue && !_finAcked);

    /// <summary>Handles one captured client-to-server segment.</summary>
    public void OnCaptured(in CapturedSegment segment)
    {
        var now = Now;
        if (_phase == Phase.Ended)
        {
            if (segment.HasFlag(TcpFlags.Syn) && !segment.HasFlag(TcpFlags.Ack) && segment.Sequence != _clientIsn)
            {
                Restart(now);
                StartWithSyn(segment, now);
            }
            else
            {
                Counters.LatePacketsAbsorbed++;
            }

            return;
        }

        _lastActivity = now;
        if (segment.HasFlag(TcpFlags.Syn))
        {
            OnCapturedSyn(segment, now);
            return;
        }

        if (_phase == Phase.New)
        {
            if (segment.Payload.IsEmpty)
            {
                // A pure ACK or FIN of a connection whose start we never saw carries nothing to replay.
                Counters.LatePacketsAbsorbed++;
                return;
            }

            StartMidStream(segment, now);
        }
        else if (segment.Payload.IsEmpty && !_handshakeAck.HasValue && !segment.HasFlag(TcpFlags.Fin) && !segment.HasFlag(TcpFlags.Rst))
        {
            // The client's third handshake packet: its ack is where the online server's data starts,
            // so a first request acking more than this followed a greeting (server-first protocol).
            _handshakeAck = segment.Acknowledgment;
            if (!_lastSentAckKnown)
            {
                _lastSentAck = segment.Acknowledgment;
                _lastSentAckKnown = true;
            }
        }

        if (!segment.Payload.IsEmpty)
        {
            Insert(segment.Sequence, segment.Payload.Span, segment.Acknowledgment);
            if (_phase == Phase.Ended)
            {
                return;
            }
        }

        if (segment.HasFlag(TcpFlags.Fin) && !_clientFinSeq.HasValue)
        {
            _clientFinSeq = segment.Sequence + (uint)segment.Payload.Length;
            _clientFinAck = segment.Acknowledgment;
        }

        if (segment.HasFlag(TcpFlags.Rst))
        {
            _clientReset = true;
        }

        if ((_targetGone || _targetFin) && _phase == Phase.Established)
        {
            if (!_stream.IsEmpty)
            {
                // The target closed its side; new data needs a new connection.
                Reconnect(now);
                return;
            }

            if (_targetGone && (_clientFinSeq.HasValue || _clientReset))
            {
                End(_clientReset ? SessionEndReason.ClientReset : SessionEndReason.Completed, now);
                return;
            }
        }

        Pump(now);
    }

    /// <summary>Handles one reply of the target, as relayed by an intercept node.</summary>
    public void OnResponse(in ResponseRecord reply)
    {
        var now = Now;
        if (_phase is Phase.Ended or Phase.New)
        {
            Counters.LatePacketsAbsorbed++;
            return;
        }

        var flags = (TcpFlags)reply.Flags;
        if (_phase == Phase.SynSent)
        {
            OnResponseWhileSynSent(reply, flags, now);
            return;
        }

        if (_targetGone)
        {
            Counters.LatePacketsAbsorbed++;
            return;
        }

        _lastActivity = now;
        if ((flags & (TcpFlags.Syn | TcpFlags.Ack)) == (TcpFlags.Syn | TcpFlags.Ack))
        {
            OnSynAckWhileEstablished(reply, now);
            return;
        }

        if ((flags & TcpFlags.Rst) != 0)
        {
            _targetGone = true;
            StopRetransmitTimer();
            if (HasPendingData && !_clientReset)
            {
                Reconnect(now);
            }
            else
            {
                End(_clientReset ? SessionEndReason.ClientReset : SessionEndReason.Completed, now, sendReset: false);
            }

            return;
        }

        if ((flags & TcpFlags.Ack) != 0)
        {
            OnAcknowledgment(reply, now);
            if (_phase == Phase.Ended)
            {
                return;
            }
        }

        var needAck = OnResponseData(reply, flags, now);
        if (needAck)
        {
            SendAck();
        }

        if (_finAcked && _targetFin)
        {
            End(SessionEndReason.Completed, now, sendReset: false);
            return;
        }

        if (_targetFin && !_targetGone)
        {
            AfterTargetFin(now);
            return;
        }

        if (_finAcked && !_targetFin && !_finWaitDeadline.HasValue)
        {
            _finWaitDeadline = now + _options.Linger;
        }

        Pump(now);
    }

    /// <summary>Runs whatever timers are due; call at <see cref="NextDeadline"/> (early calls are harmless).</summary>
    public void OnTimer()
    {
        var now = Now;
        if (_phase == Phase.Ended)
        {
            return;
        }

        if (now - _lastActivity >= (HasPendingData ? _options.IdleTimeout : _options.KeepAliveTimeout))
        {
            End(HasPendingData ? SessionEndReason.IdleTimeout : SessionEndReason.KeepAliveTimeout, now);
            return;
        }

        if (_rtoDeadline <= now)
        {
            OnRetransmitTimeout(now);
            if (_phase == Phase.Ended)
            {
                return;
            }
        }

        if (_persistDeadline <= now)
        {
            SendZeroWindowProbe(now);
        }

        if (_finWaitDeadline <= now)
        {
            // Our FIN was acknowledged but the target never closed its side: nothing is lost.
            End(SessionEndReason.Completed, now);
            return;
        }

        if (_gapSince + _options.GapWait <= now)
        {
            SkipGap(now);
            return;
        }

        if (_pacingDeadline <= now)
        {
            _pacingDeadline = null;
            Pump(now);
        }
    }

    /// <summary>True while captured data (or the client's FIN) waits for the target.</summary>
    public bool HasPending => _phase != Phase.Ended && HasPendingData;

    /// <summary>One line of state for diagnostics (logged when a session is lost with data pending).</summary>
    public string Describe() =>
        $"{_endpoints} phase={_phase} isn={_isn} una={_sndUna} nxt={_sndNxt} max={_sndMax} high={_sndHigh} captured-next={_stream.ContiguousEnd} " +
        $"chunks={_stream.Count} buffered={_stream.BufferedBytes} rcv-nxt={_rcvNxt} window={_peerWindow} fin-seq={_clientFinSeq?.ToString() ?? "-"} " +
        $"fin-sent={_finSent} fin-acked={_finAcked} target-fin={_targetFin} target-gone={_targetGone} last-ack={(_lastSentAckKnown ? _lastSentAck : 0)} " +
        $"response-bytes={_responseBytesSinceRequest} retries={_retries} rto={_rto.TotalMilliseconds}ms deadline={NextDeadline:HH:mm:ss.fff}";

    /// <summary>Ends the session from outside (node shutdown), resetting the target's connection.</summary>
    public void Abort()
    {
        if (_phase != Phase.Ended)
        {
            End(SessionEndReason.Aborted, Now);
        }
    }

    private void OnCapturedSyn(in CapturedSegment segment, DateTimeOffset now)
    {
        if (segment.HasFlag(TcpFlags.Ack))
        {
            return;
        }

        if (_phase == Phase.New)
        {
            StartWithSyn(segment, now);
            return;
        }

        if (segment.Sequence == _clientIsn)
        {
            Counters.ClientDuplicateBytes++;
            return;
        }

        // The same client port opened a new connection while the old one is still known here: the old
        // one is over. Reset it at the target and start the new one on the same 4-tuple.
        Counters.PortReuses++;
        Restart(now);
        StartWithSyn(segment, now);
    }

    private void StartWithSyn(in CapturedSegment segment, DateTimeOffset now)
    {
        _isn = segment.Sequence;
        _clientIsn = segment.Sequence;
        _sndHigh = _isn + 1;
        _useTimestamps = segment.TsVal.HasValue;
        _tsBase = segment.TsVal ?? 0;
        if (segment.Mss > 0)
        {
            _mss = Math.Min(segment.Mss, _options.Mss);
        }

        _stream.Reset(_isn + 1);
        Connect(now);
    }

    private void StartMidStream(in CapturedSegment segment, DateTimeOffset now)
    {
        // Joined mid-stream: synthesize the handshake just below the first byte we have.
        _isn = segment.Sequence - 1;
        _sndHigh = segment.Sequence;
        _useTimestamps = segment.TsVal.HasValue;
        _tsBase = segment.TsVal ?? 0;
        _stream.Reset(segment.Sequence);
        _lastSentAck = segment.Acknowledgment;
        _lastSentAckKnown = true;
        Connect(now);
    }

    private void Connect(DateTimeOffset now)
    {
        _phase = Phase.SynSent;
        _sndUna = _isn;
        _sndNxt = _isn + 1;
        _sndMax = _sndNxt;
        _rcvNxt = 0;
        _peerWindow = 0;
        _peerWindowScale = 0;
        _timestampsOn = false;
        _tsRecent = 0;
        _targetGone = false;
        _targetFin = false;
        _finSent = false;
        _duplicateAcks = 0;
        _retries = 0;
        _persistDeadline = null;
        _finWaitDeadline = null;
        SendSyn(now);
    }

    private void Restart(DateTimeOffset now)
    {
        if (_phase is Phase.SynSent or Phase.Established && !_targetGone)
        {
            SendReset();
        }

        _stream.Clear();
        _handshakeAck = null;
        _lastSentAckKnown = false;
        _clientIsn = null;
        _finGateOpened = false;
        _clientFinSeq = null;
        _finAcked = false;
        _clientReset = false;
        _gapSince = null;
        _pacingDeadline = null;
        _rtoDeadline = null;
        _replyAwaitedSince = null;
        _phase = Phase.New;
        EndReason = SessionEndReason.None;
        _lastActivity = now;
    }

    private void Reconnect(DateTimeOffset now)
    {
        if (_phase == Phase.Established && !_targetGone)
        {
            SendReset();
        }

        Counters.Reconnects++;
        _isn = _sndUna - 1;
        _finSent = false;
        _requestSentAt = now;
        Connect(now);
    }

    private void OnResponseWhileSynSent(in ResponseRecord reply, TcpFlags flags, DateTimeOffset now)
    {
        // A kernel answers a SYN to a closed port with RST, seq 0, ack ISN+1. A late RST of the previous
        // connection can carry the same ack (a reconnect's ISN is one below the first unacked byte),
        // but never seq 0 with that ack, so only the former means "refused".
        if ((flags & TcpFlags.Rst) != 0 && (flags & TcpFlags.Ack) != 0 && reply.Acknowledgment == _isn + 1 && reply.Sequence == 0)
        {
            _targetGone = true;
            End(SessionEndReason.TargetRefused, now, sendReset: false);
            return;
        }

        if ((flags & (TcpFlags.Syn | TcpFlags.Ack)) != (TcpFlags.Syn | TcpFlags.Ack) || reply.Acknowledgment != _isn + 1)
        {
            Counters.LatePacketsAbsorbed++;
            return;
        }

        _lastActivity = now;
        if (_rttSeq.HasValue)
        {
            SampleRtt(now - _rttSentAt);
        }

        _irs = reply.Sequence;
        _rcvNxt = reply.Sequence + 1;
        _peerWindowScale = reply.WindowScale == ResponseRecord.NoWindowScale ? 0 : Math.Min((int)reply.WindowScale, 14);
        _peerWindow = reply.Window;
        if (reply.Mss > 0)
        {
            _mss = Math.Min(_mss, reply.Mss);
        }

        _timestampsOn = _useTimestamps && reply.HasTimestamp;
        _tsRecent = reply.TsVal;
        _phase = Phase.Established;
        _sndUna = _isn + 1;
        _retries = 0;
        StopRetransmitTimer();
        _requestSentAt = now;
        SendAck();
        Pump(now);
    }

    /// <summary>
    /// A SYN-ACK after ours was accepted. The same one again means our ACK was lost: acknowledge it.
    /// Another one (other ISN) while the target has acknowledged nothing means our handshake did not
    /// take: under listen-queue overflow the first SYN got a stateless cookie SYN-ACK, and the SYN's
    /// retransmission then got a real handshake the target keeps waiting on. The target repeats that
    /// one (a cookie is never repeated), so adopting the newest converges on it.
    /// </summary>
    private void OnSynAckWhileEstablished(in ResponseRecord reply, DateTimeOffset now)
    {
        if (reply.Acknowledgment != _isn + 1)
        {
            Counters.LatePacketsAbsorbed++;
            return;
        }

        if (reply.Sequence != _irs && _sndUna == _isn + 1 && _rcvNxt == _irs + 1 && !_finSent)
        {
            Counters.HandshakesAdopted++;
            _irs = reply.Sequence;
            _rcvNxt = reply.Sequence + 1;
            _tsRecent = reply.TsVal;
            _peerWindow = reply.Window;
            _sndNxt = _sndUna;
            _rttSeq = null;
            SendAck();
            Pump(now);
            return;
        }

        SendAck();
    }

    private void OnAcknowledgment(in ResponseRecord reply, DateTimeOffset now)
    {
        var ack = reply.Acknowledgment;
        var window = (long)reply.Window << _peerWindowScale;
        if (SeqNum.After(ack, _sndUna) && SeqNum.BeforeOrEqual(ack, _sndMax))
        {
            if (_rttSeq.HasValue && SeqNum.AfterOrEqual(ack, _rttSeq.Value))
            {
                SampleRtt(now - _rttSentAt);
                _rttSeq = null;
            }

            Counters.BytesAcknowledged += SeqNum.Diff(_sndUna, ack);
            _sndUna = ack;
            if (SeqNum.Before(_sndNxt, _sndUna))
            {
                _sndNxt = _sndUna;
            }

            if (_finSent && _clientFinSeq.HasValue && ack == _clientFinSeq.Value + 1)
            {
                _finAcked = true;
            }

            _stream.ReleaseUpTo(_sndUna, Counters);
            _retries = 0;
            _duplicateAcks = 0;
            _rto = ComputedRto();
            if (_sndUna == _sndMax)
            {
                StopRetransmitTimer();
            }
            else
            {
                _rtoDeadline = now + _rto;
            }

            if (_clientReset && !HasPendingData)
            {
                End(SessionEndReason.ClientReset, now);
                return;
            }
        }
        else if (ack == _sndUna && reply.PayloadLength == 0 && ((TcpFlags)reply.Flags & TcpFlags.Fin) == 0
                 && _sndUna != _sndMax && window == _peerWindow)
        {
            if (++_duplicateAcks == DuplicateAckThreshold)
            {
                Counters.FastRetransmits++;
                RetransmitFirst(now);
            }
        }

        _peerWindow = window;
        if (_peerWindow > 0)
        {
            _persistDeadline = null;
        }
    }

    private bool OnResponseData(in ResponseRecord reply, TcpFlags flags, DateTimeOffset now)
    {
        var needAck = false;
        var length = reply.PayloadLength;
        var end = reply.Sequence + length;
        if (length > 0)
        {
            needAck = true;
            if (SeqNum.AfterOrEqual(_rcvNxt, reply.Sequence) && SeqNum.After(end, _rcvNxt))
            {
                var fresh = SeqNum.Diff(_rcvNxt, end);
                _rcvNxt = end;
                _responseBytesSinceRequest += fresh;
                Counters.ResponseBytes += fresh;
                _lastResponseAt = now;
                if (_replyAwaitedSince is { } since)
                {
                    _replyLatency?.Record(now - since);
                    _replyAwaitedSince = null;
                }
            }
        }

        if (_timestampsOn && reply.HasTimestamp && SeqNum.BeforeOrEqual(reply.Sequence, _rcvNxt))
        {
            _tsRecent = reply.TsVal;
        }

        if ((flags & TcpFlags.Fin) != 0 && !_targetFin && end == _rcvNxt)
        {
            _rcvNxt++;
            _targetFin = true;
            needAck = true;
        }
        else if ((flags & TcpFlags.Fin) != 0 && _targetFin)
        {
            needAck = true;
        }

        return needAck;
    }

    private void AfterTargetFin(DateTimeOffset now)
    {
        if (_finAcked)
        {
            End(SessionEndReason.Completed, now, sendReset: false);
        }
        else if (!_stream.IsEmpty)
        {
            // The target closed with requests still pending (e.g. a shorter keep-alive timeout than
            // production's): open a new connection and go on.
            Reconnect(now);
        }
        else
        {
            // Half-closed by the target: our FIN follows when the client's is captured (Pump).
            Pump(now);
        }
    }

    private void Insert(uint sequence, ReadOnlySpan<byte> payload, uint capturedAck)
    {
        _stream.Insert(sequence, payload, capturedAck, _phase == Phase.SynSent ? _isn + 1 : _sndUna, Counters);
        if (_stream.BufferedBytes > _options.MaxBufferedBytes)
        {
            End(SessionEndReason.BufferOverflow, Now);
        }
    }

    private void Pump(DateTimeOffset now)
    {
        if (_phase != Phase.Established || _targetGone)
        {
            return;
        }

        while (true)
        {
            if (_clientFinSeq.HasValue && _sndNxt == _clientFinSeq.Value && !_finSent)
            {
                if (_sndUna == _sndNxt && (_finGateOpened || TryOpenGate(_clientFinAck, now)))
                {
                    _finGateOpened = true;
                    SendSegment(TcpFlags.Fin | TcpFlags.Ack, _sndNxt, ReadOnlySpan<byte>.Empty, now);
                    _finSent = true;
                    _sndNxt++;
                    _sndMax = SeqNum.Max(_sndMax, _sndNxt);
                    ArmRetransmitTimer(now);
                }

                return;
            }

            if (!_stream.TryGetChunkAt(_sndNxt, out var chunk))
            {
                UpdateGapWatch(now);
                return;
            }

            _gapSince = null;
            if (_targetFin)
            {
                // Data to send but the target has closed: continue on a new connection.
                Reconnect(now);
                return;
            }

            if (_sndNxt == chunk.Seq && SeqNum.AfterOrEqual(_sndNxt, _sndHigh)
                && (!_lastSentAckKnown || chunk.CapturedAck != _lastSentAck) && !TryOpenGate(chunk.CapturedAck, now))
            {
                return;
            }

            var inFlight = SeqNum.Diff(_sndUna, _sndNxt);
            var room = _peerWindow - inFlight;
            if (room <= 0)
            {
                if (_peerWindow == 0 && _sndUna == _sndNxt && !_persistDeadline.HasValue)
                {
                    _persistInterval = _rto;
                    _persistDeadline = now + _persistInterval;
                }

                return;
            }

            var offset = SeqNum.Diff(chunk.Seq, _sndNxt);
            var length = (int)Math.Min(Math.Min(chunk.Data.Length - offset, _mss), room);
            var last = offset + length == chunk.Data.Length;
            SendSegment(TcpFlags.Ack | (last ? TcpFlags.Psh : TcpFlags.None), _sndNxt, chunk.Data.AsSpan(offset, length), now);
            if (SeqNum.AfterOrEqual(_sndNxt, _sndHigh))
            {
                OnRequestBytesFirstSent(chunk.StartsRequest && offset == 0, now);
            }
            if (!_rttSeq.HasValue && SeqNum.AfterOrEqual(_sndNxt, _sndMax))
            {
                _rttSeq = _sndNxt + (uint)length;
                _rttSentAt = now;
            }

            _sndNxt += (uint)length;
            _sndMax = SeqNum.Max(_sndMax, _sndNxt);
            _sndHigh = SeqNum.Max(_sndHigh, _sndNxt);
            ArmRetransmitTimer(now);
        }
    }

    /// <summary>
    /// Whether the request (or FIN) whose captured ack is <paramref name="capturedAck"/> may go now.
    /// The online client had received (capturedAck - previous ack) response bytes before sending it;
    /// it goes once the target sent as much, or fell silent after answering, or the wait limit passed.
    /// </summary>
    private bool TryOpenGate(uint capturedAck, DateTimeOffset now)
    {
        var expected = _lastSentAckKnown ? SeqNum.Diff(_lastSentAck, capturedAck) : 0;
        var open = _options.Pacing == PacingMode.NoWait || expected <= 0;
        if (!open && _sndUna == _sndNxt)
        {
            if (_responseBytesSinceRequest >= expected)
            {
                open = true;
            }
            else if (_responseBytesSinceRequest > 0 && now - _lastResponseAt >= _options.ResponseSilence)
            {
                open = true;
            }
            else if (now - _requestSentAt >= _options.ResponseWaitLimit)
            {
                Counters.ResponseWaitsExpired++;
                open = true;

                // The previous request got no reply at all: whatever answer comes next is this one's.
                _replyAwaitedSince = null;
            }
            else
            {
                var silenceAt = _responseBytesSinceRequest > 0 ? _lastResponseAt + _options.ResponseSilence : DateTimeOffset.MaxValue;
                var limitAt = _requestSentAt + _options.ResponseWaitLimit;
                _pacingDeadline = silenceAt < limitAt ? silenceAt : limitAt;
            }
        }

        if (open)
        {
            _pacingDeadline = null;
            _lastSentAck = capturedAck;
            _lastSentAckKnown = true;
            _responseBytesSinceRequest = 0;
            _requestSentAt = now;
            Counters.RequestsSent++;
        }

        return open;
    }

    /// <summary>Moves the reply latency clock: bytes of a request went to the target for the first time.</summary>
    private void OnRequestBytesFirstSent(bool startsRequest, DateTimeOffset now)
    {
        if (startsRequest && _replyAwaitedSince.HasValue)
        {
            _replyAwaitedFrozen = true;
        }
        else if (startsRequest)
        {
            _replyAwaitedSince = now;
            _replyAwaitedFrozen = false;
        }
        else if (_replyAwaitedSince.HasValue && !_replyAwaitedFrozen)
        {
            _replyAwaitedSince = now;
        }
    }

    private void UpdateGapWatch(DateTimeOffset now)
    {
        if (!_stream.IsStalledAtGap(_sndNxt))
        {
            _gapSince = null;
        }
        else if (!_gapSince.HasValue)
        {
            _gapSince = now;
        }
    }

    private void SkipGap(DateTimeOffset now)
    {
        _gapSince = null;
        var gapStart = _stream.ContiguousEnd;
        if (!_stream.TryGetFirstEndingAfter(gapStart, out var next) || _sndUna != gapStart)
        {
            // Either the gap filled meanwhile, or bytes before it are still unacknowledged: the
            // retransmission timer deals with those first.
            Pump(now);
            return;
        }

        // The capture never saw these bytes and never will: the target's stream cannot continue past
        // the hole, so the rest goes on a new connection that starts after it.
        var resume = next.Seq;
        Counters.GapBytesSkipped += SeqNum.Diff(gapStart, resume);
        _sndUna = resume;
        _sndNxt = resume;
        _stream.SkipTo(resume);
        Reconnect(now);
    }

    private void OnRetransmitTimeout(DateTimeOffset now)
    {
        _rtoDeadline = null;
        _rttSeq = null;
        if (_phase == Phase.SynSent)
        {
            if (++_retries > _options.MaxSynRetries)
            {
                End(SessionEndReason.SynTimeout, now);
                return;
            }

            Counters.SynRetransmissions++;
            Backoff();
            SendSyn(now);
            return;
        }

        if (_sndUna == _sndMax || _targetGone)
        {
            return;
        }

        if (++_retries > _options.MaxRetries)
        {
            End(SessionEndReason.RetransmitLimit, now);
            return;
        }

        // Go back to the first unacknowledged byte and resend what the window allows: after a burst
        // of losses this recovers them all in one timeout instead of one per timeout.
        Backoff();
        _sndNxt = _sndUna;
        if (_finSent && !_finAcked)
        {
            _finSent = false;
        }

        Pump(now);
        _rtoDeadline ??= now + _rto;
    }

    /// <summary>Resends the first unacknowledged segment (or the FIN) and restarts the timer.</summary>
    private void RetransmitFirst(DateTimeOffset now)
    {
        _rttSeq = null;
        if (_finSent && _clientFinSeq.HasValue && _sndUna == _clientFinSeq.Value)
        {
            SendSegment(TcpFlags.Fin | TcpFlags.Ack, _sndUna, ReadOnlySpan<byte>.Empty, now);
            _rtoDeadline = now + _rto;
            return;
        }

        if (!_stream.TryGetChunkAt(_sndUna, out var chunk))
        {
            return;
        }

        var offset = SeqNum.Diff(chunk.Seq, _sndUna);
        var length = Math.Min(chunk.Data.Length - offset, _mss);
        SendSegment(TcpFlags.Ack | TcpFlags.Psh, _sndUna, chunk.Data.AsSpan(offset, length), now);
        _rtoDeadline = now + _rto;
    }

    private void SendZeroWindowProbe(DateTimeOffset now)
    {
        if (_peerWindow > 0 || _phase != Phase.Established || _targetGone)
        {
            _persistDeadline = null;
            return;
        }

        // A segment just below the window makes the target answer with an ACK carrying its window.
        Counters.ZeroWindowProbes++;
        SendSegment(TcpFlags.Ack, _sndUna - 1, ReadOnlySpan<byte>.Empty, now);
        _persistInterval = _persistInterval * 2 > _options.MaxRto ? _options.MaxRto : _persistInterval * 2;
        _persistDeadline = now + _persistInterval;
    }

    private void End(SessionEndReason reason, DateTimeOffset now, bool sendReset = true)
    {
        if (sendReset && reason != SessionEndReason.Completed && _phase is Phase.SynSent or Phase.Established && !_targetGone)
        {
            // Whatever the reason, the target must not keep a half-open connection for us.
            SendReset();
        }

        EndReason = reason;
        _phase = Phase.Ended;

        // Nothing will be sent again: the captured bytes go back to the node now, not after the linger.
        _stream.Clear();
        _lingerUntil = now + _options.Linger;
        _rtoDeadline = null;
        _persistDeadline = null;
        _pacingDeadline = null;
        _gapSince = null;
        _finWaitDeadline = null;
        _replyAwaitedSince = null;
    }

    private void SampleRtt(TimeSpan sample)
    {
        // RFC 6298.
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

        _rto = ComputedRto();
    }

    private TimeSpan ComputedRto()
    {
        if (_srtt is not { } srtt)
        {
            return _options.InitialRto;
        }

        var rto = srtt + (_rttVar * 4);
        return rto < _options.MinRto ? _options.MinRto : rto > _options.MaxRto ? _options.MaxRto : rto;
    }

    private void Backoff() => _rto = _rto * 2 > _options.MaxRto ? _options.MaxRto : _rto * 2;

    private void ArmRetransmitTimer(DateTimeOffset now) => _rtoDeadline ??= now + _rto;

    private void StopRetransmitTimer() => _rtoDeadline = null;

    private void SendSyn(DateTimeOffset now)
    {
        var spec = BaseSpec(TcpFlags.Syn, _isn, acknowledgment: 0) with
        {
            Mss = (ushort)_mss,
            WindowScale = _options.WindowScale,
            Timestamp = _useTimestamps ? new TcpTimestamp(TsValNow(), 0) : null,
        };
        Emit(spec, ReadOnlySpan<byte>.Empty);
        _rttSeq = _isn + 1;
        _rttSentAt = now;
        _rtoDeadline = now + _rto;
    }

    private void SendAck() => SendSegment(TcpFlags.Ack, _sndNxt, ReadOnlySpan<byte>.Empty, Now);

    private void SendReset() =>
        Emit(BaseSpec(TcpFlags.Rst | TcpFlags.Ack, _sndNxt, _rcvNxt) with { Window = 0 }, ReadOnlySpan<byte>.Empty);

    private void SendSegment(TcpFlags flags, uint sequence, ReadOnlySpan<byte> payload, DateTimeOffset now)
    {
        _ = now;
        if ((!payload.IsEmpty || (flags & TcpFlags.Fin) != 0) && SeqNum.Before(sequence, _sndHigh))
        {
            Counters.Retransmissions++;
        }

        var spec = BaseSpec(flags, sequence, _rcvNxt) with
        {
            Timestamp = _timestampsOn ? new TcpTimestamp(TsValNow(), _tsRecent) : null,
        };
        Emit(spec, payload);
    }

    private TcpSegmentSpec BaseSpec(TcpFlags flags, uint sequence, uint acknowledgment) => new()
    {
        SourceAddress = _endpoints.ClientAddress,
        SourcePort = _endpoints.ClientPort,
        DestinationAddress = _endpoints.TargetAddress,
        DestinationPort = _endpoints.TargetPort,
        Sequence = sequence,
        Acknowledgment = acknowledgment,
        Flags = flags,
        Window = AdvertisedWindow,
        IpId = _ipId++,
    };

    private void Emit(in TcpSegmentSpec spec, ReadOnlySpan<byte> payload)
    {
        Counters.SegmentsSent++;
        _transport.Send(spec, payload);
    }

    /// <summary>Our TSval: the client's first TSval plus milliseconds since the session began, so it only grows.</summary>
    private uint TsValNow() => _tsBase + (uint)_time.GetElapsedTime(_startTimestamp).TotalMilliseconds;

    private static DateTimeOffset? Min(DateTimeOffset? a, DateTimeOffset? b) =>
        a is null ? b : b is null ? a : a < b ? a : b;
}
