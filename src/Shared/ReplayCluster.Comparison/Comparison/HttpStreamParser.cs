using System.Globalization;
using System.Text;

namespace ReplayCluster.Comparison;

/// <summary>
/// An incremental HTTP/1.x parser for one direction of a TCP stream: requests on the client's direction, responses on
/// the server's. Bytes arrive in order in chunks of any size; messages are handed out as they complete. Keep-alive and
/// pipelining are just messages in a row; a response learns whether it has a body from the request it answers (HEAD,
/// CONNECT) through <see cref="IMessageSink"/>. Malformed input refuses the stream with a counted
/// <see cref="StreamRefusal"/>; nothing here throws on input. Not thread-safe: one stream, one caller.
/// </summary>
internal sealed class HttpStreamParser
{
    /// <summary>Longest chunk-size line (size plus extensions) accepted; real ones are a few bytes.</summary>
    private const int MaxChunkLineBytes = 1024;

    private readonly bool _requests;
    private readonly HttpParserLimits _limits;
    private readonly ComparisonCounters _counters;
    private readonly IMessageSink _sink;
    private byte[] _buffer = [];
    private int _start;
    private int _end;
    private State _state = State.Head;

    // How far the buffer from _scanStart was searched for a line or head end without finding it: bytes that trickle in
    // are searched once, not again on every arrival (byte-by-byte input would otherwise cost quadratic time).
    private int _scanStart = -1;
    private int _scanned;

    // The message being read.
    private string _method = string.Empty;
    private string _target = string.Empty;
    private int _status;
    private HttpHeaderList _headers = new();
    private long _remaining;
    private int _trailerCount;
    private int _trailerBytes;
    private byte[] _body = [];
    private int _bodyKept;
    private long _bodyLength;
    private ulong _bodyHash = Fnv64.Empty;

    public HttpStreamParser(bool requests, HttpParserLimits limits, ComparisonCounters counters, IMessageSink sink)
    {
        _requests = requests;
        _limits = limits;
        _counters = counters;
        _sink = sink;
    }

    /// <summary>Where parsed messages go, and where a response parser finds the request it answers.</summary>
    internal interface IMessageSink
    {
        void OnRequest(HttpRequestHead request);

        /// <summary>The oldest request not yet answered, or null if the client has not sent it (yet).</summary>
        HttpRequestHead? PeekUnansweredRequest();

        void OnResponse(HttpResponse response);

        void OnRefused(bool requests, StreamRefusal refusal);

        void OnProtocolSwitched();
    }

    private enum State
    {
        Head,
        AwaitRequest,
        FixedBody,
        ChunkSize,
        ChunkData,
        ChunkDataEnd,
        Trailers,
        UntilClose,
        Closed,
    }

    /// <summary>Whether the parser stopped (refused, switched protocols, or stopped by the caller).</summary>
    public bool IsClosed => _state == State.Closed;

    /// <summary>Unconsumed bytes held.</summary>
    public int BufferedBytes => _end - _start;

    public void Feed(ReadOnlySpan<byte> data)
    {
        while (data.Length > 0 && _state != State.Closed)
        {
            // Body bytes with nothing buffered go straight to the body: no copy through the stream buffer.
            if (_start == _end && _state is State.FixedBody or State.ChunkData or State.UntilClose)
            {
                var direct = _state == State.UntilClose ? data.Length : (int)Math.Min(_remaining, data.Length);
                AppendBody(data[..direct]);
                data = data[direct..];
                _remaining -= direct;
                Process();
                continue;
            }

            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                if (_scanStart == _start)
                {
                    _scanStart = 0;
                }

                _start = 0;
            }

            var free = _limits.MaxStreamBufferBytes - _end;
            if (free <= 0)
            {
                Refuse(StreamRefusal.StreamBufferFull);
                return;
            }

            var take = Math.Min(free, data.Length);
            if (_buffer.Length < _end + take)
            {
                Array.Resize(ref _buffer, Math.Min(_limits.MaxStreamBufferBytes, Math.Max(_end + take, Math.Max(4096, _buffer.Length * 2))));
            }

            data[..take].CopyTo(_buffer.AsSpan(_end));
            _end += take;
            data = data[take..];
            Process();
        }
    }

    /// <summary>A request arrived on the other direction: a response waiting for it may go on.</summary>
    public void Resume()
    {
        if (_state == State.AwaitRequest)
        {
            Process();
        }
    }

    /// <summary>The stream ended: a body delimited by the close completes; anything else cut short is refused.</summary>
    public void Finish()
    {
        switch (_state)
        {
            case State.UntilClose:
                CompleteMessage();
                break;
            case State.Head:
                if (!Available.Trim("\r\n"u8).IsEmpty)
                {
                    Refuse(StreamRefusal.TruncatedMessage);
                }

                break;
            case State.AwaitRequest:
                Refuse(StreamRefusal.ResponseWithoutRequest);
                break;
            case State.Closed:
                break;
            default:
                Refuse(StreamRefusal.TruncatedMessage);
                break;
        }

        Close();
    }

    /// <summary>Stops parsing without a refusal (the stream turned out not to be HTTP, or the caller is done) and frees the buffers.</summary>
    public void Close()
    {
        _state = State.Closed;
        _buffer = [];
        _body = [];
        _start = _end = 0;
    }

    private ReadOnlySpan<byte> Available => _buffer.AsSpan(_start, _end - _start);

    private void Process()
    {
        while (true)
        {
            switch (_state)
            {
                case State.Head:
                    if (!ReadHead())
                    {
                        return;
                    }

                    break;
                case State.AwaitRequest:
                    if (!StartResponseBody())
                    {
                        return;
                    }

                    break;
                case State.FixedBody:
                case State.ChunkData:
                    if (_remaining > 0)
                    {
                        var take = (int)Math.Min(_remaining, _end - _start);
                        if (take == 0)
                        {
                            return;
                        }

                        AppendBody(_buffer.AsSpan(_start, take));
                        _start += take;
                        _remaining -= take;
                    }

                    if (_remaining == 0)
                    {
                        if (_state == State.FixedBody)
                        {
                            CompleteMessage();
                        }
                        else
                        {
                            _state = State.ChunkDataEnd;
                        }
                    }

                    break;
                case State.ChunkDataEnd:
                    {
                        var available = Available;
                        if (available.IsEmpty)
                        {
                            return;
                        }

                        if (available[0] == (byte)'\n')
                        {
                            _start += 1;
                        }
                        else if (available.Length < 2)
                        {
                            return;
                        }
                        else if (available[0] == (byte)'\r' && available[1] == (byte)'\n')
                        {
                            _start += 2;
                        }
                        else
                        {
                            Refuse(StreamRefusal.MalformedChunk);
                            return;
                        }

                        _state = State.ChunkSize;
                        break;
                    }

                case State.ChunkSize:
                    if (!ReadChunkSize())
                    {
                        return;
                    }

                    break;
                case State.Trailers:
                    if (!ReadTrailer())
                    {
                        return;
                    }

                    break;
                case State.UntilClose:
                    if (_end > _start)
                    {
                        AppendBody(Available);
                        _start = _end;
                    }

                    return;
                default:
                    return;
            }
        }
    }

    private bool ReadHead()
    {
        // RFC 9112 2.2: empty lines before a message are ignored (some clients send a CRLF after a POST body).
        while (_end > _start && (_buffer[_start] == (byte)'\r' || _buffer[_start] == (byte)'\n'))
        {
            _start++;
        }

        var available = Available;
        var headEnd = HeadLength(available, Math.Max(0, ScanFrom() - 2));
        if (headEnd < 0)
        {
            Scanned(available.Length);
            if (available.Length > _limits.MaxHeaderBytes)
            {
                Refuse(StreamRefusal.HeadersTooLarge);
            }

            return false;
        }

        _scanStart = -1;
        if (headEnd > _limits.MaxHeaderBytes)
        {
            Refuse(StreamRefusal.HeadersTooLarge);
            return false;
        }

        var head = available[..headEnd];
        _start += headEnd;
        _headers = new HttpHeaderList();
        var lineEnd = head.IndexOf((byte)'\n');
        var startLine = TrimCr(head[..lineEnd]);
        if (_requests)
        {
            if (!TryParseRequestLine(startLine, out _method, out _target))
            {
                Refuse(StreamRefusal.MalformedRequestLine);
                return false;
            }
        }
        else if (!TryParseStatusLine(startLine, out _status))
        {
            Refuse(StreamRefusal.MalformedStatusLine);
            return false;
        }

        var rest = head[(lineEnd + 1)..];
        while (!rest.IsEmpty)
        {
            var next = rest.IndexOf((byte)'\n');
            var line = TrimCr(next < 0 ? rest : rest[..next]);
            rest = next < 0 ? [] : rest[(next + 1)..];
            if (line.IsEmpty)
            {
                break;
            }

            if (_headers.Count >= _limits.MaxHeaderCount)
            {
                Refuse(StreamRefusal.TooManyHeaders);
                return false;
            }

            if (!TryParseField(line, out var name, out var value))
            {
                Refuse(StreamRefusal.MalformedHeader);
                return false;
            }

            _headers.Add(name, value);
        }

        ResetBody();
        if (_requests)
        {
            return StartRequestBody();
        }

        if (_status is >= 100 and < 200)
        {
            if (_status == 101)
            {
                // The 101 answers its request; what follows is another protocol.
                _state = State.AwaitRequest;
                return true;
            }

            // Interim responses (100 Continue, 103 Early Hints) answer nothing: the final response follows.
            return true;
        }

        _state = State.AwaitRequest;
        return true;
    }

    private bool StartRequestBody()
    {
        if (!TryFraming(out var chunked, out var length, out var refusal))
        {
            Refuse(refusal);
            return false;
        }

        if (chunked)
        {
            _state = State.ChunkSize;
        }
        else if (length > 0)
        {
            _remaining = length;
            _state = State.FixedBody;
        }
        else if (_headers.Get("transfer-encoding") is not null)
        {
            // A request with a transfer coding other than chunked last cannot be framed (RFC 9112 6.3).
            Refuse(StreamRefusal.MalformedHeader);
            return false;
        }
        else
        {
            CompleteMessage();
        }

        return true;
    }

    private bool StartResponseBody()
    {
        var request = _sink.PeekUnansweredRequest();
        if (request is null)
        {
            _state = State.AwaitRequest;
            return false;
        }

        var switched = _status == 101 || (_status is >= 200 and < 300 && request.Method == "CONNECT");
        if (switched || _status is 204 or 304 || request.Method == "HEAD")
        {
            CompleteMessage();
            if (switched)
            {
                _counters.Count(StreamRefusal.ProtocolSwitched);
                Close();
                _sink.OnProtocolSwitched();
            }

            return _state != State.Closed;
        }

        if (!TryFraming(out var chunked, out var length, out var refusal))
        {
            Refuse(refusal);
            return false;
        }

        if (chunked)
        {
            _state = State.ChunkSize;
        }
        else if (length >= 0)
        {
            _remaining = length;
            _state = State.FixedBody;
        }
        else
        {
            _state = State.UntilClose;
        }

        return true;
    }

    /// <summary>RFC 9112 6.3: chunked last wins over Content-Length; Content-Length values must agree; -1 means none.</summary>
    private bool TryFraming(out bool chunked, out long length, out StreamRefusal refusal)
    {
        chunked = false;
        length = -1;
        refusal = default;
        var te = _headers.GetJoined("transfer-encoding");
        if (te is not null)
        {
            var last = te[(te.LastIndexOf(',') + 1)..].Trim();
            if (last.Equals("chunked", StringComparison.OrdinalIgnoreCase))
            {
                chunked = true;
                return true;
            }
        }

        foreach (var field in _headers.Fields)
        {
            if (!field.Key.Equals("content-length", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            foreach (var part in field.Value.Split(','))
            {
                if (!long.TryParse(part.AsSpan().Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var value)
                    || (length >= 0 && value != length))
                {
                    refusal = StreamRefusal.InvalidContentLength;
                    return false;
                }

                length = value;
            }
        }

        return true;
    }

    private bool ReadChunkSize()
    {
        var available = Available;
        var lf = FindLineEnd(available);
        if (lf < 0)
        {
            if (available.Length > MaxChunkLineBytes)
            {
                Refuse(StreamRefusal.MalformedChunk);
            }

            return false;
        }

        var line = TrimCr(available[..lf]);
        var semicolon = line.IndexOf((byte)';');
        var digits = (semicolon < 0 ? line : line[..semicolon]).Trim(" \t"u8);
        if (lf > MaxChunkLineBytes || digits.IsEmpty || digits.Length > 15
            || !long.TryParse(Encoding.Latin1.GetString(digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var size))
        {
            Refuse(StreamRefusal.MalformedChunk);
            return false;
        }

        _start += lf + 1;
        if (size == 0)
        {
            _trailerCount = 0;
            _trailerBytes = 0;
            _state = State.Trailers;
        }
        else
        {
            _remaining = size;
            _state = State.ChunkData;
        }

        return true;
    }

    private bool ReadTrailer()
    {
        var available = Available;
        var lf = FindLineEnd(available);
        if (lf < 0)
        {
            if (_trailerBytes + available.Length > _limits.MaxHeaderBytes)
            {
                Refuse(StreamRefusal.HeadersTooLarge);
            }

            return false;
        }

        var line = TrimCr(available[..lf]);
        _start += lf + 1;
        _trailerBytes += lf + 1;
        if (line.IsEmpty)
        {
            CompleteMessage();
            return true;
        }

        // Trailers are read for framing and bounded like headers, but not compared (few servers send them).
        if (++_trailerCount + _headers.Count > _limits.MaxHeaderCount)
        {
            Refuse(StreamRefusal.TooManyHeaders);
            return false;
        }

        if (_trailerBytes > _limits.MaxHeaderBytes)
        {
            Refuse(StreamRefusal.HeadersTooLarge);
            return false;
        }

        if (!TryParseField(line, out _, out _))
        {
            Refuse(StreamRefusal.MalformedHeader);
            return false;
        }

        return true;
    }

    private void ResetBody()
    {
        _bodyKept = 0;
        _bodyLength = 0;
        _bodyHash = Fnv64.Empty;
        _remaining = 0;
    }

    private void AppendBody(ReadOnlySpan<byte> data)
    {
        _bodyLength += data.Length;
        _bodyHash = Fnv64.Append(_bodyHash, data);
        if (_requests)
        {
            return;
        }

        var keep = Math.Min(data.Length, _limits.MaxBodyBytes - _bodyKept);
        if (keep <= 0)
        {
            return;
        }

        if (_body.Length < _bodyKept + keep)
        {
            Array.Resize(ref _body, Math.Min(_limits.MaxBodyBytes, Math.Max(_bodyKept + keep, Math.Max(1024, _body.Length * 2))));
        }

        data[..keep].CopyTo(_body.AsSpan(_bodyKept));
        _bodyKept += keep;
    }

    private void CompleteMessage()
    {
        var headers = _headers;
        _state = State.Head;
        if (_requests)
        {
            _sink.OnRequest(new HttpRequestHead(_method, _target, headers, _bodyLength, _bodyHash));
            return;
        }

        HttpResponse response;
        if (_bodyLength > _bodyKept)
        {
            response = new HttpResponse(_status, headers, ReadOnlyMemory<byte>.Empty, _bodyLength, _bodyHash, BodyCompleteness.HashOnly);
        }
        else
        {
            var kept = _body.AsSpan(0, _bodyKept);
            var outcome = BodyDecoder.Decode(headers.GetJoined("content-encoding"), kept, _limits.MaxDecodedBodyBytes, out var decoded, out var decodedLength);
            switch (outcome)
            {
                case BodyDecoder.Outcome.Decoded:
                    var body = decoded.AsMemory(0, decodedLength);
                    response = new HttpResponse(_status, headers, body, decodedLength, Fnv64.Append(Fnv64.Empty, body.Span), BodyCompleteness.Whole);
                    break;
                case BodyDecoder.Outcome.NotEncoded:
                    // A copy of exactly the body: the parser's buffer is reused for the next message.
                    response = new HttpResponse(_status, headers, kept.ToArray(), _bodyLength, _bodyHash, BodyCompleteness.Whole);
                    break;
                default:
                    if (outcome == BodyDecoder.Outcome.TooLarge)
                    {
                        _counters.Count(StreamRefusal.DecodedBodyTooLarge);
                    }
                    else if (outcome == BodyDecoder.Outcome.Undecodable)
                    {
                        _counters.Count(StreamRefusal.UndecodableBody);
                    }

                    response = new HttpResponse(_status, headers, ReadOnlyMemory<byte>.Empty, _bodyLength, _bodyHash, BodyCompleteness.HashOnly);
                    break;
            }
        }

        _sink.OnResponse(response);
    }

    private void Refuse(StreamRefusal refusal)
    {
        _counters.Count(refusal);
        Close();
        _sink.OnRefused(_requests, refusal);
    }

    private int ScanFrom() => _scanStart == _start ? _scanned : 0;

    private void Scanned(int length)
    {
        _scanStart = _start;
        _scanned = length;
    }

    /// <summary>The index of the next LF in <paramref name="available"/>, searching only what was not searched before; -1 if none yet.</summary>
    private int FindLineEnd(ReadOnlySpan<byte> available)
    {
        var from = ScanFrom();
        var lf = available[from..].IndexOf((byte)'\n');
        if (lf < 0)
        {
            Scanned(available.Length);
            return -1;
        }

        // Found: the next search is about other bytes (the buffer may even start at this index again after compaction).
        _scanStart = -1;
        return from + lf;
    }

    /// <summary>Length of the start line plus header section including the empty line that ends it, or -1 if incomplete.</summary>
    private static int HeadLength(ReadOnlySpan<byte> data, int offset)
    {
        while (true)
        {
            var lf = data[offset..].IndexOf((byte)'\n');
            if (lf < 0)
            {
                return -1;
            }

            var next = offset + lf + 1;
            if (next < data.Length && data[next] == (byte)'\n')
            {
                return next + 1;
            }

            if (next + 1 < data.Length && data[next] == (byte)'\r' && data[next + 1] == (byte)'\n')
            {
                return next + 2;
            }

            if (next + 1 >= data.Length)
            {
                return -1;
            }

            offset = next;
        }
    }

    private static ReadOnlySpan<byte> TrimCr(ReadOnlySpan<byte> line) =>
        !line.IsEmpty && line[^1] == (byte)'\r' ? line[..^1] : line;

    /// <summary><c>METHOD SP request-target SP HTTP/1.x</c>, exactly (RFC 9112 3).</summary>
    internal static bool TryParseRequestLine(ReadOnlySpan<byte> line, out string method, out string target)
    {
        method = target = string.Empty;
        var firstSpace = line.IndexOf((byte)' ');
        if (firstSpace <= 0 || firstSpace > 32 || !IsToken(line[..firstSpace]))
        {
            return false;
        }

        var rest = line[(firstSpace + 1)..];
        var secondSpace = rest.IndexOf((byte)' ');
        if (secondSpace <= 0)
        {
            return false;
        }

        var version = rest[(secondSpace + 1)..];
        if (!IsHttp1Version(version))
        {
            return false;
        }

        var targetBytes = rest[..secondSpace];
        foreach (var b in targetBytes)
        {
            if (b <= 0x20 || b == 0x7F)
            {
                return false;
            }
        }

        method = Encoding.ASCII.GetString(line[..firstSpace]);
        target = Encoding.Latin1.GetString(targetBytes);
        return true;
    }

    /// <summary><c>HTTP/1.x SP 3DIGIT [SP reason]</c>.</summary>
    internal static bool TryParseStatusLine(ReadOnlySpan<byte> line, out int status)
    {
        status = 0;
        if (line.Length < 12 || !IsHttp1Version(line[..8]) || line[8] != (byte)' ')
        {
            return false;
        }

        for (var i = 9; i < 12; i++)
        {
            if (line[i] is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            status = (status * 10) + (line[i] - '0');
        }

        return status >= 100 && (line.Length == 12 || line[12] == (byte)' ');
    }

    private static bool IsHttp1Version(ReadOnlySpan<byte> version) =>
        version.Length == 8 && version[..7].SequenceEqual("HTTP/1."u8) && version[7] is (byte)'0' or (byte)'1';

    private static bool TryParseField(ReadOnlySpan<byte> line, out string name, out string value)
    {
        name = value = string.Empty;
        var colon = line.IndexOf((byte)':');
        // A leading space is an obsolete folded line; whitespace before the colon is refused (RFC 9112 5.1).
        if (colon <= 0 || !IsToken(line[..colon]))
        {
            return false;
        }

        name = Encoding.ASCII.GetString(line[..colon]);
        value = Encoding.Latin1.GetString(line[(colon + 1)..].Trim(" \t"u8));
        return true;
    }

    private static bool IsToken(ReadOnlySpan<byte> text)
    {
        foreach (var b in text)
        {
            var ok = b is >= (byte)'a' and <= (byte)'z' or >= (byte)'A' and <= (byte)'Z' or >= (byte)'0' and <= (byte)'9'
                || "!#$%&'*+-.^_`|~"u8.Contains(b);
            if (!ok)
            {
                return false;
            }
        }

        return !text.IsEmpty;
    }
}
