namespace ReplayCluster.Comparison;

/// <summary>
/// Both directions of one side (online, target or secondary) of a compared TCP session, turned into exchanges in
/// request order. The client direction decides the protocol: a first line that is an HTTP/1.x request line makes the
/// side HTTP; anything else makes it opaque, where an exchange is the client's bytes up to the server's answer and the
/// server's bytes up to the client's next turn (request boundaries = direction changes), compared by byte count and
/// hash. A server that speaks first is opaque too, unless what it says starts like an HTTP status line while the client
/// has sent the start of a request line: the two directions may be fed slightly out of step, so that waits for the
/// client's line. Not thread-safe.
/// </summary>
internal sealed class SideStream : HttpStreamParser.IMessageSink
{
    /// <summary>Direction changes tolerated while the protocol is undecided (each may end an opaque exchange).</summary>
    private const int MaxUndecidedExchanges = 64;

    private readonly HttpParserLimits _limits;
    private readonly Action<Exchange> _onExchange;
    private readonly HttpStreamParser _requestParser;
    private readonly HttpStreamParser _responseParser;
    private readonly Queue<HttpRequestHead> _unanswered = new();
    private Mode _mode = Mode.Undecided;
    private byte[]? _firstLine = [];
    private int _firstLineLength;
    private byte[]? _earlyServer = [];
    private int _earlyServerLength;
    private List<Exchange>? _undecidedExchanges;
    private StreamRefusal? _requestRefusal;
    private bool _ended;

    // Opaque accounting runs until the side is known to be HTTP, so a side found not to be HTTP loses nothing.
    private long _opaqueRequestBytes;
    private ulong _opaqueRequestHash = Fnv64.Empty;
    private long _opaqueResponseBytes;
    private ulong _opaqueResponseHash = Fnv64.Empty;

    public SideStream(HttpParserLimits limits, ComparisonCounters counters, Action<Exchange> onExchange)
    {
        _limits = limits;
        _onExchange = onExchange;
        _requestParser = new HttpStreamParser(requests: true, limits, counters, this);
        _responseParser = new HttpStreamParser(requests: false, limits, counters, this);
    }

    private enum Mode
    {
        Undecided,
        Http,
        Opaque,
    }

    /// <summary>Whether the side was found to speak something other than HTTP/1.x.</summary>
    public bool IsOpaque => _mode == Mode.Opaque;

    /// <summary>Bytes held by the side's parsers and its protocol detection.</summary>
    public int BufferedBytes => _requestParser.BufferedBytes + _responseParser.BufferedBytes + _firstLineLength + _earlyServerLength;

    public void FeedClient(ReadOnlySpan<byte> data)
    {
        if (_ended || data.IsEmpty)
        {
            return;
        }

        if (_mode != Mode.Http)
        {
            if (_opaqueResponseBytes > 0)
            {
                EndOpaqueExchange();
            }

            _opaqueRequestBytes += data.Length;
            _opaqueRequestHash = Fnv64.Append(_opaqueRequestHash, data);
        }

        if (_mode == Mode.Undecided)
        {
            DetectFromClient(data);
        }

        if (_mode == Mode.Http)
        {
            _requestParser.Feed(data);
            FlushEarlyServer();
        }
    }

    public void FeedServer(ReadOnlySpan<byte> data)
    {
        if (_ended || data.IsEmpty)
        {
            return;
        }

        if (_mode != Mode.Http)
        {
            _opaqueResponseBytes += data.Length;
            _opaqueResponseHash = Fnv64.Append(_opaqueResponseHash, data);
        }

        if (_mode == Mode.Undecided)
        {
            HoldEarlyServer(data);
        }
        else if (_mode == Mode.Http)
        {
            _responseParser.Feed(data);
        }
    }

    /// <summary>Both directions ended: the last exchange completes (or is refused as cut short).</summary>
    public void Finish()
    {
        if (_ended)
        {
            return;
        }

        if (_mode == Mode.Undecided && (_firstLineLength > 0 || _opaqueResponseBytes > 0))
        {
            Decide(Mode.Opaque);
        }

        if (_mode == Mode.Opaque && (_opaqueRequestBytes > 0 || _opaqueResponseBytes > 0))
        {
            EndOpaqueExchange();
        }
        else if (_mode == Mode.Http)
        {
            _requestParser.Finish();
            _responseParser.Finish();
            // Requests the server never answered are exchanges without a response: a target that drops a request
            // is a difference, not something to leave out.
            while (_unanswered.TryDequeue(out var unanswered))
            {
                _onExchange(new Exchange { Request = unanswered });
            }

            if (_requestRefusal is { } refusal)
            {
                // Emitted last: responses to the requests read before the refusal came first.
                _onExchange(new Exchange { Refusal = refusal });
            }
        }

        _ended = true;
        _requestParser.Close();
        _responseParser.Close();
        ReleaseDetection();
    }

    private void DetectFromClient(ReadOnlySpan<byte> data)
    {
        var take = Math.Min(data.Length, _limits.MaxRequestLineBytes - _firstLineLength);
        if (_firstLine!.Length < _firstLineLength + take)
        {
            Array.Resize(ref _firstLine, Math.Min(_limits.MaxRequestLineBytes, Math.Max(_firstLineLength + take, 256)));
        }

        data[..take].CopyTo(_firstLine.AsSpan(_firstLineLength));
        _firstLineLength += take;
        var seen = _firstLine.AsSpan(0, _firstLineLength);
        var start = 0;
        while (start < seen.Length && seen[start] is (byte)'\r' or (byte)'\n')
        {
            start++;
        }

        // Only the new bytes can hold the line's end (a request line trickling in byte by byte is searched once).
        var from = Math.Max(start, _firstLineLength - take);
        var found = seen[from..].IndexOf((byte)'\n');
        if (found >= 0)
        {
            var line = seen[start..(from + found)];
            if (!line.IsEmpty && line[^1] == (byte)'\r')
            {
                line = line[..^1];
            }

            var http = HttpStreamParser.TryParseRequestLine(line, out _, out _);
            if (http)
            {
                // The bytes before this chunk were held here; the caller feeds the chunk itself next.
                _requestParser.Feed(seen[..(_firstLineLength - take)]);
            }

            Decide(http ? Mode.Http : Mode.Opaque);
        }
        else if (_firstLineLength >= _limits.MaxRequestLineBytes || !IsRequestLinePrefix(seen[start..]))
        {
            Decide(Mode.Opaque);
        }
    }

    /// <summary>Server bytes before the client's first line is complete: held if they may be an early HTTP answer, else the side is opaque.</summary>
    private void HoldEarlyServer(ReadOnlySpan<byte> data)
    {
        var total = _earlyServerLength + data.Length;
        // Held bytes already matched; the new ones must go on matching "HTTP/1." as far as it goes.
        var prefix = "HTTP/1."u8;
        var looksHttp = true;
        for (int i = _earlyServerLength, k = 0; i < prefix.Length && k < data.Length; i++, k++)
        {
            looksHttp &= data[k] == prefix[i];
        }

        if (!looksHttp || total > _limits.MaxStreamBufferBytes)
        {
            Decide(Mode.Opaque);
            return;
        }

        if (_earlyServer!.Length < total)
        {
            Array.Resize(ref _earlyServer, Math.Min(_limits.MaxStreamBufferBytes, Math.Max(total, Math.Max(256, _earlyServer.Length * 2))));
        }

        data.CopyTo(_earlyServer.AsSpan(_earlyServerLength));
        _earlyServerLength = total;
    }

    private void FlushEarlyServer()
    {
        if (_earlyServerLength > 0)
        {
            var held = _earlyServer.AsSpan(0, _earlyServerLength).ToArray();
            _earlyServer = null;
            _earlyServerLength = 0;
            _responseParser.Feed(held);
        }
    }

    private void Decide(Mode mode)
    {
        _mode = mode;
        if (mode == Mode.Http)
        {
            _undecidedExchanges = null;
            _opaqueRequestBytes = _opaqueResponseBytes = 0;
            _opaqueRequestHash = _opaqueResponseHash = Fnv64.Empty;
            _firstLine = null;
            _firstLineLength = 0;
            return;
        }

        _requestParser.Close();
        _responseParser.Close();
        ReleaseDetection();
        if (_undecidedExchanges is { } held)
        {
            _undecidedExchanges = null;
            foreach (var exchange in held)
            {
                _onExchange(exchange);
            }
        }
    }

    private void ReleaseDetection()
    {
        _firstLine = null;
        _firstLineLength = 0;
        _earlyServer = null;
        _earlyServerLength = 0;
    }

    private void EndOpaqueExchange()
    {
        var exchange = new Exchange { Opaque = new OpaqueExchange(_opaqueRequestBytes, _opaqueRequestHash, _opaqueResponseBytes, _opaqueResponseHash) };
        _opaqueRequestBytes = 0;
        _opaqueRequestHash = Fnv64.Empty;
        _opaqueResponseBytes = 0;
        _opaqueResponseHash = Fnv64.Empty;
        if (_mode == Mode.Opaque)
        {
            _onExchange(exchange);
            return;
        }

        (_undecidedExchanges ??= []).Add(exchange);
        if (_undecidedExchanges.Count >= MaxUndecidedExchanges)
        {
            Decide(Mode.Opaque);
        }
    }

    /// <summary>Whether the bytes can still become <c>METHOD SP target SP HTTP/1.x</c>: a token, then visible characters.</summary>
    private static bool IsRequestLinePrefix(ReadOnlySpan<byte> text)
    {
        var space = text.IndexOf((byte)' ');
        var method = space < 0 ? text : text[..space];
        if (method.Length > 32)
        {
            return false;
        }

        foreach (var b in method)
        {
            if (!(b is >= (byte)'A' and <= (byte)'Z' or >= (byte)'a' and <= (byte)'z' or >= (byte)'0' and <= (byte)'9' || "!#$%&'*+-.^_`|~"u8.Contains(b)))
            {
                return false;
            }
        }

        if (space < 0)
        {
            return true;
        }

        foreach (var b in text[(space + 1)..])
        {
            if (b is < 0x20 and not (byte)'\r' || b == 0x7F)
            {
                return false;
            }
        }

        return true;
    }

    void HttpStreamParser.IMessageSink.OnRequest(HttpRequestHead request)
    {
        _unanswered.Enqueue(request);
        _responseParser.Resume();
    }

    HttpRequestHead? HttpStreamParser.IMessageSink.PeekUnansweredRequest() =>
        _unanswered.TryPeek(out var request) ? request : null;

    void HttpStreamParser.IMessageSink.OnResponse(HttpResponse response)
    {
        var request = _unanswered.Dequeue();
        _onExchange(new Exchange { Request = request, Response = response });
    }

    void HttpStreamParser.IMessageSink.OnRefused(bool requests, StreamRefusal refusal)
    {
        if (requests)
        {
            _requestRefusal = refusal;
            return;
        }

        // No further response can be read: this side's next exchange is the refusal, and its last.
        _unanswered.TryDequeue(out var request);
        _unanswered.Clear();
        _requestParser.Close();
        _requestRefusal = null;
        _onExchange(new Exchange { Request = request, Refusal = refusal });
    }

    void HttpStreamParser.IMessageSink.OnProtocolSwitched() => _requestParser.Close();
}
