using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using ReplayCluster.Coordinator.Http;

namespace ReplayCluster.Coordinator.Client;

/// <summary>
/// The command-line client of a running coordinator: <c>status</c>, <c>plan show|set</c>, <c>run start|stop</c>, <c>report</c>.
/// They talk to its HTTP endpoint (loopback by default), so they run on the coordinator's host, with the bearer
/// token from the coordinator's token file (<c>--token-file</c>, <c>$REPLAYCLUSTER_API_TOKEN_FILE</c>, or the default).
/// </summary>
internal static class ClientCommands
{
    /// <summary>The environment variable naming the token file when <c>--token-file</c> is not given.</summary>
    public const string TokenFileVariable = "REPLAYCLUSTER_API_TOKEN_FILE";

    internal static readonly Option<string?> ApiCa = new("--api-ca")
    {
        Description = "PEM certificate or CA the coordinator's HTTPS certificate must chain to (default: the system's trusted CAs).",
        HelpName = "FILE",
        Recursive = true,
    };

    internal static readonly Option<string> Api = new("--api")
    {
        Description = "The coordinator's HTTP endpoint (replaycluster.coordinator.http-endpoint).",
        DefaultValueFactory = _ => "http://127.0.0.1:8080",
        HelpName = "URL",
        Recursive = true,
    };

    private static readonly Option<bool> Json = new("--json") { Description = "Print the JSON the coordinator returns." };
    private static readonly Option<bool> AllCounters = new("--counters")
    {
        Description = "Print every counter of every node (one row per counter, one column per node) instead of the summary table.",
    };

    private static readonly Option<string?> Duration = new("--duration")
    {
        Description = "Stop the run by itself after this long: 30s, 10m, 1.5h, 500ms, or none (overrides the plan's run duration).",
        HelpName = "DURATION",
    };

    private static readonly string[] Columns = ["packets_captured", "requests_captured", "requests_delivered", "retransmissions", "replies_routed", "sessions_live"];

    public static IEnumerable<Command> Create()
    {
        var status = new Command("status", "Show every node's counters and the cluster's rates and loss ratio, as a table.") { Api, ApiCa, Json, AllCounters };
        status.SetAction((parse, cancellation) => RunAsync(parse, cancellation, async (http, output) =>
        {
            var body = await http.GetStringAsync("/api/status", cancellation);
            output.Write(parse.GetValue(Json) ? body + Environment.NewLine : parse.GetValue(AllCounters) ? CountersTable(body) : StatusTable(body));
        }));

        var run = new Command("run", "Start or stop a run; a run's report compares what was captured with what was replayed.") { Api, ApiCa };
        var start = new Command("start", "Start a run now; with --duration it stops by itself and its report is final then.") { Duration };
        start.SetAction((parse, cancellation) => PostAsync(parse,
            parse.GetValue(Duration) is { } duration ? $"/api/run/start?duration={Uri.EscapeDataString(duration)}" : "/api/run/start", cancellation));
        var stop = new Command("stop", "Stop the current run (after the replay drained) and print its report.");
        stop.SetAction((parse, cancellation) => PostAsync(parse, "/api/run/stop", cancellation));
        run.Add(start);
        run.Add(stop);

        var report = new Command("report", "Print the current or last run's report.") { Api, ApiCa, Json };
        report.SetAction((parse, cancellation) => RunAsync(parse, cancellation, async (http, output) =>
        {
            using var response = await http.GetAsync(parse.GetValue(Json) ? "/api/report" : "/api/report?format=text", cancellation);
            var body = await response.Content.ReadAsStringAsync(cancellation);
            output.Write(response.IsSuccessStatusCode ? body : throw new InvalidOperationException(ErrorOf(body)));
            output.Write(body.EndsWith('\n') ? string.Empty : Environment.NewLine);
        }));

        return [status, PlanCommands.Create(), run, report, Comparison.DiffCommand.Create()];
    }

    private static Task<int> PostAsync(ParseResult parse, string path, CancellationToken cancellation) =>
        RunAsync(parse, cancellation, async (http, output) =>
        {
            // The API takes a change only as application/json (a cross-site form cannot send that).
            using var response = await http.PostAsync(path, new StringContent(string.Empty, Encoding.UTF8, "application/json"), cancellation);
            var body = await response.Content.ReadAsStringAsync(cancellation);
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException(ErrorOf(body));
            }

            using var report = await http.GetAsync("/api/report?format=text", cancellation);
            output.Write(await report.Content.ReadAsStringAsync(cancellation));
        });

    internal static async Task<int> RunAsync(ParseResult parse, CancellationToken cancellation, Func<HttpClient, TextWriter, Task> action)
    {
        var api = parse.GetValue(Api)!;
        var tokenFile = parse.GetValue(CoordinatorNodeHosting.TokenFile) ?? Environment.GetEnvironmentVariable(TokenFileVariable) ?? HttpApiSettings.DefaultTokenFile;
        try
        {
            using var handler = Handler(parse.GetValue(ApiCa));
            using var http = new HttpClient(handler) { BaseAddress = new Uri(api), Timeout = TimeSpan.FromSeconds(10) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ReadToken(tokenFile));
            await action(http, parse.InvocationConfiguration.Output);
            return 0;
        }
        catch (HttpRequestException ex) when (ex.StatusCode == HttpStatusCode.Unauthorized)
        {
            await parse.InvocationConfiguration.Error.WriteLineAsync(
                $"{parse.RootCommandResult.Command.Name}: {api}: the coordinator refused the token in {tokenFile} (401): use its token file (--token-file, ${TokenFileVariable})".AsMemory(), cancellation);
            return 1;
        }
        catch (Exception ex) when (ex is HttpRequestException or InvalidOperationException or TaskCanceledException or JsonException or CryptographicException or UriFormatException)
        {
            await parse.InvocationConfiguration.Error.WriteLineAsync($"{parse.RootCommandResult.Command.Name}: {api}: {ex.Message}".AsMemory(), cancellation);
            return 1;
        }
    }

    /// <summary>The token from the coordinator's token file; the error says how to point at a readable one.</summary>
    internal static string ReadToken(string tokenFile)
    {
        try
        {
            var token = File.ReadAllText(tokenFile).Trim();
            return token.Length > 0 ? token : throw new InvalidOperationException($"the token file {tokenFile} is empty");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException(
                $"cannot read the API token from {tokenFile} ({ex.Message}): run as the coordinator's user (its file is mode 0600), " +
                $"or give the coordinator's token file with --token-file or ${TokenFileVariable}", ex);
        }
    }

    /// <summary>The HTTP handler; with <paramref name="caFile"/> the server's certificate must chain to it (a private CA or a self-signed certificate).</summary>
    private static SocketsHttpHandler Handler(string? caFile)
    {
        var handler = new SocketsHttpHandler();
        if (caFile is null)
        {
            return handler;
        }

        var trusted = new X509Certificate2Collection();
        trusted.ImportFromPemFile(caFile);
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
        {
            // A name that does not match stays an error; only the chain is judged against the given CA.
            if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
            {
                return false;
            }

            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(trusted);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(new X509Certificate2(certificate));
        };
        return handler;
    }

    internal static string ErrorOf(string body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            return json.RootElement.TryGetProperty("error", out var error) ? error.GetString() ?? body : body;
        }
        catch (JsonException)
        {
            return body;
        }
    }

    private static string LatencyLines(JsonElement root)
    {
        if (!root.TryGetProperty("replyLatency", out var latency) || latency.ValueKind != JsonValueKind.Object)
        {
            return string.Empty;
        }

        static string Line(JsonElement p)
        {
            var count = p.GetProperty("count").GetInt64();
            string Ms(string name) => p.GetProperty(name).GetDouble().ToString("0.###", CultureInfo.InvariantCulture);
            return count == 0 ? "no replies timed" : $"p50 {Ms("p50Ms")} ms  p90 {Ms("p90Ms")} ms  p99 {Ms("p99Ms")} ms  (n={count})";
        }

        var window = latency.GetProperty("windowSeconds").GetDouble().ToString("0", CultureInfo.InvariantCulture);
        return $"reply latency, last {window} s: {Line(latency.GetProperty("recent"))}{Environment.NewLine}" +
               $"reply latency, since start: {Line(latency.GetProperty("sinceStart"))}{Environment.NewLine}";
    }

    /// <summary>The HTTP API's refusals by reason, when there were any: someone without the token, or a page from elsewhere, tried.</summary>
    private static string RefusalLine(JsonElement root)
    {
        if (!root.TryGetProperty("httpRefusals", out var refusals) || refusals.ValueKind != JsonValueKind.Object)
        {
            return string.Empty;
        }

        var counted = refusals.EnumerateObject().Where(r => r.Value.ValueKind == JsonValueKind.Number && r.Value.GetInt64() > 0).Select(r => $"{r.Name} {r.Value.GetInt64()}").ToList();
        return counted.Count == 0 ? string.Empty : $"HTTP API refusals: {string.Join(", ", counted)}{Environment.NewLine}";
    }

    /// <summary>
    /// Every counter every node reported, one row per counter name and one column per node (<c>-</c> where a node does
    /// not have it): what <c>status --counters</c> prints. Histogram buckets are left out; their count and sum stay.
    /// </summary>
    internal static string CountersTable(string body)
    {
        using var json = JsonDocument.Parse(body);
        var nodes = json.RootElement.GetProperty("nodes").EnumerateArray()
            .Select(n => (Header: $"{n.GetProperty("role").GetString()} {Address(n)}", Counters: n.GetProperty("counters").EnumerateObject()
                .Where(c => c.Value.ValueKind == JsonValueKind.Number)
                .ToDictionary(c => c.Name, c => c.Value.GetInt64(), StringComparer.Ordinal)))
            .ToList();
        var names = nodes.SelectMany(n => n.Counters.Keys).Distinct(StringComparer.Ordinal)
            .Where(name => !name.Contains("_le_", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        List<string[]> rows = [["counter", .. nodes.Select(n => n.Header)]];
        rows.AddRange(names.Select(name => (string[])[name, .. nodes.Select(n => n.Counters.TryGetValue(name, out var v) ? v.ToString(CultureInfo.InvariantCulture) : "-")]));
        var widths = Enumerable.Range(0, rows[0].Length).Select(i => rows.Max(r => r[i].Length)).ToArray();
        var text = new StringBuilder();
        foreach (var row in rows)
        {
            text.AppendJoin("  ", row.Select((cell, i) => i == 0 ? cell.PadRight(widths[i]) : cell.PadLeft(widths[i]))).AppendLine();
        }

        return text.ToString();

        static string Address(JsonElement node)
        {
            var address = node.GetProperty("address").GetString() ?? "?";
            return address[(address.IndexOf('@', StringComparison.Ordinal) + 1)..];
        }
    }

    private static string StatusTable(string body)
    {
        using var json = JsonDocument.Parse(body);
        var root = json.RootElement;
        List<string[]> rows = [["role", "node", "state", .. Columns]];
        foreach (var node in root.GetProperty("nodes").EnumerateArray())
        {
            var counters = node.GetProperty("counters");
            var role = node.GetProperty("role").GetString() ?? "?";
            var address = node.GetProperty("address").GetString() ?? "?";
            address = address[(address.IndexOf('@', StringComparison.Ordinal) + 1)..]; // host:port, whatever the protocol (akka.ssl.tcp with TLS)
            var values = Columns.Select(c => counters.TryGetProperty(c, out var v) ? v.GetInt64().ToString(CultureInfo.InvariantCulture) : "-");
            var state = node.TryGetProperty("state", out var stateElement) ? stateElement.GetString() ?? "?" : "-";
            rows.Add([role, address, state, .. values]);
        }

        var widths = Enumerable.Range(0, rows[0].Length).Select(i => rows.Max(r => r[i].Length)).ToArray();
        var text = new StringBuilder();
        foreach (var row in rows)
        {
            text.AppendJoin("  ", row.Select((cell, i) => i < 3 ? cell.PadRight(widths[i]) : cell.PadLeft(widths[i]))).AppendLine();
        }

        return text
            .AppendLine()
            .AppendLine(CultureInfo.InvariantCulture, $"online {root.GetProperty("onlineRequestRate").GetDouble():F1} req/s, replayed {root.GetProperty("replayedRequestRate").GetDouble():F1} req/s, amplification {root.GetProperty("amplification").GetDouble():F2}x, loss ratio {root.GetProperty("lossRatio").GetDouble():F6}")
            .Append(LatencyLines(root))
            .Append(RefusalLine(root))
            .ToString();
    }
}
