using System.Diagnostics;
using ReplayCluster.Statistics;

namespace ReplayCluster.Tests.TestSupport;

/// <summary>
/// Checks that every instrument of a node's catalogue reaches every output: the report to the coordinator (what
/// <c>/api/status</c> shows per node), the statistics line, and the node's own <c>/metrics</c> as a real Prometheus
/// parser reads it (Debian's python3-prometheus-client, which tests/run.sh installs), with the right type.
/// </summary>
internal static class CatalogueExport
{
    /// <summary>Serves <paramref name="metrics"/> on a free loopback port and returns what a Prometheus parser read: family name to type.</summary>
    public static async Task<IReadOnlyDictionary<string, string>> ScrapeAsync(NodeMetrics metrics, Action recordHistograms, CancellationToken cancellation)
    {
        var port = FreePorts.Next();
        using var provider = NodeMetricsExport.Start(metrics, "127.0.0.1", port);
        recordHistograms(); // a histogram shows once it has a record taken while the exporter listens
        using var http = new HttpClient();
        var text = await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/metrics"), cancellation);
        return await ParseAsync(text, cancellation);
    }

    /// <summary>Every instrument is in the report, the line and the scrape; what is missing, by output, otherwise.</summary>
    public static void AssertEveryInstrumentReported(NodeMetrics metrics, IReadOnlyDictionary<string, long> report, string line, IReadOnlyDictionary<string, string> scraped)
    {
        var missing = new List<string>();
        var prefix = $"replaycluster_{metrics.Role}_";
        foreach (var instrument in metrics.Catalogue)
        {
            var reportName = instrument.Kind == InstrumentKind.Histogram ? instrument.Name + "_count" : instrument.Name;
            if (!report.ContainsKey(reportName))
            {
                missing.Add($"report: {reportName}");
            }

            // The line shows histograms as percentiles under their first word (capture, relay, reply, handoff).
            var shortName = instrument.Name[..Math.Max(0, instrument.Name.IndexOf('_', StringComparison.Ordinal))];
            var inLine = instrument.Kind == InstrumentKind.Histogram
                ? line.Contains($" {shortName} p50=", StringComparison.Ordinal) || line.Contains($" {shortName}=-", StringComparison.Ordinal)
                : line.Contains($"{instrument.Name}=", StringComparison.Ordinal);
            if (!inLine)
            {
                missing.Add($"line: {instrument.Name}");
            }

            // OpenTelemetry appends the unit ("_bytes", "_seconds", "_milliseconds") unless the name ends with it.
            var family = prefix + (instrument.Kind == InstrumentKind.Histogram ? NodeMetrics.HistogramInstrumentName(instrument.Name) : instrument.Name);
            var expectedType = instrument.Kind switch
            {
                InstrumentKind.Counter => "counter",
                InstrumentKind.Gauge => "gauge",
                _ => "histogram",
            };
            var found = scraped.Where(f => f.Key == family || f.Key.StartsWith(family + "_", StringComparison.Ordinal)).ToList();
            if (found.Count == 0)
            {
                missing.Add($"/metrics: {family}");
            }
            else if (!found.Any(f => f.Value == expectedType))
            {
                missing.Add($"/metrics: {family} is a {string.Join("/", found.Select(f => f.Value))}, not a {expectedType}");
            }
        }

        Assert.True(missing.Count == 0, "not reported: " + string.Join(", ", missing) + "\nline: " + line + "\nscraped: " + string.Join(" ", scraped.Keys));
    }

    private static async Task<IReadOnlyDictionary<string, string>> ParseAsync(string text, CancellationToken cancellation)
    {
        const string Script = "import sys\nfrom prometheus_client.parser import text_string_to_metric_families as families\n" +
                              "for f in families(sys.stdin.read()):\n    print(f.name, f.type)\n";
        var start = new ProcessStartInfo("/usr/bin/python3", ["-c", Script])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var python = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start");
        await python.StandardInput.WriteAsync(text.AsMemory(), cancellation);
        python.StandardInput.Close();
        var output = await python.StandardOutput.ReadToEndAsync(cancellation);
        var error = await python.StandardError.ReadToEndAsync(cancellation);
        await python.WaitForExitAsync(cancellation);
        Assert.True(python.ExitCode == 0, $"the Prometheus parser refused the exposition ({error.Trim()}); install python3-prometheus-client (tests/run.sh does)\n{text}");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
    }
}
