using System.Text;
using ReplayCluster.Packets;
using ReplayCluster.Replay;

namespace ReplayCluster.Capture.Tests.Sessions;

/// <summary>
/// A small but honest TCP server endpoint for session tests: handshake with options, in-order receive
/// with duplicate ACKs on holes, its own retransmission of unacknowledged replies, zero window, FIN
/// and RST like a kernel. The application on top answers every request (delimited by a blank line,
/// as in HTTP) with <see cref="ResponseSize"/> bytes, or whatever <see cref="Respond"/> says.
/// </summary>
internal sealed class SimulatedTarget
{
    private const uint TargetIsn = 7_000_000;
    private static readonly byte[] RequestEnd = "\r\n\r\n"u8.ToArray();

    private readonly List<(uint Seq, int Length, TcpFlags Flags, DateTimeOffset SentAt)> _unacked = [];
    private readonly SessionEndpoints _endpoints;
    private uint _connectionIsn;
    private uint _rcvNxt;
    private uint _sndNxt;
    private uint _sndUna;
    private bool _connected;
    private bool _finSent;
    private bool _clientFinReceived;
    private uint _tsClock = 1;
    private int _scanFrom;

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

    /// <summary>Answer every SYN with RST (nothing listening).</summary>
    public bool Refuse { get; set; }

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

    private int _requestsOnConnection;
    private bool _inRequest;

    /// <summary>Processes one segment from the session; returns the replies the target sends.</summary>
    public List<ResponseRecord> Receive(in TcpSegmentSpec segment, ReadOnlySpan<byte> payload, DateTimeOffset now)
    {
        var replies = new List<ResponseRecord>();
        var flags = segment.Flags;
        if ((flags & TcpFlags.Rst) != 0)
        {
            ResetsSeen++;
            _connected = false;
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

            if (!_connected || segment.Sequence + 1 != _rcvNxt || _connectionIsn != TargetIsn + (uint)Connections)
            {
                Connections++;
                _connected = true;
                _finSent = false;
                _clientFinReceived = false;
                _requestsOnConnection = 0;
                _unacked.Clear();
                _connectionIsn = TargetIsn + (uint)Connections;
                _rcvNxt = segment.Sequence + 1;
                _sndUna = _connectionIsn;
                _sndNxt = _connectionIsn + 1;
            }

            replies.Add(Record(_connectionIsn, _rcvNxt, TcpFlags.Syn | TcpFlags.Ack, 0, now, synAck: true, tsOn: segment.Timestamp.HasValue));
            return replies;
        }

        if (!_connected)
        {
            replies.Add(Record(segment.Acknowledgment, 0, TcpFlags.Rst, 0, now, window: 0));
            return replies;
        }

        if (segment.Timestamp is { } ts)
        {
            EchoesSeen.Add(ts.TsEcr);
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
            _connected = false;
            replies.Add(Record(_sndNxt, _rcvNxt, TcpFlags.Rst | TcpFlags.Ack, 0, now, window: 0));
            return replies;
        }

        if (!payload.IsEmpty || (flags & TcpFlags.Fin) != 0)
        {
            if (segment.Sequence == _rcvNxt && Window > 0)
            {
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
                    if (!_finSent)
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
            _connected = false;
        }

        return replies;
    }

    /// <summary>Retransmits replies the session has not acknowledged for 200 ms, like a kernel's RTO.</summary>
    public List<ResponseRecord> Tick(DateTimeOffset now)
    {
        var replies = new List<ResponseRecord>();
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
            var size = Respond?.Invoke(RequestsAnswered) ?? ResponseSize;
            RequestsAnswered++;
            _requestsOnConnection++;
            SendData(size, now, replies);
            ResponseEnds.Add(now);
            if (CloseAfterRequests is { } limit && _requestsOnConnection >= limit && !_finSent)
            {
                SendFin(now, replies);
                return;
            }
        }
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
