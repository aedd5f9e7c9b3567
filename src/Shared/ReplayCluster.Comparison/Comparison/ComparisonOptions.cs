namespace ReplayCluster.Comparison;

/// <summary>
/// How responses are compared: parsing bounds, memory budgets, noise rules, redaction and report bounds. Every
/// bound is a hard limit whose overflow is counted, never an exception or unbounded growth. Checked by
/// <see cref="ComparisonOptionsValidator"/>.
/// </summary>
public sealed record ComparisonOptions
{
    /// <summary>The defaults documented on each property.</summary>
    public static readonly ComparisonOptions Default = new();

    /// <summary>Bounds of the HTTP/1.x parser, per stream and per message.</summary>
    public HttpParserLimits Parser { get; init; } = new();

    /// <summary>What is ignored, learned and redacted.</summary>
    public NoiseOptions Noise { get; init; } = new();

    /// <summary>Bounds of a node's pending work and of its summary.</summary>
    public ComparisonBudget Budget { get; init; } = new();
}

/// <summary>Bounds of the incremental HTTP/1.x parser. A stream that crosses one is refused with a named, counted reason.</summary>
public sealed record HttpParserLimits
{
    /// <summary>
    /// Bytes one direction of a stream may hold while it waits for the rest of a line, a header section, or the
    /// request a response answers. Defaults to 64 KiB: larger than <see cref="MaxHeaderBytes"/>, so only a response
    /// that outruns its request by that much is refused (<see cref="StreamRefusal.StreamBufferFull"/>).
    /// </summary>
    public int MaxStreamBufferBytes { get; init; } = 64 * 1024;

    /// <summary>Bytes of a start line plus header section (or of a trailer section). Defaults to 16 KiB (nginx's large_client_header_buffers is 4 x 8 KiB; 16 KiB covers real responses with many cookies).</summary>
    public int MaxHeaderBytes { get; init; } = 16 * 1024;

    /// <summary>Header fields of one message (trailer fields count too). Defaults to 100 (Kestrel's MaxRequestHeaderCount).</summary>
    public int MaxHeaderCount { get; init; } = 100;

    /// <summary>
    /// Bytes of a response body kept for comparison, as received (before decoding). Defaults to 64 KiB. A longer body is
    /// still framed and hashed whole, and then compared by hash and length only.
    /// </summary>
    public int MaxBodyBytes { get; init; } = 64 * 1024;

    /// <summary>
    /// Bytes a gzip or deflate body may decode to. Defaults to 256 KiB. Decoding stops at this bound and the body is
    /// compared by the hash of its encoded bytes, counted as <see cref="StreamRefusal.DecodedBodyTooLarge"/>: a
    /// zip bomb costs this much memory, not what it expands to.
    /// </summary>
    public int MaxDecodedBodyBytes { get; init; } = 256 * 1024;

    /// <summary>
    /// Bytes of a client stream read to decide whether it speaks HTTP/1.x (its first line must be a request line).
    /// Defaults to 8 KiB (a request line longer than that is refused by most servers too).
    /// </summary>
    public int MaxRequestLineBytes { get; init; } = 8 * 1024;
}

/// <summary>
/// Noise: what is never compared (ignored headers and JSON paths), what is learned to vary by itself, and what is
/// redacted from examples. See <see cref="ComparisonReport"/> for the rule that separates differences from noise.
/// </summary>
public sealed record NoiseOptions
{
    /// <summary>
    /// Header names (case-insensitive) ignored by default: they change on every response or describe framing, not
    /// content (the body is compared decoded). Any header whose name contains one of <see cref="DefaultIgnoredHeaderFragments"/>
    /// is ignored too. <c>Set-Cookie</c> is not here: its cookie names are compared, its values never.
    /// </summary>
    public static readonly IReadOnlyList<string> DefaultIgnoredHeaders =
    [
        "date", "expires", "last-modified", "etag", "age", "server-timing", "x-runtime", "x-response-time",
        "traceparent", "tracestate", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled",
        "x-amz-cf-id", "cf-ray", "content-length", "transfer-encoding", "connection", "keep-alive",
    ];

    /// <summary>Name fragments that make a header ignored by default: request, trace and correlation ids in all their spellings.</summary>
    public static readonly IReadOnlyList<string> DefaultIgnoredHeaderFragments =
        ["request-id", "requestid", "request_id", "trace-id", "traceid", "correlation-id", "correlationid"];

    /// <summary>Headers whose values never appear in an example. Always redacted, whatever is configured.</summary>
    public static readonly IReadOnlyList<string> AlwaysRedactedHeaders = ["authorization", "proxy-authorization", "cookie", "set-cookie"];

    /// <summary>JSON field names (case-insensitive, the last name of a path) redacted by default.</summary>
    public static readonly IReadOnlyList<string> DefaultRedactedFields =
        ["password", "passwd", "secret", "token", "access_token", "refresh_token", "id_token", "api_key", "apikey", "client_secret"];

    /// <summary>Whether <see cref="DefaultIgnoredHeaders"/> and <see cref="DefaultIgnoredHeaderFragments"/> apply. Defaults to true.</summary>
    public bool UseDefaultIgnoredHeaders { get; init; } = true;

    /// <summary>More header names (case-insensitive) never compared. Defaults to none.</summary>
    public IReadOnlyList<string> IgnoredHeaders { get; init; } = [];

    /// <summary>
    /// JSON paths never compared, as the report names them (<c>$.meta.generatedAt</c>); <c>[*]</c> matches any array
    /// index (<c>$.items[*].updatedAt</c>) and a path also ignores everything below it. Defaults to none.
    /// </summary>
    public IReadOnlyList<string> IgnoredJsonPaths { get; init; } = [];

    /// <summary>More header names whose values are redacted in examples (beyond <see cref="AlwaysRedactedHeaders"/>). Defaults to none.</summary>
    public IReadOnlyList<string> RedactedHeaders { get; init; } = [];

    /// <summary>JSON field names (case-insensitive) whose values are redacted in examples. Defaults to <see cref="DefaultRedactedFields"/>.</summary>
    public IReadOnlyList<string> RedactedFields { get; init; } = DefaultRedactedFields;

    /// <summary>
    /// Learn noise from online responses to identical requests (same method, target and body hash) when no secondary
    /// reference is fed. Defaults to true. With a secondary reference both sources count.
    /// </summary>
    public bool LearnFromRepeatedRequests { get; init; } = true;

    /// <summary>
    /// A field is reported only if its primary difference rate exceeds its noise rate by at least this much (absolute,
    /// 0..1). Defaults to 0.03, Diffy's absolute threshold.
    /// </summary>
    public double AbsoluteThreshold { get; init; } = 0.03;

    /// <summary>
    /// ...and is at least (1 + this) times its noise rate. Defaults to 0.2, Diffy's relative threshold: a field that
    /// differs in 100 % of comparisons and in 90 % of reference pairs is noise.
    /// </summary>
    public double RelativeThreshold { get; init; } = 0.2;
}

/// <summary>Memory and size bounds of a node's comparison work and of the summaries it sends.</summary>
public sealed record ComparisonBudget
{
    /// <summary>
    /// Exchanges (a request and its response) parsed on one side and waiting for the other side's, across the node.
    /// Defaults to 1024. Beyond it an exchange keeps its place but not its content, and its pair is dropped
    /// (<see cref="ComparisonDrop.PendingExchangesFull"/>).
    /// </summary>
    public int MaxPendingExchanges { get; init; } = 1024;

    /// <summary>Body bytes held by pending exchanges across the node. Defaults to 32 MiB (<see cref="ComparisonDrop.PendingBytesFull"/>).</summary>
    public long MaxPendingBodyBytes { get; init; } = 32L * 1024 * 1024;

    /// <summary>
    /// Online responses remembered to learn noise from identical requests (one per request key, oldest forgotten
    /// first). Defaults to 256. Their bodies are capped at <see cref="MaxRememberedBodyBytes"/>.
    /// </summary>
    public int MaxRememberedResponses { get; init; } = 256;

    /// <summary>Body bytes kept of a remembered online response. Defaults to 16 KiB; a longer body is remembered by hash.</summary>
    public int MaxRememberedBodyBytes { get; init; } = 16 * 1024;

    /// <summary>Differences recorded per compared pair; more are counted, not listed. Defaults to 32.</summary>
    public int MaxDifferencesPerPair { get; init; } = 32;

    /// <summary>Endpoints in a summary; pairs of further endpoints are counted together. Defaults to 100.</summary>
    public int MaxEndpoints { get; init; } = 100;

    /// <summary>Fields tracked per endpoint; differences in further fields are counted together. Defaults to 64.</summary>
    public int MaxFieldsPerEndpoint { get; init; } = 64;

    /// <summary>
    /// Distinct sets of differing fields tracked per endpoint (they tell which pairs differ beyond noise); pairs with
    /// a further set count as differing. Defaults to 32.
    /// </summary>
    public int MaxDifferenceSetsPerEndpoint { get; init; } = 32;

    /// <summary>Characters of a value in an example; longer values are cut and marked. Defaults to 120.</summary>
    public int MaxExampleChars { get; init; } = 120;
}
