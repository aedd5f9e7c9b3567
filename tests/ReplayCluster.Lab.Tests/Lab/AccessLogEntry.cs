using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>
/// One line of a lab nginx access log (format <c>replay</c> in the generated config:
/// <c>$msec $remote_addr $remote_port "$request" $status $body_bytes_sent $request_length $request_time
/// $content_length $connection $connection_requests</c>).
/// </summary>
public sealed partial record AccessLogEntry(
    DateTimeOffset Time,
    IPAddress RemoteAddress,
    int RemotePort,
    string Request,
    int Status,
    long BodyBytesSent,
    long RequestLength,
    double RequestTimeSeconds,
    long? ContentLength,
    long Connection,
    int ConnectionRequests)
{
    /// <summary>The method of the request line (<c>GET</c>), or empty for a malformed request.</summary>
    public string Method => Request.Split(' ', 2)[0];

    /// <summary>The target of the request line (<c>/1k</c>), or empty for a malformed request.</summary>
    public string Path => Request.Split(' ') is [_, var path, ..] ? path : string.Empty;

    /// <summary>Parses one line; throws <see cref="FormatException"/> naming the line when it does not match.</summary>
    public static AccessLogEntry Parse(string line)
    {
        var m = LinePattern().Match(line);
        if (!m.Success)
        {
            throw new FormatException($"Not a lab access-log line: '{line}'");
        }

        var inv = CultureInfo.InvariantCulture;
        var msec = decimal.Parse(m.Groups["msec"].Value, inv);
        return new AccessLogEntry(
            DateTimeOffset.FromUnixTimeMilliseconds((long)(msec * 1000)),
            IPAddress.Parse(m.Groups["addr"].Value),
            int.Parse(m.Groups["port"].Value, inv),
            m.Groups["request"].Value,
            int.Parse(m.Groups["status"].Value, inv),
            long.Parse(m.Groups["sent"].Value, inv),
            long.Parse(m.Groups["reqlen"].Value, inv),
            double.Parse(m.Groups["reqtime"].Value, inv),
            m.Groups["clen"].Value == "-" ? null : long.Parse(m.Groups["clen"].Value, inv),
            long.Parse(m.Groups["conn"].Value, inv),
            int.Parse(m.Groups["connreq"].Value, inv));
    }

    [GeneratedRegex("""^(?<msec>\d+\.\d+) (?<addr>\S+) (?<port>\d+) "(?<request>.*)" (?<status>\d{3}) (?<sent>\d+) (?<reqlen>\d+) (?<reqtime>[\d.]+) (?<clen>\d+|-) (?<conn>\d+) (?<connreq>\d+)$""")]
    private static partial Regex LinePattern();
}
