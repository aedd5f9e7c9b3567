using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace ReplayCluster.Coordinator.Http;

/// <summary>
/// The checks every request to the HTTP API passes, in order: its Host header names this coordinator (DNS
/// rebinding), it carries the bearer token (all but the dashboard's page, which holds no data), and a request that
/// changes something comes from no other origin, declares a JSON body and keeps it under 64 KiB (CSRF). Every
/// answer carries headers that keep browsers from sniffing, framing or leaking it.
/// </summary>
internal sealed class HttpGuard
{
    /// <summary>Headers for answers other than the dashboard: nothing in them may run, load or be framed.</summary>
    public const string ApiContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

    private readonly HashSet<string> _hosts;
    private readonly ApiToken _token;
    private readonly HttpRefusals _refusals;

    public HttpGuard(HttpApiSettings settings, ApiToken token, HttpRefusals refusals)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _token = token;
        _refusals = refusals;
        _hosts = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "localhost", "127.0.0.1", "::1" };
        if (!settings.Address.Equals(IPAddress.Any) && !settings.Address.Equals(IPAddress.IPv6Any))
        {
            _hosts.Add(settings.Address.ToString());
        }

        foreach (var host in settings.AllowedHosts)
        {
            _hosts.Add(NormalizeHost(host));
        }
    }

    /// <summary>The path of the dashboard's page: static, no cluster data in it, so it needs no token (its script asks for one).</summary>
    public const string DashboardPath = "/";

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        var request = context.Request;
        var headers = context.Response.Headers;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        headers.CacheControl = "no-store";
        headers.ContentSecurityPolicy = ApiContentSecurityPolicy;

        // A page on evil.example whose name re-resolves to this address sends Host: evil.example.
        var host = request.Host.HasValue ? NormalizeHost(request.Host.Host) : string.Empty;
        if (!_hosts.Contains(host))
        {
            await RefuseAsync(context, HttpRefusal.Host, StatusCodes.Status400BadRequest,
                $"Host '{Printable(request.Host.Value ?? string.Empty)}' is not this coordinator's; add it to {HttpApiSettings.AllowedHostsSetting}");
            return;
        }

        var dashboard = request.Path == DashboardPath && (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method));
        if (!dashboard && !_token.Matches(request.Headers.Authorization))
        {
            headers.WWWAuthenticate = "Bearer realm=\"replaycluster\"";
            await RefuseAsync(context, HttpRefusal.Token, StatusCodes.Status401Unauthorized,
                request.Headers.Authorization.Count == 0
                    ? "no bearer token: send 'Authorization: Bearer TOKEN' with the token from the coordinator's token file"
                    : "wrong bearer token");
            return;
        }

        if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method))
        {
            await next(context);
            return;
        }

        // State-changing: a browser posting from another page says where it comes from.
        var origin = request.Headers.Origin.ToString();
        if (origin.Length > 0 && !string.Equals(origin, $"{request.Scheme}://{request.Host.Value}", StringComparison.OrdinalIgnoreCase))
        {
            await RefuseAsync(context, HttpRefusal.Origin, StatusCodes.Status403Forbidden,
                $"Origin '{Printable(origin)}' is not this coordinator's ({request.Scheme}://{Printable(request.Host.Value ?? string.Empty)})");
            return;
        }

        // A cross-site form can post text/plain or form data without a preflight, never application/json.
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var type)
            || !type.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase))
        {
            await RefuseAsync(context, HttpRefusal.ContentType, StatusCodes.Status415UnsupportedMediaType,
                $"Content-Type '{Printable(request.ContentType ?? string.Empty)}': requests that change something send application/json");
            return;
        }

        if (request.ContentLength > HttpApiSettings.MaxBodyBytes)
        {
            // The body stays unread: the connection cannot carry another request after it.
            headers.Connection = "close";
            await RefuseAsync(context, HttpRefusal.BodyTooLarge, StatusCodes.Status413PayloadTooLarge,
                $"the body has {request.ContentLength} bytes, more than {HttpApiSettings.MaxBodyBytes}");
            return;
        }

        try
        {
            await next(context);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge && !context.Response.HasStarted)
        {
            // A chunked body has no length up front: Kestrel's limit (the same 64 KiB) stops it while it is read.
            headers.Connection = "close";
            await RefuseAsync(context, HttpRefusal.BodyTooLarge, StatusCodes.Status413PayloadTooLarge,
                $"the body is longer than {HttpApiSettings.MaxBodyBytes} bytes");
        }
    }

    /// <summary>Counts, logs and answers a refusal with <c>{"error": ...}</c>.</summary>
    public Task RefuseAsync(HttpContext context, HttpRefusal reason, int status, string detail)
    {
        ArgumentNullException.ThrowIfNull(context);
        _refusals.Refuse(reason, context.Request.Method, Printable(context.Request.Path.Value ?? "/"), RemoteOf(context), detail);
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(new RefusalBody(detail), RefusalJson.Default.RefusalBody, cancellationToken: context.RequestAborted);
    }

    /// <summary>The client's address for a log line.</summary>
    public static string RemoteOf(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Connection.RemoteIpAddress?.ToString() ?? "?";
    }

    private static string NormalizeHost(string host) => host.Trim().TrimStart('[').TrimEnd(']').TrimEnd('.');

    /// <summary>Header and path text as it may go into a log line or an answer: short, no control characters.</summary>
    public static string Printable(string text)
    {
        var builder = new StringBuilder(Math.Min(text.Length, 120));
        foreach (var c in text.AsSpan(0, Math.Min(text.Length, 120)))
        {
            builder.Append(char.IsControl(c) ? '?' : c);
        }

        return text.Length > 120 ? builder.Append('…').ToString() : builder.ToString();
    }
}

/// <summary>The body of a refusal.</summary>
internal sealed record RefusalBody(string Error);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(RefusalBody))]
internal sealed partial class RefusalJson : System.Text.Json.Serialization.JsonSerializerContext;
