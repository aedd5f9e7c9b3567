using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace ReplayCluster.Coordinator.Http;

/// <summary>Why the HTTP API refused a request (the <c>reason</c> label of <c>replaycluster_http_refused_total</c>).</summary>
internal enum HttpRefusal
{
    /// <summary>The Host header names none of the allowed hosts (DNS rebinding).</summary>
    Host,

    /// <summary>No bearer token, or not the right one.</summary>
    Token,

    /// <summary>A state-changing request from another origin (CSRF).</summary>
    Origin,

    /// <summary>A state-changing request whose body is not declared application/json (CSRF: no simple form post).</summary>
    ContentType,

    /// <summary>A body over 64 KiB.</summary>
    BodyTooLarge,

    /// <summary>A JSON body with the same key twice (which one wins differs between parsers).</summary>
    DuplicateKey,
}

/// <summary>
/// Counts the HTTP API's refusals by reason (shown in /api/status and /metrics) and logs them: every refusal while
/// they are rare, then at most one line a second per reason with the number left out, so a scanner cannot flood the log.
/// </summary>
internal sealed class HttpRefusals(ILogger logger, TimeProvider time)
{
    private static readonly HttpRefusal[] Reasons = Enum.GetValues<HttpRefusal>();
    private static readonly string[] Labels = ["host", "token", "origin", "content_type", "body_too_large", "duplicate_key"];
    private static readonly long LogInterval = TimeSpan.TicksPerSecond;

    private readonly long[] _counts = new long[Reasons.Length];
    private readonly long[] _lastLogged = new long[Reasons.Length];
    private readonly long[] _unlogged = new long[Reasons.Length];

    public long this[HttpRefusal reason] => Interlocked.Read(ref _counts[(int)reason]);

    public long Total => Reasons.Sum(r => this[r]);

    /// <summary>Counts a refusal and logs it (rate-limited per reason).</summary>
    public void Refuse(HttpRefusal reason, string method, string path, string remote, string detail)
    {
        var i = (int)reason;
        Interlocked.Increment(ref _counts[i]);
        var now = time.GetTimestamp() * TimeSpan.TicksPerSecond / time.TimestampFrequency;
        var last = Interlocked.Read(ref _lastLogged[i]);
        if (last != 0 && now - last < LogInterval)
        {
            Interlocked.Increment(ref _unlogged[i]);
            return;
        }

        if (Interlocked.CompareExchange(ref _lastLogged[i], now, last) != last)
        {
            Interlocked.Increment(ref _unlogged[i]);
            return;
        }

        HttpApiLog.Refused(logger, Labels[i], method, path, remote, detail, Interlocked.Exchange(ref _unlogged[i], 0));
    }

    /// <summary>The counts as a JSON object, one member per reason (all present, zero included).</summary>
    public JsonObject ToJson()
    {
        var json = new JsonObject();
        foreach (var reason in Reasons)
        {
            json[Labels[(int)reason]] = this[reason];
        }

        return json;
    }

    /// <summary>The counter family <c>replaycluster_http_refused_total{reason}</c> in the Prometheus text format.</summary>
    public void AppendPrometheus(StringBuilder text)
    {
        ArgumentNullException.ThrowIfNull(text);
        const string Name = "replaycluster_http_refused_total";
        text.Append("# HELP ").Append(Name).Append(" Requests the coordinator's HTTP API refused, by reason.\n")
            .Append("# TYPE ").Append(Name).Append(" counter\n");
        foreach (var reason in Reasons)
        {
            text.Append(Name).Append("{reason=\"").Append(Labels[(int)reason]).Append("\"} ")
                .Append(this[reason].ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
    }
}
