using System.Globalization;
using System.Text.RegularExpressions;

namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>What wrk reported. <see cref="Requests"/> counts completed responses only.</summary>
public sealed partial record WrkResult(
    long Requests,
    TimeSpan Elapsed,
    double RequestsPerSecond,
    long ConnectErrors,
    long ReadErrors,
    long WriteErrors,
    long Timeouts,
    long Non2xx3xx,
    string RawOutput)
{
    /// <summary>Parses wrk's text report; throws <see cref="FormatException"/> with the report when it cannot.</summary>
    public static WrkResult Parse(string output)
    {
        var inv = CultureInfo.InvariantCulture;
        var summary = SummaryPattern().Match(output);
        if (!summary.Success)
        {
            throw new FormatException($"No 'N requests in T' line in wrk output:\n{output}");
        }

        var amount = double.Parse(summary.Groups["t"].Value, inv);
        var elapsed = summary.Groups["unit"].Value switch
        {
            "us" => TimeSpan.FromMicroseconds(amount),
            "ms" => TimeSpan.FromMilliseconds(amount),
            "m" => TimeSpan.FromMinutes(amount),
            "h" => TimeSpan.FromHours(amount),
            _ => TimeSpan.FromSeconds(amount),
        };
        var errors = ErrorsPattern().Match(output);
        long Error(string name) => errors.Success ? long.Parse(errors.Groups[name].Value, inv) : 0;
        var non2xx = Non2xxPattern().Match(output);
        var rps = RpsPattern().Match(output);
        return new WrkResult(
            long.Parse(summary.Groups["n"].Value, inv),
            elapsed,
            rps.Success ? double.Parse(rps.Groups["rps"].Value, inv) : 0,
            Error("connect"),
            Error("read"),
            Error("write"),
            Error("timeout"),
            non2xx.Success ? long.Parse(non2xx.Groups["n"].Value, inv) : 0,
            output);
    }

    [GeneratedRegex(@"(?<n>\d+) requests in (?<t>[\d.]+)(?<unit>us|ms|s|m|h)")]
    private static partial Regex SummaryPattern();

    [GeneratedRegex(@"Socket errors: connect (?<connect>\d+), read (?<read>\d+), write (?<write>\d+), timeout (?<timeout>\d+)")]
    private static partial Regex ErrorsPattern();

    [GeneratedRegex(@"Non-2xx or 3xx responses: (?<n>\d+)")]
    private static partial Regex Non2xxPattern();

    [GeneratedRegex(@"Requests/sec:\s+(?<rps>[\d.]+)")]
    private static partial Regex RpsPattern();
}
