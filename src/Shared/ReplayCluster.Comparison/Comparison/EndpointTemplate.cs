using System.Text;

namespace ReplayCluster.Comparison;

/// <summary>
/// Groups requests by endpoint: the method and the path with its variable segments folded, the query ignored
/// (<c>GET /users/42?x=1</c> and <c>GET /users/7</c> are both <c>GET /users/{id}</c>). Folded: all-digit segments,
/// UUIDs, and hexadecimal segments of 16 characters or more (hashes, object ids). Endpoints are what a report is about,
/// so a template keeps their number small.
/// </summary>
internal static class EndpointTemplate
{
    /// <summary>The endpoint of every non-HTTP exchange.</summary>
    public const string NonHttp = "(non-HTTP)";

    /// <summary>Longest path kept in a template; longer ones are cut (they are never an endpoint's identity).</summary>
    public const int MaxPathChars = 200;

    private const int MinFoldedHexLength = 16;

    public static string Of(string method, string target)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(target);
        var path = target.AsSpan();
        // Absolute form (proxies): http://host/path.
        var scheme = path.IndexOf("://", StringComparison.Ordinal);
        if (scheme > 0 && path[..scheme].IndexOf('/') < 0)
        {
            var afterHost = path[(scheme + 3)..];
            var slash = afterHost.IndexOfAny('/', '?');
            path = slash < 0 ? "/" : afterHost[slash..];
        }

        var query = path.IndexOfAny('?', '#');
        if (query >= 0)
        {
            path = path[..query];
        }

        var builder = new StringBuilder(method.Length + 1 + Math.Min(path.Length, MaxPathChars));
        builder.Append(method).Append(' ');
        if (path.IsEmpty || path[0] != '/')
        {
            // Asterisk form (OPTIONS *) and authority form (CONNECT host:port) are endpoints by themselves.
            builder.Append(path.Length > MaxPathChars ? path[..MaxPathChars] : path);
            return builder.ToString();
        }

        var length = 0;
        foreach (var range in path[1..].Split('/'))
        {
            var segment = path[1..][range];
            builder.Append('/');
            var folded = IsVariable(segment) ? "{id}" : segment;
            builder.Append(folded);
            length += folded.Length + 1;
            if (length > MaxPathChars)
            {
                builder.Append("/...");
                break;
            }
        }

        return builder.ToString();
    }

    internal static bool IsVariable(ReadOnlySpan<char> segment)
    {
        if (segment.IsEmpty)
        {
            return false;
        }

        var digits = true;
        var hex = true;
        foreach (var c in segment)
        {
            digits &= char.IsAsciiDigit(c);
            hex &= char.IsAsciiHexDigit(c);
        }

        return digits || (hex && segment.Length >= MinFoldedHexLength) || IsUuid(segment);
    }

    private static bool IsUuid(ReadOnlySpan<char> segment) =>
        segment.Length == 36 && Guid.TryParseExact(segment, "D", out _);
}
