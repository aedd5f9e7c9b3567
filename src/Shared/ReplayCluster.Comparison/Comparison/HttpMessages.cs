namespace ReplayCluster.Comparison;

/// <summary>Header fields in arrival order; names compared case-insensitively (RFC 9110 5.1).</summary>
internal sealed class HttpHeaderList
{
    private readonly List<KeyValuePair<string, string>> _fields = [];

    public int Count => _fields.Count;

    public IReadOnlyList<KeyValuePair<string, string>> Fields => _fields;

    public void Add(string name, string value) => _fields.Add(new(name, value));

    /// <summary>The first value of <paramref name="name"/>, or null.</summary>
    public string? Get(string name)
    {
        foreach (var field in _fields)
        {
            if (string.Equals(field.Key, name, StringComparison.OrdinalIgnoreCase))
            {
                return field.Value;
            }
        }

        return null;
    }

    /// <summary>Every value of <paramref name="name"/> joined as a list (RFC 9110 5.3), or null when absent.</summary>
    public string? GetJoined(string name)
    {
        string? joined = null;
        foreach (var field in _fields)
        {
            if (string.Equals(field.Key, name, StringComparison.OrdinalIgnoreCase))
            {
                joined = joined is null ? field.Value : joined + ", " + field.Value;
            }
        }

        return joined;
    }
}

/// <summary>A parsed request: what grouping, pairing and the identical-request key need. Its body is hashed, not kept.</summary>
/// <param name="Method">The method token as sent (<c>GET</c>).</param>
/// <param name="Target">The request target as sent, query included.</param>
/// <param name="Headers">The request's header fields.</param>
/// <param name="BodyLength">Bytes of the (unframed, still encoded) body.</param>
/// <param name="BodyHash">FNV-1a of those bytes.</param>
internal sealed record HttpRequestHead(string Method, string Target, HttpHeaderList Headers, long BodyLength, ulong BodyHash);

/// <summary>How much of a response body can be compared.</summary>
internal enum BodyCompleteness
{
    /// <summary>The whole body is held (decoded if it was encoded): compared by content.</summary>
    Whole,

    /// <summary>Longer than <see cref="HttpParserLimits.MaxBodyBytes"/>, undecodable, or over the decoded bound: compared by hash and length of what was received.</summary>
    HashOnly,
}

/// <summary>A parsed response with its body decoded (gzip, deflate) within bounds.</summary>
/// <param name="Status">The status code.</param>
/// <param name="Headers">The response's header fields (trailers are not kept).</param>
/// <param name="Body">The body as compared: decoded bytes when <see cref="Completeness"/> is <see cref="BodyCompleteness.Whole"/>, else empty.</param>
/// <param name="BodyLength">Bytes of the body as compared (decoded when whole, as received otherwise).</param>
/// <param name="BodyHash">FNV-1a of the body as compared (decoded when whole, as received otherwise).</param>
/// <param name="Completeness">Whether the content or only the hash is compared.</param>
internal sealed record HttpResponse(int Status, HttpHeaderList Headers, ReadOnlyMemory<byte> Body, long BodyLength, ulong BodyHash, BodyCompleteness Completeness);

/// <summary>One request and its response on one side of a compared session, or what stood in their place.</summary>
internal sealed record Exchange
{
    /// <summary>The HTTP request, or null for a non-HTTP exchange.</summary>
    public HttpRequestHead? Request { get; init; }

    /// <summary>The HTTP response, or null for a non-HTTP or refused exchange.</summary>
    public HttpResponse? Response { get; init; }

    /// <summary>A non-HTTP exchange: byte counts and hashes between direction changes.</summary>
    public OpaqueExchange? Opaque { get; init; }

    /// <summary>Why this side's stream was refused at this exchange (it is the side's last), or null.</summary>
    public StreamRefusal? Refusal { get; init; }

    /// <summary>Why the content was not kept (the pending budget was full), or null: its pair is dropped, its place kept.</summary>
    public ComparisonDrop? Dropped { get; init; }

    /// <summary>Body bytes this exchange holds (what the pending budget charges).</summary>
    internal long HeldBytes => Response?.Body.Length ?? 0;
}

/// <summary>A non-HTTP exchange: the client's bytes up to the server's answer, and the server's bytes up to the client's next turn.</summary>
internal sealed record OpaqueExchange(long RequestBytes, ulong RequestHash, long ResponseBytes, ulong ResponseHash);
