using System.Text;
using ReplayCluster.Packets;
using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Tests.Sessions;

/// <summary>
/// A small but honest TCP server endpoint for session tests: handshake with options, in-order receive
/// with duplicate ACKs on holes, its own retransmission of unacknowledged replies, zero window, FIN
/// and RST like a kernel, RFC 5961 on a synchronized connection (a SYN or an inexact RST gets a
/// challenge ACK, at most one per 500 ms) and Linux's TIME_WAIT (a SYN that is not newer gets an ACK,
/// a RST at the expected sequence ends it). The application on top answers every request (delimited
/// by a blank line, as in HTTP) with <see cref="ResponseSize"/> bytes, or whatever <see cref="Respond"/>
/// says, after <see cref="ServiceTime"/> per request, one request at a time.
/// </summary>
internal sealed class SimulatedTarget
{
    private const uint TargetIsn = 7_000_000;
    private static readonly byte[] RequestEnd = "\r\n\r\n"u8.ToArray();

    private readonly List<(uint Seq, int Length, TcpFlags Flags, DateTimeOffset SentAt)> _unacked = [];
    private readonly SessionEndpoints _endpoints;
    private uint _connectionIsn;
    private uint _synIsn;
    private uint _synTsVal;
    private uint _rcvNxt;
    private uint _sndNxt;
    private uint _sndUna;
    private bool _connected;

    // The handshake completed (an ACK after our SYN-ACK): a SYN is then challenged, whatever its ISN.
    private bool _synchronized;
    private bool _finSent;
    private bool _clientFinReceived;
    private uint _tsClock = 1;
    private int _scanFrom;
    private bool _targetClosedFirst;
    private uint? _clientTsRecent;
    private DateTimeOffset _lastChallengeAt = DateTimeOffset.MinValue;
    private (uint RcvNxt, uint SndNxt, uint? TsRecent, DateTimeOffset Until)? _timeWait;
    private readonly Queue<(DateTimeOffset Due, int Size)> _pendingAnswers = new();
    private DateTimeOffset _applicationFreeAt;

    public SimulatedTarget(SessionEndpoints endpoints) => _endpoints = endpoints;

    /// <summary>Every byte the target's application received, across connections, in order.</summary>
    public List<byte> Received { get; } = [];

    public int Connections { get; private set; }

    public int SynsSeen { get; private set; }

    public int ResetsSeen { get; private set; }

    public int RequestsAnswered { get; private set; }

    public int ResponseSize { get; set; } = 1000;

    /// <summary>Answers request number n (0-based); defaults to <see cref="ResponseSize"/> bytes.</summary>
    public Func<int, int>? Respond { get; set; }

    /// <summary>Bytes of greeting sent right after the handshake (server-first protocols).</summary>
    public int Greeting { get; set; }

    /// <summary>Close (FIN) the connection after this many answered requests on it.</summary>
    public int? CloseAfterRequests { get; set; }

    /// <summary>
    /// The first request on a connection is a negotiation, as PostgreSQL's SSLRequest: bytes that arrive
    /// before its answer went out end the connection (PostgreSQL: "received unencrypted data after SSL
    /// request", FATAL, the backend closes). Give the target a <see cref="ServiceTime"/> (the backend's
    /// start) so that there is a moment for them to arrive in.
    /// </summary>
    public bool NegotiatesFirst { get; set; }

    /// <summary>Connections ended because bytes came before the answer to the negotiation (<see cref="NegotiatesFirst"/>).</summary>
    public int PipelinedNegotiations { get; private set; }

    /// <summary>
    /// This many connections are reset when their first data arrives, unacknowledged (an application
    /// that closes before reading: its kernel resets).
    /// </summary>
    public int ResetOnFirstData { get; set; }

    /// <summary>Answer every SYN with RST (nothing listening).</summary>
    public bool Refuse { get; set; }

    /// <summary>How long the application takes per request (answers wait in line). Zero answers at once.</summary>
    public TimeSpan ServiceTime { get; set; }

    /// <summary>
    /// The application stalls for <see cref="StallTime"/> before it reads request number <see cref="StallBeforeRequest"/>
    /// (0-based, over all connections), as a server starved of CPU does: its kernel acknowledges what arrives meanwhile.
    /// </summary>
    public int? StallBeforeRequest { get; set; }

    /// <summary>How long the stall before <see cref="StallBeforeRequest"/> lasts.</summary>
    public TimeSpan StallTime { get; set; }

    /// <summary>
    /// Closes its side once the client's FIN arrived and every request is answered (true, as HTTP servers and databases
    /// do); false keeps the half-closed connection open, as a server that still streams or waits would.
    /// </summary>
    public bool ClosesOnClientFin { get; set; } = true;

    /// <summary>Most requests received complete and not yet answered at any moment.</summary>
    public int MaxPendingRequests { get; private set; }

    /// <summary>ACKs sent from TIME_WAIT to SYNs that were not newer.</summary>
    public int TimeWaitAcks { get; private set; }

    /// <summary>Challenge ACKs sent (RFC 5961) to a SYN or an inexact RST on a synchronized connection.</summary>
    public int ChallengeAcks { get; private set; }

    /// <summary>Resets that ended a connection or a TIME_WAIT.</summary>
    public int ResetsAccepted { get; private set; }

    /// <summary>Ignore every RST (a middlebox eating them), to check that recovery is bounded.</summary>
    public bool IgnoreResets { get; set; }

    /// <summary>True while the 4-tuple is in TIME_WAIT here.</summary>
    public bool InTimeWait => _timeWait.HasValue;

    /// <summary>When the client's FIN arrived in order; null before.</summary>
    public DateTimeOffset? ClientFinAt { get; private set; }

    public ushort Window { get; set; } = 65535;

    public ushort Mss { get; set; } = 1460;

    public bool Timestamps { get; set; } = true;

    /// <summary>TSecr values of the segments received after the handshake.</summary>
    public List<uint> EchoesSeen { get; } = [];

    /// <summary>TSvals this target sent.</summary>
    public HashSet<uint> TsValsSent { get; } = [];

    /// <summary>Moments request k's first byte arrived; used to check pacing.</summary>
    public List<DateTimeOffset> RequestStarts { get; } = [];

    /// <summary>Moments the response to request k was complete (all bytes sent once).</summary>
    public List<DateTimeOffset> ResponseEnds { get; } = [];

    public string ReceivedText => Encoding.ASCII.GetString(Received.ToArray());

    /// <summary>When <see cref="Tick"/> has an answer to send; null when none waits.</summary>
    public DateTimeOffset? NextAnswerAt => _pendingAnswers.Count > 0 ? _pendingAnswers.Peek().Due : null;

    /// <summary>
    /// The 4-tuple's previous connection is in TIME_WAIT here (it ended with the target closing first),
    /// having received up to <paramref name="rcvNxt"/> and sent up to <paramref name="sndNxt"/>.
    /// </summary>
    public void EnterTimeWait(uint rcvNxt, uint sndNxt, DateTimeOffset until, uint? tsRecent = null) =>
        _timeWait = (rcvNxt, sndNxt, tsRecent, until);

    /// <summary>
    /// The 4-tuple still has an ESTABLISHED connection here (e.g. a capture node restarted and forgot it),
    /// having received up to <paramref name="rcvNxt"/>.
    /// </summary>
    public void HoldEstablished(uint rcvNxt, uint sndNxt)
    {
        Connections++;
        _connected = true;
        _synchronized = true;
        _finSent = false;
        _clientFinReceived = false;
        _targetClosedFirst = false;
        _unacked.Clear();
        _pendingAnswers.Clear();
        _connectionIsn = sndNxt - 1;
        _synIsn = rcvNxt - 1_000_000;
        _rcvNxt = rcvNxt;
        _sndUna = sndNxt;
        _sndNxt = sndNxt;
    }

    private int _requestsOnConnection;
    private bool _inRequest;

    /// <summary>Processes one segment from the session; returns the replies the target sends.</summary>
    public List<ResponseRecord> Receive(in TcpSegmentSpec segment, ReadOnlySpan<byte> payload, DateTimeOffset now)
    {
        var replies = new List<ResponseRecord>();
        var flags = segment.Flags;
        if (_timeWait is { } expired && now >= expired.Until)
        {
            _timeWait = null;
        }

        if ((flags & TcpFlags.Rst) != 0)
        {
            ResetsSeen++;
            if (IgnoreResets)
            {
                return replies;
            }

            if (!_connected)
            {
                // tcp_rfc1337=0: a reset at the expected sequence ends TIME_WAIT (assassination).
                if (_timeWait is { } tw && segment.Sequence == tw.RcvNxt)
                {
                    _timeWait = null;
                    ResetsAccepted++;
                }

                return replies;
            }

            if (segment.Sequence == _rcvNxt)
            {
                ResetsAccepted++;
                Close();
            }
            else if (SeqNum.InWindow(segment.Sequence, _rcvNxt, (uint)Window << 7))
            {
                Challenge(now, replies);
            }

            return replies;
        }

        if ((flags & TcpFlags.Syn) != 0)
        {
            SynsSeen++;
            if (Refuse)
            {
                replies.Add(Record(0, segment.Sequence + 1, TcpFlags.Rst | TcpFlags.Ack, 0, now, window: 0));
                return replies;
            }

            if (_connected && (_synchronized || segment.Sequence != _synIsn))
            {
                // RFC 5961 4.2: a SYN on a synchronized connection is answered with a challenge ACK.
                Challenge(now, replies);
                return replies;
            }

            if (!_connected && _timeWait is { } tw)
            {
                var newer = SeqNum.After(segment.Sequence, tw.RcvNxt)
                    || (segment.Timestamp is { } synTs && tw.TsRecent is { } recent && SeqNum.After(synTs.TsVal, recent));
                if (!newer)
                {
                    // Linux tcp_timewait_state_process: TCP_TW_ACK.
                    TimeWaitAcks++;
                    replies.Add(Record(tw.SndNxt, tw.RcvNxt, TcpFlags.Ack, 0, now));
                    return replies;
                }

                _timeWait = null;
            }

            if (!_connected)
            {
                Connections++;
                _connected = true;
                _synchronized = false;
                _finSent = false;
                _clientFinReceived = false;
                _targetClosedFirst = false;
                _requestsOnConnection = 0;
                _unacked.Clear();
                _pendingAnswers.Clear();
                _connectionIsn = TargetIsn + (uint)Connections;
                _synIsn = segment.Sequence;
                _synTsVal = segment.Timestamp?.TsVal ?? 0;
                _rcvNxt = segment.Sequence + 1;
                _sndUna = _connectionIsn;
                _sndNxt = _connectionIsn + 1;
            }

            // Like Linux, every SYN-ACK of a half-open connection echoes the SYN that opened it, also the one resent
            // for a retransmitted SYN.
            replies.Add(Record(_connectionIsn, _rcvNxt, TcpFlags.Syn | TcpFlags.Ack, 0, now, synAck: true, tsOn: segment.Timestamp.HasValue) with { TsEcr = _synTsVal });
            return replies;
        }

        if (!_connected)
        {
            replies.Add(Record(segment.Acknowledgment, 0, TcpFlags.Rst, 0, now, window: 0));
            return replies;
        }

        _synchronized |= (flags & TcpFlags.Ack) != 0;
        if (segment.Timestamp is { } ts)
        {
            EchoesSeen.Add(ts.TsEcr);
            _clientTsRecent = ts.TsVal;
        }

        if ((flags & TcpFlags.Ack) != 0 && SeqNum.After(segment.Acknowledgment, _sndUna) && SeqNum.BeforeOrEqual(segment.Acknowledgment, _sndNxt))
        {
            _sndUna = segment.Acknowledgment;
            _unacked.RemoveAll(u => SeqNum.BeforeOrEqual(u.Seq + (uint)u.Length + ((u.Flags & TcpFlags.Fin) != 0 ? 1u : 0), _sndUna));
            if (_sndUna == _connectionIsn + 1 && Greeting > 0 && _sndNxt == _sndUna && _requestsOnConnection == 0 && Received.Count == 0)
            {
                SendData(Greeting, now, replies);
            }
        }

        if (!payload.IsEmpty && _finSent)
        {
            // The application closed the socket: a kernel resets data that arrives after close().
            Close();
            replies.Add(Record(_sndNxt, _rcvNxt, TcpFlags.Rst | TcpFlags.Ack, 0, now, window: 0));
            return replies;
        }

        if (!payload.IsEmpty && ResetOnFirstData > 0 && _requestsOnConnection == 0)
        {
            ResetOnFirstData--;
            Close();
            replies.Add(Record(_sndNxt, _rcvNxt, TcpFlags.Rst | TcpFlags.Ack, 0, now, window: 0));
            return replies;
        }

        if (!payload.IsEmpty || (flags & TcpFlags.Fin) != 0)
        {
            if (segment.Sequence == _rcvNxt && Window > 0)
            {
                if (!payload.IsEmpty && NegotiatesFirst && _requestsOnConnection == 0 && _pendingAnswers.Count > 0)
                {
                    // The negotiation is not answered yet and more bytes came: the server gives up on the
                    // connection, dropping what it read.
                    PipelinedNegotiations++;
                    _pendingAnswers.Clear();
                    _rcvNxt += (uint)payload.Length;
                    SendFin(now, replies);
                    return replies;
                }

                if (!payload.IsEmpty)
                {
                    if (!_inRequest)
                    {
                        _inRequest = true;
                        RequestStarts.Add(now);
                    }

                    _scanFrom = Math.Max(_scanFrom, Received.Count - RequestEnd.Length);
                    Received.AddRange(payload.ToArray());
                    _rcvNxt += (uint)payload.Length;
                    AnswerCompleteRequests(now, replies);
                }

                if ((flags & TcpFlags.Fin) != 0)
                {
                    _rcvNxt++;
                    _clientFinReceived = true;
                    ClientFinAt ??= now;
                    if (ClosesOnClientFin && !_finSent && _pendingAnswers.Count == 0)
                    {
                        SendFin(now, replies);
                    }
                }
            }

            replies.Add(Record(_sndNxt, _rcvNxt, TcpFlags.Ack, 0, now));
        }
        else if (segment.Sequence == _sndUna - 1 || SeqNum.Before(segment.Sequence, _rcvNxt))
        {
            // A zero-window probe (or an old segment) gets an ACK with the current window.
            replies.Add(Record(_sndNxt, _rcvNxt, TcpFlags.Ack, 0, now));
        }

        if (_clientFinReceived && _finSent && _sndUna == _sndNxt)
        {
            if (_targetClosedFirst)
            {
                // The active closer keeps the 4-tuple in TIME_WAIT (60 s on Linux).
                _timeWait = (_rcvNxt, _sndNxt, _clientTsRecent, now + TimeSpan.FromSeconds(60));
            }

            Close();
        }

        return replies;
    }

    private void Close()
    {
        _connected = false;
        _pendingAnswers.Clear();
        _unacked.Clear();
    }

    private void Challenge(DateTimeOffset now, List<ResponseRecord> replies)
    {
        // Linux rate-limits challenge ACKs per socket (tcp_invalid_ratelimit, 500 ms).
        if (now - _lastChallengeAt < TimeSpan.FromMilliseconds(500))
        {
            return;
        }

        _lastChallengeAt = now;
        ChallengeAcks++;
        replies.Add(Record(_sndNxt, _rcvNxt, TcpFlags.Ack, 0, now));
    }

    /// <summary>Retransmits replies the session has not acknowledged for 200 ms, like a kernel's RTO.</summary>
    public List<ResponseRecord> Tick(DateTimeOffset now)
    {
        var replies = new List<ResponseRecord>();
        while (_connected && _pendingAnswers.Count > 0 && _pendingAnswers.Peek().Due <= now)
        {
            var answer = _pendingAnswers.Dequeue();
            if (Answer(answer.Size, now, replies))
            {
                break;
            }
        }

        if (ClosesOnClientFin && _connected && _clientFinReceived && !_finSent && _pendingAnswers.Count == 0)
        {
            SendFin(now, replies);
        }

        for (var i = 0; i < _unacked.Count; i++)
        {
            var u = _unacked[i];
            if (now - u.SentAt >= TimeSpan.FromMilliseconds(200))
            {
                replies.Add(Record(u.Seq, _rcvNxt, u.Flags, u.Length, now));
                _unacked[i] = u with { SentAt = now };
            }
        }

        return replies;
    }

    public bool HasUnacked => _unacked.Count > 0;

    private void AnswerCompleteRequests(DateTimeOffset now, List<ResponseRecord> replies)
    {
        while (true)
        {
            var end = IndexOf(Received, RequestEnd, _scanFrom);
            if (end < 0)
            {
                return;
            }

            _scanFrom = end + RequestEnd.Length;
            _inRequest = false;
            var index = RequestsAnswered + _pendingAnswers.Count;
            var size = Respond?.Invoke(index) ?? ResponseSize;
            var stall = index == StallBeforeRequest ? StallTime : TimeSpan.Zero;
            if (ServiceTime > TimeSpan.Zero || _pendingAnswers.Count > 0 || stall > TimeSpan.Zero)
            {
                // The application works on one request at a time; this one waits its turn.
                _applicationFreeAt = (_applicationFreeAt > now ? _applicationFreeAt : now) + stall + ServiceTime;
                _pendingAnswers.Enqueue((_applicationFreeAt, size));
                MaxPendingRequests = Math.Max(MaxPendingRequests, _pendingAnswers.Count);
                continue;
            }

            MaxPendingRequests = Math.Max(MaxPendingRequests, 1);
            if (Answer(size, now, replies))
            {
                return;
            }
        }
    }

    /// <summary>Sends one answer; true when the connection closes after it.</summary>
    private bool Answer(int size, DateTimeOffset now, List<ResponseRecord> replies)
    {
        RequestsAnswered++;
        _requestsOnConnection++;
        SendData(size, now, replies);
        ResponseEnds.Add(now);
        if (CloseAfterRequests is { } limit && _requestsOnConnection >= limit && !_finSent)
        {
            _pendingAnswers.Clear();
            SendFin(now, replies);
            return true;
        }

        return false;
    }

    private void SendData(int size, DateTimeOffset now, List<ResponseRecord> replies)
    {
        for (var sent = 0; sent < size;)
        {
            var length = Math.Min(Mss, size - sent);
            var flags = TcpFlags.Ack | (sent + length == size ? TcpFlags.Psh : TcpFlags.None);
            replies.Add(Record(_sndNxt, _rcvNxt, flags, length, now));
            _unacked.Add((_sndNxt, length, flags, now));
            _sndNxt += (uint)length;
            sent += length;
        }
    }

    private void SendFin(DateTimeOffset now, List<ResponseRecord> replies)
    {
        _targetClosedFirst = !_clientFinReceived;
        _finSent = true;
        replies.Add(Record(_sndNxt, _rcvNxt, TcpFlags.Fin | TcpFlags.Ack, 0, now));
        _unacked.Add((_sndNxt, 0, TcpFlags.Fin | TcpFlags.Ack, now));
        _sndNxt++;
    }

    private ResponseRecord Record(uint seq, uint ack, TcpFlags flags, int length, DateTimeOffset now,
        bool synAck = false, bool tsOn = true, ushort? window = null)
    {
        var tsVal = _tsClock++;
        TsValsSent.Add(tsVal);
        return new ResponseRecord
        {
            ClientAddress = _endpoints.ClientAddress,
            ClientPort = _endpoints.ClientPort,
            TargetAddress = _endpoints.TargetAddress,
            TargetPort = _endpoints.TargetPort,
            Sequence = seq,
            Acknowledgment = ack,
            Window = window ?? Window,
            Flags = (byte)flags,
            PayloadLength = (ushort)length,
            Mss = synAck ? Mss : (ushort)0,
            WindowScale = synAck ? (byte)7 : ResponseRecord.NoWindowScale,
            HasTimestamp = Timestamps && tsOn,
            TsVal = tsVal,
            CapturedAtNanos = now.ToUnixTimeMilliseconds() * 1_000_000,
        };
    }

    private static int IndexOf(List<byte> haystack, byte[] needle, int from)
    {
        for (var i = Math.Max(0, from); i <= haystack.Count - needle.Length; i++)
        {
            var match = true;
            for (var j = 0; j < needle.Length && match; j++)
            {
                match = haystack[i + j] == needle[j];
            }

            if (match)
            {
                return i;
            }
        }

        return -1;
    }
}
