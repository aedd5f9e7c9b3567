using ReplayCluster.Packets;
using ReplayCluster.Protocol;
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
/// below the first unacknowledged byte, so the remaining data keeps its sequence numbers and nothing
/// the target acknowledged is sent twice.
/// <para>
/// The state lives in parts, each with its own reset: <see cref="SendSpace"/>, <see cref="ReceiveSpace"/>,
/// the <see cref="RetransmissionTimer"/>, the <see cref="RequestPacer"/>, the <see cref="ReplyLatencyClock"/>
/// and the <see cref="CloseState"/>; <see cref="NextDeadline"/> is the earliest of their deadlines. What
/// stays here is the phase, the handshake as the client made it, and the orchestration.
/// </para>
/// </remarks>
internal sealed class ReplaySession : ISessionCounting
{
    private const ushort AdvertisedWindow = 65535;

    /// <summary>
    /// New connections a session opens after target resets that acknowledged nothing new, before it
    /// gives up (<see cref="SessionEndReason.TargetReset"/>): a target that resets every connection
    /// before reading would otherwise be reconnected to forever.
    /// </summary>
    internal const int MaxResetsWithoutProgress = 3;

    // Longer than every SYN retry together (by default at most 1 s doubled six times, each capped at MaxRto 5 s: 27 s):
    // an echo further back (or ahead, which wraps) is not of this handshake.
    private const uint MaxEchoedRoundTripMs = 60_000;

    private readonly SessionEndpoints _endpoints;
    private readonly SessionOptions _options;
    private readonly ISegmentTransport _transport;
    private readonly TimeProvider _time;
    private readonly long _startTimestamp;
    private readonly HandshakeRtts? _handshakes;
    private readonly RelayLag? _relayLag;
    // The parts are mutable structs held in place (one object per session instead of eight: ~170 bytes less
    // per live session). Never readonly, never copied out: a readonly field or a local copy would be mutated
    // as a defensive copy and the change lost.
    private CapturedStream _stream;
    private SendSpace _send;
    private ReceiveSpace _receive = new();
    private RetransmissionTimer _timer;
    private RequestPacer _pacer;
    private ReplyLatencyClock _latency;
    private CloseState _close = new();

    private SessionCounters? _counters;
    private Phase _phase = Phase.New;

    // The handshake as the client made it: its ISN, whether its third packet was seen, its timestamps.
    private uint? _clientIsn;
    private bool _handshakeAckSeen;
    private bool _carriedData;
    private bool _useTimestamps;
    private uint _tsBase;
    private ushort _ipId;

    // The last stale connection reset during this handshake attempt (its ACK may come twice), and how many.
    private uint? _staleAckReset;
    private int _staleResets;

    // A plain ACK of exactly ISN+1 came while the SYN waited: reset it before the SYN goes again.
    private bool _staleAckPending;

    // Target resets in a row that found the same bytes still unacknowledged (see MaxResetsWithoutProgress).
    private int _resetsWithoutProgress;

    // While a batch of replies is taken, sending waits for its end (OnResponses); whether something asked to send.
    private bool _deferPump;
    private bool _pumpDeferred;

    private long _gapSince;
    private long _lastActivity;

    public ReplaySession(SessionEndpoints endpoints, SessionOptions options, ISegmentTransport transport, TimeProvider time,
        BufferBudget? budget = null, ReplyLatencyHistogram? replyLatency = null, HandshakeRtts? handshakes = null, RelayLag? relayLag = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(time);
        _endpoints = endpoints;
        _options = options;
        _transport = transport;
        _time = time;
        _startTimestamp = time.GetTimestamp();
        _stream = new CapturedStream(budget);
        _send = new SendSpace(options);
        _timer = new RetransmissionTimer(options);
        _pacer = new RequestPacer(options, this);
        _latency = new ReplyLatencyClock(replyLatency);
        _handshakes = handshakes;
        _relayLag = relayLag;
        _ipId = (ushort)Random.Shared.Next(ushort.MaxValue);
        LastActivity = time.GetUtcNow();
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

    /// <summary>
    /// What the session did since its owner last took them (<see cref="TakeCounters"/>): created by the first count,
    /// so a session that did nothing since (an idle one) holds none.
    /// </summary>
    public SessionCounters Counters => _counters ??= new();

    /// <summary>Why the session ended; <see cref="SessionEndReason.None"/> while it runs.</summary>
    public SessionEndReason EndReason { get; private set; }

    /// <summary>True once the session has ended and its linger time (absorbing late packets) is over.</summary>
    public bool IsFinished => Ended is { } ended && Now >= ended.Until;

    /// <summary>What the session keeps through its linger once it ended (null until then, and again after a restart).</summary>
    public EndedSession? Ended { get; private set; }

    /// <summary>True while a connection to the target is open (handshake done, not closed or reset).</summary>
    public bool IsEstablished => _phase == Phase.Established && !_close.TargetGone;

    /// <summary>First captured byte the target has not acknowledged.</summary>
    public uint SendUnacknowledged => _send.Una;

    /// <summary>Next captured byte to send.</summary>
    public uint SendNext => _send.Nxt;

    /// <summary>Next target byte expected (the acknowledgment we send).</summary>
    public uint ReceiveNext => _receive.Nxt;

    /// <summary>Captured bytes held for the target.</summary>
    public long BufferedBytes => _stream.BufferedBytes;

    /// <summary>Current retransmission timeout.</summary>
    public TimeSpan RetransmissionTimeout => _timer.Rto;

    /// <summary>Requests released to the target whose answer has not been seen complete yet.</summary>
    public int InFlightRequests => _phase == Phase.Ended ? 0 : _pacer.Outstanding;

    /// <summary>The earliest moment <see cref="OnTimer"/> has work to do, or null when nothing is armed.</summary>
    public DateTimeOffset? NextDeadline
    {
        get
        {
            if (Ended is { } ended)
            {
                return ended.Until;
            }

            DateTimeOffset? next = LastActivity + Silence;
            next = Min(next, _timer.Deadline);
            next = Min(next, _send.PersistDeadline);
            next = Min(next, _pacer.Deadline);
            next = Min(next, GapSince + _options.GapWait);
            next = Min(next, _close.FinWaitDeadline);
            next = Min(next, _receive.AckDeadline);
            return next;
        }
    }

    /// <summary>True while captured data (or the client's FIN) waits for the target.</summary>
    public bool HasPending => _phase != Phase.Ended && HasPendingData;

    private DateTimeOffset Now => _time.GetUtcNow();

    // UTC ticks: 8 bytes each instead of 16.
    private DateTimeOffset LastActivity { get => new(_lastActivity, TimeSpan.Zero); set => _lastActivity = value.UtcTicks; }


    private DateTimeOffset? GapSince { get => PackedMoment.Unpack(_gapSince); set => _gapSince = PackedMoment.Pack(value); }

    private bool HasPendingData => !_stream.IsEmpty || _close.FinPending;

    // How a connection the client closed ended: by its FIN, or by its reset (for which our FIN may have stood).
    private SessionEndReason ClosedReason => _close.ClientReset ? SessionEndReason.ClientReset : SessionEndReason.Completed;

    // Silence allowed: with data pending, the idle timeout; a client that never sent a byte, the no-data timeout.
    private TimeSpan Silence => HasPendingData ? _options.IdleTimeout
        : _carriedData ? _options.KeepAliveTimeout
        : _options.NoDataTimeout < _options.KeepAliveTimeout ? _options.NoDataTimeout : _options.KeepAliveTimeout;

    /// <summary>Handles one captured client-to-server segment.</summary>
    public void OnCaptured(in CapturedSegment segment)
    {
        var now = Now;
        if (Ended is { } ended)
        {
            if (ended.IsNewConnection(segment))
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

        LastActivity = now;
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
        else if (segment.Payload.IsEmpty && !_handshakeAckSeen && !segment.HasFlag(TcpFlags.Fin) && !segment.HasFlag(TcpFlags.Rst))
        {
            // The client's third handshake packet: its ack is where the online server's data starts,
            // so a first request acking more than this followed a greeting (server-first protocol).
            _handshakeAckSeen = true;
            _pacer.Anchor(segment.Acknowledgment, segment.CapturedAtNanos);
        }

        if (!segment.Payload.IsEmpty)
        {
            _carriedData = true;
            Insert(segment);
            if (_phase == Phase.Ended)
            {
                return;
            }
        }

        if (segment.HasFlag(TcpFlags.Fin))
        {
            _close.OnClientFin(segment.Sequence + (uint)segment.Payload.Length, segment.Acknowledgment, segment.CapturedAtNanos);
        }

        if (segment.HasFlag(TcpFlags.Rst))
        {
            _close.OnClientReset(segment.HasFlag(TcpFlags.Ack) ? segment.Acknowledgment : null);
        }

        if ((_close.TargetGone || _close.TargetFin) && _phase == Phase.Established)
        {
            if (!_stream.IsEmpty)
            {
                // The target closed its side; new data needs a new connection.
                Reconnect(now);
                return;
            }

            if (_close.TargetGone && (_close.ClientFinSeq.HasValue || _close.ClientReset))
            {
                End(ClosedReason, now);
                return;
            }
        }

        Pump(now);
    }

    /// <summary>Handles one reply of the target, as relayed by an intercept node.</summary>
    public void OnResponse(in ResponseRecord reply)
    {
        Take(reply);
        EndTurn();
    }

    /// <summary>
    /// Handles several replies of the target in their order (a relayed batch) as one turn: what they release is sent
    /// once all of them were taken, so a request or our FIN goes out acknowledging the whole batch, and no pure ACK
    /// leaves for a segment that a segment of ours acknowledges anyway (a response of two segments and the target's
    /// FIN in one batch: one FIN from us, where per reply it was an ACK, a FIN and an ACK).
    /// </summary>
    public void OnResponses(ReadOnlySpan<ResponseRecord> replies)
    {
        _deferPump = true;
        try
        {
            foreach (ref readonly var reply in replies)
            {
                Take(reply);
            }
        }
        finally
        {
            _deferPump = false;
        }

        EndTurn();
    }

    // The end of a turn of replies: the send the batch deferred, then the acknowledgment no segment of ours carried.
    private void EndTurn()
    {
        var now = Now;
        if (_pumpDeferred)
        {
            _pumpDeferred = false;
            Pump(now);
        }

        if (IsEstablished && _receive.AckOwed && _receive.DecideAck(now, _options.DelayedAck))
        {
            SendAck();
        }
    }

    private void Take(in ResponseRecord reply)
    {
        var now = Now;
        var flags = (TcpFlags)reply.Flags;
        if (_phase is Phase.Ended or Phase.New)
        {
            if (Ended is { } ended && ended.AnswerLateReply(reply, _transport))
            {
                Counters.StaleConnectionsReset++;
                Counters.SegmentsSent++;
                return;
            }

            Counters.LatePacketsAbsorbed++;
            return;
        }

        if (_phase == Phase.SynSent)
        {
            OnResponseWhileSynSent(reply, flags, now);
            return;
        }

        if (_close.TargetGone)
        {
            Counters.LatePacketsAbsorbed++;
            return;
        }

        LastActivity = now;
        if ((flags & (TcpFlags.Syn | TcpFlags.Ack)) == (TcpFlags.Syn | TcpFlags.Ack))
        {
            OnSynAckWhileEstablished(reply, now);
            return;
        }

        if ((flags & TcpFlags.Rst) != 0)
        {
            if (!TakesReset(reply))
            {
                return;
            }

            // Its ack is not taken as delivered: a kernel resets with everything it received, also what
            // its application closed without reading. What was not acknowledged before goes again, also
            // after the client's own reset: the client sent those bytes before it, so the online server
            // had them, and the target must too.
            _close.TargetGone = true;
            _timer.Stop();
            if (!HasPendingData)
            {
                End(ClosedReason, now, sendReset: false);
            }
            else if (++_resetsWithoutProgress > MaxResetsWithoutProgress)
            {
                End(SessionEndReason.TargetReset, now, sendReset: false);
            }
            else
            {
                Reconnect(now);
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

        // What we owe for it the receive space keeps; a segment of ours carries it, or the turn's end sends it (EndTurn).
        var fresh = _receive.Accept(reply, _close.TargetFin, out var finReceived);
        if (fresh > 0)
        {
            Counters.ResponseBytes += fresh;
            _pacer.OnResponseBytes(fresh, now);
            _latency.OnResponseBytes(now);
        }

        _close.TargetFin |= finReceived;

        if (_close.FinAcked && _close.TargetFin)
        {
            End(ClosedReason, now, sendReset: false);
            return;
        }

        if (_close.TargetFin)
        {
            AfterTargetFin(now);
            return;
        }

        if (_close.FinAcked && !_close.FinWaitDeadline.HasValue)
        {
            _close.FinWaitDeadline = now + _options.Linger;
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

        if (now - LastActivity >= Silence)
        {
            End(HasPendingData ? SessionEndReason.IdleTimeout : _carriedData ? SessionEndReason.KeepAliveTimeout : SessionEndReason.NoDataTimeout, now);
            return;
        }

        if (_timer.Deadline <= now)
        {
            OnRetransmitTimeout(now);
            if (_phase == Phase.Ended)
            {
                return;
            }
        }

        if (_send.PersistDeadline <= now)
        {
            SendZeroWindowProbe(now);
        }

        if (_close.FinWaitDeadline <= now)
        {
            // Our FIN was acknowledged but the target never closed its side: nothing is lost. A FIN that stood for
            // the client's reset is followed by that reset now.
            End(ClosedReason, now);
            return;
        }

        if (GapSince + _options.GapWait <= now)
        {
            SkipGap(now);
            return;
        }

        if (_pacer.Deadline <= now)
        {
            _pacer.ClearDeadline();
            Pump(now);
        }

        if (_receive.AckDeadline <= now)
        {
            if (IsEstablished)
            {
                SendAck(); // the delayed acknowledgment: nothing of ours carried it meanwhile
            }
            else
            {
                _receive.Acknowledged(); // the connection it was owed on is gone
            }
        }
    }

    /// <summary>What the session counted since the last call (null: nothing); the next count starts new counters.</summary>
    public SessionCounters? TakeCounters()
    {
        var counters = _counters;
        _counters = null;
        return counters;
    }

    /// <summary>
    /// Lets go of the buffers an idle session does not need (its owner calls it when the session has nothing to
    /// do for a while): they are allocated again by the next request. Changes nothing else.
    /// </summary>
    public void Trim()
    {
        _stream.TrimIfEmpty();
        _pacer.Trim();
    }

    /// <summary>One line of state for diagnostics (logged when a session is lost with data pending).</summary>
    public string Describe() =>
        $"{_endpoints} phase={_phase} isn={_send.Isn} una={_send.Una} nxt={_send.Nxt} max={_send.Max} high={_send.High} captured-next={_stream.ContiguousEnd} " +
        $"chunks={_stream.Count} buffered={_stream.BufferedBytes} rcv-nxt={_receive.Nxt} window={_send.PeerWindow} fin-seq={_close.ClientFinSeq?.ToString() ?? "-"} " +
        $"fin-sent={_close.FinSent} fin-acked={_close.FinAcked} target-fin={_close.TargetFin} target-gone={_close.TargetGone} " +
        $"outstanding={_pacer.Outstanding} retries={_timer.Retries} rto={_timer.Rto.TotalMilliseconds}ms deadline={NextDeadline:HH:mm:ss.fff}";

    /// <summary>Ends the session from outside (node shutdown), resetting the target's connection.</summary>
    public void Abort()
    {
        if (_phase != Phase.Ended)
        {
            End(SessionEndReason.Aborted, Now);
        }
    }

    /// <summary>An ACK with nothing else: no data, no SYN, FIN or RST.</summary>
    internal static bool IsPlainAck(in ResponseRecord reply) =>
        ((TcpFlags)reply.Flags & (TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Rst | TcpFlags.Fin)) == TcpFlags.Ack && reply.PayloadLength == 0;

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
        _clientIsn = segment.Sequence;
        _useTimestamps = segment.TsVal.HasValue;
        _tsBase = segment.TsVal ?? 0;
        _send.Reset(high: segment.Sequence + 1);
        _send.LimitMss(segment.Mss);
        _stream.Reset(segment.Sequence + 1);
        Connect(segment.Sequence, now);
    }

    private void StartMidStream(in CapturedSegment segment, DateTimeOffset now)
    {
        // Joined mid-stream: synthesize the handshake just below the first byte we have.
        _useTimestamps = segment.TsVal.HasValue;
        _tsBase = segment.TsVal ?? 0;
        _send.Reset(high: segment.Sequence);
        _stream.Reset(segment.Sequence);
        _pacer.Anchor(segment.Acknowledgment, capturedAtNanos: 0);
        Connect(segment.Sequence - 1, now);
    }

    /// <summary>Opens a connection to the target with a SYN carrying <paramref name="isn"/>.</summary>
    private void Connect(uint isn, DateTimeOffset now)
    {
        _phase = Phase.SynSent;
        _send.Open(isn);
        _receive.Reset();
        _close.ResetConnection();
        _timer.ResetConnection();
        _staleAckReset = null;
        _staleResets = 0;
        if (_handshakes is not null)
        {
            _timer.StartFrom(_handshakes.SynRto(_endpoints, _options));
        }

        SendSyn(now);
    }

    /// <summary>The client opened a new connection on the same port: every part starts over.</summary>
    private void Restart(DateTimeOffset now)
    {
        if (_phase is Phase.SynSent or Phase.Established && !_close.TargetGone)
        {
            SendReset();
        }

        _stream.Clear();
        _close.Reset();
        _pacer.Reset();
        _latency.Reset();

        // The RTT estimate stays: same path, same target.
        _receive.Reset();
        _handshakeAckSeen = false;
        _carriedData = false;
        _resetsWithoutProgress = 0;
        _clientIsn = null;
        GapSince = null;
        Ended = null;
        _phase = Phase.New;
        EndReason = SessionEndReason.None;
        LastActivity = now;
    }

    /// <summary>The target's connection is gone or closing with data pending: go on with a new one.</summary>
    /// <summary>
    /// RFC 5961 section 3: a reset counts only at exactly the next sequence number we expect. One
    /// elsewhere in our receive window is answered with a challenge ACK (a target that really reset
    /// answers it with an exact reset, one whose data we missed included); one outside it is a late
    /// reset of an earlier connection of this 4-tuple, which must not end the new one.
    /// </summary>
    private bool TakesReset(in ResponseRecord reply)
    {
        if (reply.Sequence == _receive.Nxt)
        {
            return true;
        }

        Counters.TargetResetsIgnored++;
        if (SeqNum.InWindow(reply.Sequence, _receive.Nxt, (uint)AdvertisedWindow << _options.WindowScale))
        {
            SendAck();
        }

        return false;
    }

    private void Reconnect(DateTimeOffset now)
    {
        if (IsEstablished)
        {
            SendReset();
        }

        Counters.Reconnects++;
        Connect(_send.Una - 1, now);
    }

    private void OnResponseWhileSynSent(in ResponseRecord reply, TcpFlags flags, DateTimeOffset now)
    {
        // A kernel answers a SYN to a closed port with RST, seq 0, ack ISN+1. A late RST of the previous
        // connection can carry the same ack (a reconnect's ISN is one below the first unacked byte),
        // but never seq 0 with that ack, so only the former means "refused".
        if ((flags & TcpFlags.Rst) != 0 && (flags & TcpFlags.Ack) != 0 && reply.Acknowledgment == _send.Isn + 1 && reply.Sequence == 0)
        {
            _close.TargetGone = true;
            End(SessionEndReason.TargetRefused, now, sendReset: false);
            return;
        }

        if (IsPlainAck(reply) && reply.Acknowledgment == _send.Isn + 1)
        {
            // Our own previous connection, reconnected one below its first unacknowledged byte, answers
            // a SYN with exactly this (a challenge ACK: our reset at the reconnect was lost or not
            // exact) - but so does a late ACK it sent before it closed. Resetting at once would also
            // reset our new handshake if it is the latter, so the reset waits for the SYN's timeout.
            _staleAckPending = true;
            Counters.LatePacketsAbsorbed++;
            return;
        }

        if (IsPlainAck(reply)
            || ((flags & (TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Rst)) == (TcpFlags.Syn | TcpFlags.Ack) && reply.Acknowledgment != _send.Isn + 1))
        {
            OnStaleConnection(reply.Acknowledgment, now);
            return;
        }

        if ((flags & (TcpFlags.Syn | TcpFlags.Ack)) != (TcpFlags.Syn | TcpFlags.Ack) || reply.Acknowledgment != _send.Isn + 1)
        {
            Counters.LatePacketsAbsorbed++;
            return;
        }

        LastActivity = now;
        if (_timer.OnHandshake(now, EchoedRoundTrip(reply)) is { } roundTrip)
        {
            _handshakes?.Sample(_endpoints, roundTrip);
        }

        _receive.Open(reply, _useTimestamps);
        _send.Established(reply.Window, reply.WindowScale == ResponseRecord.NoWindowScale ? 0 : Math.Min((int)reply.WindowScale, 14));
        _send.LimitMss(reply.Mss);
        _phase = Phase.Established;
        _pacer.OnConnected(now);
        _receive.OweAckNow(); // carried by the first request if it leaves in this turn, else sent alone at its end
        Pump(now);
    }

    /// <summary>
    /// Our SYN met a connection the target still holds on this 4-tuple: a plain ACK (not of our ISN+1) is
    /// what Linux answers from TIME_WAIT (the SYN's ISN was not above the old connection's) or,
    /// RFC 5961's challenge ACK, from an ESTABLISHED connection (ours from before a capture-node
    /// restart, or one our own reset did not hit exactly); a SYN-ACK acknowledging another ISN comes
    /// from a handshake of an older SYN still pending there. A reset whose sequence is that ack number
    /// kills each of them (TIME_WAIT with the default tcp_rfc1337=0; ESTABLISHED by exact match; a
    /// pending handshake as in window, RFC 9293 3.10.7.3), and the SYN goes again at once instead of
    /// retransmitting into the old connection until the SYN timeout. At most
    /// <see cref="SessionOptions.MaxSynRetries"/> such rounds per connection attempt; past that the
    /// ordinary SYN retransmission (and its timeout) takes over, so this cannot loop.
    /// </summary>
    private void OnStaleConnection(uint ack, DateTimeOffset now)
    {
        if (_staleAckReset == ack || _staleResets >= _options.MaxSynRetries)
        {
            // The same connection answering again (our SYN crossed our reset): it is reset already.
            Counters.LatePacketsAbsorbed++;
            return;
        }

        _staleResets++;
        Counters.StaleConnectionsReset++;
        _staleAckReset = ack;
        SendResetAt(ack);
        var firstByte = _send.Isn + 1;
        if (SeqNum.After(ack, firstByte) && SeqNum.BeforeOrEqual(ack, _send.High))
        {
            // It is this session's own previous connection, and it had received bytes whose
            // acknowledgment we never saw: they were delivered. Going on from the old point would
            // replay them twice, so the new connection starts right after them.
            Counters.BytesAcknowledged += SeqNum.Diff(firstByte, ack);
            _stream.ReleaseUpTo(ack, Counters);
            _send.Open(ack - 1);
        }

        SendSyn(now);
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
        if (reply.Acknowledgment != _send.Isn + 1)
        {
            Counters.LatePacketsAbsorbed++;
            return;
        }

        if (_receive.IsOtherHandshake(reply) && _send.Una == _send.Isn + 1 && _receive.NothingReceived && !_close.FinSent)
        {
            Counters.HandshakesAdopted++;
            _receive.Open(reply, _useTimestamps);
            _send.UpdateWindow(reply.Window);
            _send.Rewind();
            _timer.CancelSample();
            SendAck();
            Pump(now);
            return;
        }

        SendAck();
    }

    private void OnAcknowledgment(in ResponseRecord reply, DateTimeOffset now)
    {
        var ack = reply.Acknowledgment;
        var window = _send.Scale(reply.Window);
        if (_send.IsNewAcknowledgment(ack))
        {
            _timer.OnAcknowledged(ack, now);
            Counters.BytesAcknowledged += _send.Acknowledge(ack);
            _resetsWithoutProgress = 0;
            _close.OnAcknowledged(ack);
            _stream.ReleaseUpTo(_send.Una, Counters);
            if (_send.Una == _send.Max)
            {
                _timer.Stop();
            }
            else
            {
                _timer.Restart(now);
            }

        }
        else if (ack == _send.Una && reply.PayloadLength == 0 && ((TcpFlags)reply.Flags & TcpFlags.Fin) == 0
                 && _send.Una != _send.Max && window == _send.PeerWindow && _timer.OnDuplicateAck())
        {
            Counters.FastRetransmits++;
            RetransmitFirst(now);
        }

        _send.UpdateWindow(window);
    }

    private void AfterTargetFin(DateTimeOffset now)
    {
        if (_close.FinAcked)
        {
            End(ClosedReason, now, sendReset: false);
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

    private void Insert(in CapturedSegment segment)
    {
        var floor = _phase == Phase.SynSent ? _send.Isn + 1 : _send.Una;
        _stream.Insert(segment.Sequence, segment.Payload, segment.Acknowledgment, floor, Counters, segment.CapturedAtNanos);
        if (_stream.BufferedBytes > _options.MaxBufferedBytes)
        {
            End(SessionEndReason.BufferOverflow, Now);
        }
    }

    private void Pump(DateTimeOffset now)
    {
        if (_deferPump)
        {
            _pumpDeferred = true; // a batch of replies is being taken: its end sends (EndTurn)
            return;
        }

        if (!IsEstablished)
        {
            return;
        }

        if (_close.ClientReset && !HasPendingData)
        {
            if (_close.FinSent)
            {
                // Our FIN went and was acknowledged: the target's FIN (it has read everything) or the linger ends it.
                return;
            }

            // Everything reached the target; the client's reset follows once the target answered (see the pacer).
            _pacer.OutstandingSilence = _timer.Estimate;
            if (_pacer.TryReleaseReset(_close.ClientResetAck, _send.AllAcknowledged, now) == PacingRelease.Held)
            {
                return;
            }

            if (!SeqNum.After(_send.Max, _send.Isn + 1) || _close.TargetFin)
            {
                // No data on this connection, or the target closed first (a server that closes with requests unread
                // makes its kernel reset, not FIN): nothing the target could drop, and no TIME_WAIT left there.
                End(SessionEndReason.ClientReset, now);
                return;
            }

            // A reset makes the target's kernel drop what its application has not read yet, and "answered what the
            // client had seen, then quiet" does not prove it read the requests sent after those (a server starved of
            // CPU stalls longer than any silence we can wait: the demo test on a loaded machine lost 27 of 143,565
            // requests that way). A FIN in its place is read after them: the target serves them, then closes, and
            // the session ends on its FIN (or resets at the linger's end). The target sees a FIN where the online
            // server saw a reset, once it has served the same requests.
            _close.OnClientFin(_send.Nxt, _close.ClientResetAck ?? 0, capturedAtNanos: 0);
            _close.FinReleased = true;
        }

        while (true)
        {
            if (_close.IsFinDue(_send.Nxt))
            {
                if (_send.AllAcknowledged && (_close.FinReleased || Release(_close.ClientFinAck, _close.ClientFinCapturedAt, isFin: true, now)))
                {
                    _close.FinReleased = true;
                    SendSegment(TcpFlags.Fin | TcpFlags.Ack, _send.Nxt, ReadOnlySpan<byte>.Empty);
                    _close.FinSent = true;
                    _send.Advance(1, data: false);
                    _timer.Arm(now);
                }

                return;
            }

            if (!_stream.TryGetChunkAt(_send.Nxt, out var chunk))
            {
                UpdateGapWatch(now);
                return;
            }

            GapSince = null;
            if (_close.TargetFin)
            {
                // Data to send but the target has closed: continue on a new connection.
                Reconnect(now);
                return;
            }

            var isNew = !_send.IsResend(_send.Nxt);
            if (_send.Nxt == chunk.Seq && isNew && _pacer.NeedsRelease(chunk.CapturedAck)
                && !Release(chunk.CapturedAck, chunk.CapturedAtNanos, isFin: false, now))
            {
                return;
            }

            var room = _send.PeerWindow - _send.InFlight;
            if (room <= 0)
            {
                if (_send.PeerWindow == 0 && _send.AllAcknowledged)
                {
                    _send.StartPersist(now, _timer.Rto);
                }

                return;
            }

            var offset = SeqNum.Diff(chunk.Seq, _send.Nxt);
            var length = (int)Math.Min(Math.Min(chunk.Data.Length - offset, _send.Mss), room);
            var last = offset + length == chunk.Data.Length;
            SendSegment(TcpFlags.Ack | (last ? TcpFlags.Psh : TcpFlags.None), _send.Nxt, chunk.Data.Span.Slice(offset, length));
            if (isNew)
            {
                _latency.OnRequestBytesFirstSent(chunk.StartsRequest && offset == 0, now);
                _pacer.OnFirstSent(chunk.CapturedAtNanos, now);
            }

            if (SeqNum.AfterOrEqual(_send.Nxt, _send.Max))
            {
                _timer.TimeSegment(_send.Nxt + (uint)length, now);
            }

            _send.Advance(length, data: true);
            _timer.Arm(now);
        }
    }

    /// <summary>Asks the pacer whether the request (or FIN) captured with <paramref name="capturedAck"/> may go now.</summary>
    private bool Release(uint capturedAck, long capturedAtNanos, bool isFin, DateTimeOffset now)
    {
        _pacer.OutstandingSilence = _timer.Estimate;
        var reason = _pacer.TryRelease(capturedAck, capturedAtNanos, _send.AllAcknowledged, isFin, now);
        if (reason == PacingRelease.WaitLimit)
        {
            _latency.Forget();
        }

        return reason != PacingRelease.Held;
    }

    private void UpdateGapWatch(DateTimeOffset now)
    {
        if (!_stream.IsStalledAtGap(_send.Nxt))
        {
            GapSince = null;
        }
        else
        {
            GapSince ??= now;
        }
    }

    private void SkipGap(DateTimeOffset now)
    {
        GapSince = null;
        var gapStart = _stream.ContiguousEnd;
        if (!_stream.TryGetFirstEndingAfter(gapStart, out var next) || _send.Una != gapStart)
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
        _send.SkipTo(resume);
        _stream.SkipTo(resume);
        Reconnect(now);
    }

    private void OnRetransmitTimeout(DateTimeOffset now)
    {
        // Nothing came back in time, but the reply relay may still hold the answer: a resend waits until the relay had a
        // round trip plus its lag to bring it (RelayLag; MinRto stands for an idle path's round trip), within
        // RelayWaitCeiling. Only a timeout that would send again waits (and is counted).
        var resends = _phase == Phase.SynSent || (_send.Una != _send.Max && !_close.TargetGone);
        if (resends && _relayLag is { NoIntercept: true })
        {
            // No intercept is in the cluster: no answer can come back, however often we send. The session holds at the
            // longest backoff, its retries untouched, and retransmits as before once an intercept is back (RelayLag);
            // a hold longer than the idle timeout ends it as any silence with data pending does.
            _timer.Hold(now + _options.MaxRto);
            Counters.RetransmitTimeoutsDeferred++;
            return;
        }

        if (resends && _relayLag is not null && _timer.ArmedAt is { } armedAt && _relayLag.Behind(armedAt, now, _options.MinRto) is var behind
            && behind > TimeSpan.Zero && _timer.TryDefer(now + behind, _options.RelayWaitCeiling))
        {
            Counters.RetransmitTimeoutsDeferred++;
            return;
        }

        _timer.Expire();
        if (_phase == Phase.SynSent)
        {
            if (!_timer.TryRetry(_options.MaxSynRetries))
            {
                End(SessionEndReason.SynTimeout, now);
                return;
            }

            Counters.SynRetransmissions++;
            _staleAckReset = null;
            if (_staleAckPending)
            {
                Counters.StaleConnectionsReset++;
                SendResetAt(_send.Isn + 1);
            }

            _timer.Backoff();

            // Karn's rule: a SYN-ACK after this could answer either SYN, so the SYN is not timed again (the target's
            // timestamp echo still tells which, EchoedRoundTrip).
            SendSyn(now, timed: false);
            return;
        }

        if (_send.Una == _send.Max || _close.TargetGone)
        {
            return;
        }

        if (!_timer.TryRetry(_options.MaxRetries))
        {
            End(SessionEndReason.RetransmitLimit, now);
            return;
        }

        // Go back to the first unacknowledged byte and resend what the window allows: after a burst
        // of losses this recovers them all in one timeout instead of one per timeout.
        _timer.Backoff();
        _send.GoBackToUnacknowledged();
        if (_close.FinSent && !_close.FinAcked)
        {
            _close.FinSent = false;
        }

        Pump(now);
        _timer.Arm(now);
    }

    /// <summary>Resends the first unacknowledged segment (or the FIN) and restarts the timer.</summary>
    private void RetransmitFirst(DateTimeOffset now)
    {
        _timer.CancelSample();
        if (_close.FinSent && _close.ClientFinSeq == _send.Una)
        {
            SendSegment(TcpFlags.Fin | TcpFlags.Ack, _send.Una, ReadOnlySpan<byte>.Empty);
            _timer.Restart(now);
            return;
        }

        if (!_stream.TryGetChunkAt(_send.Una, out var chunk))
        {
            return;
        }

        var offset = SeqNum.Diff(chunk.Seq, _send.Una);
        var length = Math.Min(chunk.Data.Length - offset, _send.Mss);
        SendSegment(TcpFlags.Ack | TcpFlags.Psh, _send.Una, chunk.Data.Span.Slice(offset, length));
        _timer.Restart(now);
    }

    private void SendZeroWindowProbe(DateTimeOffset now)
    {
        if (_send.PeerWindow > 0 || !IsEstablished)
        {
            _send.NextPersist(now, stop: true);
            return;
        }

        // A segment just below the window makes the target answer with an ACK carrying its window.
        Counters.ZeroWindowProbes++;
        SendSegment(TcpFlags.Ack, _send.Una - 1, ReadOnlySpan<byte>.Empty);
        _send.NextPersist(now, stop: false);
    }

    private void End(SessionEndReason reason, DateTimeOffset now, bool sendReset = true)
    {
        var resetAnswerable = false;
        if (sendReset && reason != SessionEndReason.Completed && _phase is Phase.SynSent or Phase.Established && !_close.TargetGone)
        {
            // Whatever the reason, the target must not keep a half-open connection for us.
            SendReset();
            resetAnswerable = _phase == Phase.Established;
        }
        else if (IsEstablished && _receive.AckOwed)
        {
            // Ending without a reset (the close completed): what the target sent last, its FIN above all, must be
            // acknowledged, or it repeats it until its own timeout.
            SendAck();
        }

        _receive.Acknowledged();
        EndReason = reason;
        _phase = Phase.Ended;

        // Nothing will be sent again: the captured bytes go back to the node now, not after the linger, during
        // which only Ended answers (and the session's actor may already serve another session: see SessionActor).
        _stream.Clear();
        Ended = new EndedSession(_endpoints, _clientIsn, _send.Nxt, resetAnswerable, _ipId, now + _options.Linger);
        _timer.Stop();
        _send.NextPersist(now, stop: true);
        _pacer.Reset();
        GapSince = null;
        _close.FinWaitDeadline = null;
        _latency.Reset();
    }

    private void SendSyn(DateTimeOffset now, bool timed = true)
    {
        _staleAckPending = false;
        var spec = BaseSpec(TcpFlags.Syn, _send.Isn, acknowledgment: 0) with
        {
            Mss = (ushort)_send.Mss,
            WindowScale = _options.WindowScale,
            Timestamp = _useTimestamps ? new TcpTimestamp(TsValNow(), 0) : null,
        };
        Emit(spec, ReadOnlySpan<byte>.Empty);
        if (timed)
        {
            _timer.TimeSyn(_send.Isn + 1, now);
        }

        _timer.Restart(now);
    }

    /// <summary>
    /// The round trip since the SYN the target answers, from its echo of that SYN's timestamp (millisecond resolution):
    /// Linux echoes the SYN that opened its half-open connection, also in the SYN-ACK it resends for a retransmitted
    /// one. Null without timestamps, or with an echo that is not a SYN's of this minute.
    /// </summary>
    private TimeSpan? EchoedRoundTrip(in ResponseRecord reply)
    {
        // An echo of 0 is a target that does not echo (our TSvals are the client's clock, never 0 in practice).
        if (!_useTimestamps || !reply.HasTimestamp || reply.TsEcr == 0)
        {
            return null;
        }

        var elapsed = TsValNow() - reply.TsEcr;
        return elapsed <= MaxEchoedRoundTripMs ? TimeSpan.FromMilliseconds(elapsed) : null;
    }

    private void SendAck() => SendSegment(TcpFlags.Ack, _send.Nxt, ReadOnlySpan<byte>.Empty);

    private void SendReset() =>
        Emit(BaseSpec(TcpFlags.Rst | TcpFlags.Ack, _send.Nxt, _receive.Nxt) with { Window = 0 }, ReadOnlySpan<byte>.Empty);

    /// <summary>A bare reset at <paramref name="sequence"/> (no timestamp: PAWS must not drop it).</summary>
    private void SendResetAt(uint sequence) =>
        Emit(BaseSpec(TcpFlags.Rst, sequence, acknowledgment: 0) with { Window = 0 }, ReadOnlySpan<byte>.Empty);

    private void SendSegment(TcpFlags flags, uint sequence, ReadOnlySpan<byte> payload)
    {
        if ((!payload.IsEmpty || (flags & TcpFlags.Fin) != 0) && _send.IsResend(sequence))
        {
            Counters.Retransmissions++;
        }

        var spec = BaseSpec(flags, sequence, _receive.Nxt) with
        {
            Timestamp = _receive.TimestampsOn ? new TcpTimestamp(TsValNow(), _receive.TsRecent) : null,
        };
        _receive.Acknowledged(); // every segment of ours acknowledges all we received
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
