namespace ReplayCluster.Comparison;

/// <summary>
/// Both directions of one side (online, target or secondary) of a compared TCP session, turned into exchanges in
/// request order. The client direction decides the protocol: a first line that is an HTTP/1.x request line makes the
/// side HTTP; anything else (or the server speaking first) makes it opaque, where an exchange is the client's bytes up
/// to the server's answer and the server's bytes up to the client's next turn (request boundaries = direction
/// changes), compared by byte count and hash. Not thread-safe.
/// </summary>
internal sealed class SideStream : HttpStreamParser.IMessageSink
{
    private readonly HttpParserLimits _limits;
    private readonly Action<Exchange> _onExchange;
    private readonly HttpStreamParser _requestParser;
    private readonly HttpStreamParser _responseParser;
    private readonly Queue<HttpRequestHead> _unanswered = new();
    private Mode _mode = Mode.Undecided;
    private byte[]? _firstLine = [];
    private int _firstLineLength;
    private StreamRefusal? _requestRefusal;
    private bool _ended;

    // Opaque accounting runs from the first byte, so a side found not to be HTTP loses nothing.
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

    /// <summary>Bytes held by the side's parsers (for the caller's accounting).</summary>
    public int BufferedBytes => _requestParser.BufferedBytes + _responseParser.BufferedBytes + _firstLineLength;

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
                EmitOpaque();
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
        }
    }

    public void FeedServer(ReadOnlySpan<byte> data)
    {
        if (_ended || data.IsEmpty)
        {
            return;
        }

        if (_mode == Mode.Undecided)
        {
            // An HTTP server answers a complete request line; a server that speaks first, or answers less, is not HTTP.
            Decide(Mode.Opaque);
            _firstLine = null;
            _firstLineLength = 0;
        }

        if (_mode == Mode.Opaque)
        {
            _opaqueResponseBytes += data.Length;
            _opaqueResponseHash = Fnv64.Append(_opaqueResponseHash, data);
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

        if (_mode == Mode.Undecided && _firstLineLength > 0)
        {
            Decide(Mode.Opaque);
        }

        if (_mode == Mode.Opaque && (_opaqueRequestBytes > 0 || _opaqueResponseBytes > 0))
        {
            EmitOpaque();
        }
        else if (_mode == Mode.Http)
        {
            _requestParser.Finish();
            _responseParser.Finish();
            if (_requestRefusal is { } refusal)
            {
                // Emitted last: responses to the requests read before the refusal came first.
                _onExchange(new Exchange { Refusal = refusal });
            }
        }

        _ended = true;
        _requestParser.Close();
        _responseParser.Close();
        _firstLine = null;
        _firstLineLength = 0;
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
        var lf = found < 0 ? -1 : from + found - start;
        if (lf >= 0)
        {
            var line = seen.Slice(start, lf);
            if (!line.IsEmpty && line[^1] == (byte)'\r')
            {
                line = line[..^1];
            }

            Decide(HttpStreamParser.TryParseRequestLine(line, out _, out _) ? Mode.Http : Mode.Opaque);
            if (_mode == Mode.Http)
            {
                // The bytes before this chunk were held here; the caller feeds the chunk itself next.
                _requestParser.Feed(seen[..(_firstLineLength - take)]);
            }

            _firstLine = null;
            _firstLineLength = 0;
        }
        else if (_firstLineLength >= _limits.MaxRequestLineBytes)
        {
            Decide(Mode.Opaque);
            _firstLine = null;
            _firstLineLength = 0;
        }
    }

    private void Decide(Mode mode)
    {
        _mode = mode;
        if (mode != Mode.Http)
        {
            _requestParser.Close();
            _responseParser.Close();
        }
        else
        {
            _opaqueRequestBytes = 0;
            _opaqueRequestHash = Fnv64.Empty;
        }
    }

    private void EmitOpaque()
    {
        _onExchange(new Exchange { Opaque = new OpaqueExchange(_opaqueRequestBytes, _opaqueRequestHash, _opaqueResponseBytes, _opaqueResponseHash) });
        _opaqueRequestBytes = 0;
        _opaqueRequestHash = Fnv64.Empty;
        _opaqueResponseBytes = 0;
        _opaqueResponseHash = Fnv64.Empty;
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
        _requestParser.Close();
        _requestRefusal = null;
        _onExchange(new Exchange { Request = request, Refusal = refusal });
    }

    void HttpStreamParser.IMessageSink.OnProtocolSwitched() => _requestParser.Close();
}
