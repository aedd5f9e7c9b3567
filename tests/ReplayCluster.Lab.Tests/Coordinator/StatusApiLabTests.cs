using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Lab.Tests.Nodes;
using LabHost = ReplayCluster.Lab.Tests.Lab.Lab;

namespace ReplayCluster.Lab.Tests.Coordinator;

/// <summary>The coordinator's status API and /metrics report what the nodes did, read as a user would.</summary>
public sealed class StatusApiLabTests
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Status_api_and_prometheus_metrics_report_the_replay()
    {
        await using var lab = await LabHost.StartAsync(new LabOptions(), Cancellation);
        await using var cluster = await ThreeNodes.StartAsync(lab);

        var urls = Enumerable.Range(0, 10).Select(i => $"http://{lab.OnlineIp}/1k?case=status&n={i}").ToArray();
        (await lab.ExecAsync(LabRole.Client, ["curl", "-s", "-o", "/dev/null", .. urls], TimeSpan.FromSeconds(20), Cancellation)).EnsureSuccess("curl");

        // Reports come once a second; a keep-alive session reports its progress while it lasts.
        JsonElement captureNode = default;
        JsonElement latency = default;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            var status = await GetAsync(lab, "/api/status");
            using var json = JsonDocument.Parse(status);
            var nodes = json.RootElement.GetProperty("nodes").EnumerateArray().ToList();
            var found = nodes.FirstOrDefault(n => n.GetProperty("role").GetString() == "capture");
            // Nodes report independently, a second apart at most: wait until both reports show the replay.
            var interceptRouted = nodes.Any(n => n.GetProperty("role").GetString() == "intercept" && n.GetProperty("counters").GetProperty("replies_routed").GetInt64() > 0);
            // Reply latencies are recorded as replies arrive, delivered requests with the sessions' progress.
            var timed = json.RootElement.GetProperty("replyLatency").GetProperty("sinceStart").GetProperty("count").GetInt64();
            if (nodes.Count == 2 && interceptRouted && found.ValueKind == JsonValueKind.Object && found.GetProperty("counters").GetProperty("requests_delivered").GetInt64() == 10
                && timed == 10)
            {
                captureNode = found.Clone();
                latency = json.RootElement.GetProperty("replyLatency").Clone();
                Assert.All(nodes, n => Assert.Equal("up", n.GetProperty("state").GetString()));
                Assert.Equal(0, json.RootElement.GetProperty("lossRatio").GetDouble());
                break;
            }

            await Task.Delay(500, Cancellation);
        }

        Assert.True(captureNode.ValueKind == JsonValueKind.Object, "within 30 s the status never showed the capture node with 10 delivered and the intercept routing replies");
        Assert.Equal(10, captureNode.GetProperty("counters").GetProperty("requests_captured").GetInt64());

        // One reply latency per replayed request, measured on the capture node, in a plausible range.
        var sinceStart = latency.GetProperty("sinceStart");
        var p50 = sinceStart.GetProperty("p50Ms").GetDouble();
        var p99 = sinceStart.GetProperty("p99Ms").GetDouble();
        TestContext.Current.TestOutputHelper?.WriteLine($"reply latency of 10 requests: p50 {p50:0.###} ms, p90 {sinceStart.GetProperty("p90Ms").GetDouble():0.###} ms, p99 {p99:0.###} ms, mean {sinceStart.GetProperty("meanMs").GetDouble():0.###} ms");
        Assert.Equal(10, captureNode.GetProperty("counters").GetProperty("reply_latency_us_count").GetInt64());
        Assert.True(p50 > 0, $"p50 {p50} ms");
        Assert.True(p99 < 1000, $"p99 {p99} ms");

        // A real Prometheus parser reads /metrics (Debian's python3-prometheus-client); as a scraper would, with the
        // bearer token read from the coordinator's token file. A sample prints as "type name role value".
        var samples = await ScrapeAsync(lab, LabRole.Target, $"-H \"Authorization: Bearer $(cat {CoordinatorApi.TokenFile(lab)})\" {CoordinatorApi.Url}/metrics");
        Assert.Contains("counter replaycluster_node_requests_delivered_total capture 10.0", samples);
        Assert.Contains("gauge replaycluster_request_loss_ratio  0.0", samples);
        Assert.Contains(samples, s => s.StartsWith("counter replaycluster_node_replies_routed_total intercept ", StringComparison.Ordinal));
        Assert.Contains("histogram replaycluster_reply_latency_seconds_count  10.0", samples);
        Assert.Contains("histogram replaycluster_reply_latency_seconds_bucket  10.0", samples);

        // The capture node's own /metrics (OpenTelemetry's exporter), read by the same parser: the same numbers under
        // the node's names, a running total as a counter, the latencies as a histogram in seconds.
        var nodeSamples = await ScrapeAsync(lab, LabRole.Online, $"http://{cluster.Capture.Health.Address}:{ThreeNodes.CaptureMetricsPort}/metrics");
        Assert.Contains("counter replaycluster_capture_requests_delivered_total  10.0", nodeSamples);
        Assert.Contains(nodeSamples, s => s.StartsWith("gauge replaycluster_capture_sessions_live ", StringComparison.Ordinal));
        Assert.Contains(nodeSamples, s => s.StartsWith("histogram replaycluster_capture_reply_latency_seconds_count ", StringComparison.Ordinal));

        // The CLI client: a run around 10 more requests, then its report and the status table.
        var badDuration = await lab.ExecAsync(LabRole.Target, CoordinatorApi.Cli(lab, "run", "start", "--duration", "soon"), TimeSpan.FromSeconds(30), Cancellation);
        Assert.Equal(1, badDuration.ExitCode);
        Assert.Contains("duration: 'soon' is not a duration", badDuration.StdErr, StringComparison.Ordinal);
        // Planned longer than the test: stopped by hand below, the report still says what was planned.
        (await lab.ExecAsync(LabRole.Target, CoordinatorApi.Cli(lab, "run", "start", "--duration", "10m"), TimeSpan.FromSeconds(30), Cancellation)).EnsureSuccess("run start");
        var more = Enumerable.Range(0, 10).Select(i => $"http://{lab.OnlineIp}/1k?case=status-run&n={i}").ToArray();
        (await lab.ExecAsync(LabRole.Client, ["curl", "-s", "-o", "/dev/null", .. more], TimeSpan.FromSeconds(20), Cancellation)).EnsureSuccess("curl");
        var waitUntil = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < waitUntil && !(await GetAsync(lab, "/api/report?format=text")).Contains("replayed         10 ", StringComparison.Ordinal))
        {
            await Task.Delay(500, Cancellation);
        }

        var stop = await lab.ExecAsync(LabRole.Target, CoordinatorApi.Cli(lab, "run", "stop"), TimeSpan.FromSeconds(30), Cancellation);
        Assert.True(stop.ExitCode == 0, stop.StdOut + stop.StdErr);
        Assert.Contains("online requests  10 ", stop.StdOut, StringComparison.Ordinal);
        Assert.Contains("replayed         10 ", stop.StdOut, StringComparison.Ordinal);
        Assert.Contains("loss ratio       0.000000", stop.StdOut, StringComparison.Ordinal);
        Assert.Contains("planned 600 s", stop.StdOut, StringComparison.Ordinal);
        Assert.Matches(@"reply latency    p50 [\d.]+ ms .*\(n=10\)", stop.StdOut);

        // The token file may also come from the environment.
        var table = await lab.ExecAsync(LabRole.Target,
            ["env", $"REPLAYCLUSTER_API_TOKEN_FILE={CoordinatorApi.TokenFile(lab)}", .. NodeProcesses.Dotnet, NodeProcesses.LocateBinary("coordinator"), "status"], TimeSpan.FromSeconds(30), Cancellation);
        Assert.True(table.ExitCode == 0, table.StdErr);
        Assert.Matches(@"(?m)^capture\s+\S+:\d+\s+up\s+\d+\s+20\s+20\s", table.StdOut);
        Assert.Matches(@"(?m)^reply latency, since start: p50 [\d.]+ ms .*\(n=20\)", table.StdOut);
        Assert.Matches(@"(?m)^intercept\s", table.StdOut);
        Assert.Contains("loss ratio 0.000000", table.StdOut, StringComparison.Ordinal);

        // Every counter of every node, by the names the nodes report (the session counters that once reached no output among them).
        var all = await lab.ExecAsync(LabRole.Target, CoordinatorApi.Cli(lab, "status", "--counters"), TimeSpan.FromSeconds(30), Cancellation);
        Assert.True(all.ExitCode == 0, all.StdErr);
        Assert.Matches(@"(?m)^requests_delivered\s+20\s+-$", all.StdOut);
        Assert.Matches(@"(?m)^replies_routed\s+-\s+\d+$", all.StdOut);
        foreach (var counter in (string[])["syn_retransmissions", "fast_retransmits", "zero_window_probes", "port_reuses", "response_waits_expired", "requests_sent",
                     "bytes_captured", "bytes_acknowledged", "client_duplicate_bytes", "packets_rejected", "process_memory_bytes"])
        {
            Assert.Matches($@"(?m)^{counter}\s", all.StdOut);
        }

        var unreachable = await lab.ExecAsync(LabRole.Target, CoordinatorApi.Cli(lab, "status", "--api", "http://127.0.0.1:9"), TimeSpan.FromSeconds(30), Cancellation);
        Assert.Equal(1, unreachable.ExitCode);

        // Without the token, or under another Host name (DNS rebinding), the API answers nothing but the refusal,
        // and counts it where users look: /api/status and /metrics.
        var anonymous = await lab.ExecAsync(LabRole.Target, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", $"{CoordinatorApi.Url}/api/status"], TimeSpan.FromSeconds(10), Cancellation);
        Assert.Equal("401", anonymous.StdOut);
        var rebound = await lab.ExecAsync(LabRole.Target, CoordinatorApi.Curl(lab, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: rebind.example:8080",
            $"{CoordinatorApi.Url}/api/status"), TimeSpan.FromSeconds(10), Cancellation);
        Assert.Equal("400", rebound.StdOut);
        var noCli = await lab.ExecAsync(LabRole.Target, [.. NodeProcesses.Dotnet, NodeProcesses.LocateBinary("coordinator"), "status", "--token-file", "/nonexistent/api-token"],
            TimeSpan.FromSeconds(30), Cancellation);
        Assert.Equal(1, noCli.ExitCode);
        Assert.Contains("cannot read the API token from /nonexistent/api-token", noCli.StdErr, StringComparison.Ordinal);
        using (var refusals = JsonDocument.Parse(await GetAsync(lab, "/api/status")))
        {
            var counted = refusals.RootElement.GetProperty("httpRefusals");
            Assert.Equal((1, 1), (counted.GetProperty("token").GetInt64(), counted.GetProperty("host").GetInt64()));
        }

        Assert.Contains("replaycluster_http_refused_total{reason=\"token\"} 1", await GetAsync(lab, "/metrics"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_dashboard_draws_live_charts_in_a_real_browser()
    {
        LabPreconditions.Ensure();
        Assert.True(File.Exists("/usr/bin/chromium"), "chromium is not installed (apt-get install chromium; tests/run.sh does)");
        await using var lab = await LabHost.StartAsync(new LabOptions(), Cancellation);
        await using var cluster = await ThreeNodes.StartAsync(lab);

        // Paced load for the whole time the browser watches (ended when the test ends). 15 s were sometimes over
        // before a slow-starting chromium read the page on a loaded machine: no reply in the last 10 s, "–" for p99.
        var script = Path.Combine(LabHost.FindRepositoryRoot(), "tests", "ReplayCluster.Lab.Tests", "Replay", "paced.lua");
        await using var load = lab.StartProcess(LabRole.Client, ["wrk", "-t1", "-c2", "-d60s", "-s", script, $"http://{lab.OnlineIp}/1k?case=dashboard"]);
        // The p99 card needs two reports with replies between them (the last 10 s): 6 s of load first, not 3.
        await Task.Delay(6000, Cancellation);

        var screenshot = Path.Combine(lab.StateDirectory, "dashboard.png");
        string[] chromium = ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", $"--user-data-dir={Path.Combine(lab.StateDirectory, "chromium")}",
            "--window-size=1280,1500"];
        // The token in the address's fragment (never sent to the server): the page keeps it for the tab.
        var page = $"{CoordinatorApi.Url}/#token={CoordinatorApi.Token(lab)}";
        var dom = await lab.ExecAsync(LabRole.Target, [.. chromium, "--virtual-time-budget=6000", "--dump-dom", page], TimeSpan.FromSeconds(60), Cancellation);
        Assert.True(dom.ExitCode == 0, dom.StdErr);
        await lab.ExecAsync(LabRole.Target, [.. chromium, "--virtual-time-budget=6000", $"--screenshot={screenshot}", page], TimeSpan.FromSeconds(60), Cancellation);
        TestContext.Current.TestOutputHelper?.WriteLine($"screenshot: {screenshot} ({(File.Exists(screenshot) ? new FileInfo(screenshot).Length : 0)} bytes)");
        if (Environment.GetEnvironmentVariable("REPLAYCLUSTER_KEEP_SCREENSHOT") is { Length: > 0 } keep && File.Exists(screenshot))
        {
            File.Copy(screenshot, keep, overwrite: true);
        }

        // Under load: every chart has a value axis with its unit and nice ticks, a clock-time axis and a legend with values.
        var html = dom.StdOut;
        var rates = ChartOf(html, "rate-chart");
        Assert.True(Points(rates, "online") >= 3, $"the chart drew {Points(rates, "online")} samples:{Environment.NewLine}{html}");
        foreach (var (chart, unit) in new[] { ("rate-chart", "requests/s"), ("flight-chart", "requests"), ("behind-chart", "seconds"), ("loss-chart", "% of captured"), ("latency-chart", "ms") })
        {
            var svg = ChartOf(html, chart);
            Assert.Contains($"class=\"y-title\"", svg, StringComparison.Ordinal);
            Assert.Matches($">{Regex.Escape(unit)}</text>", svg);
            Assert.True(Regex.Matches(svg, "class=\"y-tick\"[^>]*>[\\d.k]+</text>").Count >= 3, $"{chart} has fewer than 3 value ticks:{Environment.NewLine}{svg}");
            Assert.True(Regex.Matches(svg, "class=\"x-tick\"[^>]*>\\d\\d:\\d\\d:\\d\\d</text>").Count >= 2, $"{chart} has fewer than 2 time ticks:{Environment.NewLine}{svg}");
            Assert.Matches($"id=\"{chart}-legend\"><span [^>]*>● [^<]+ {Regex.Escape(unit)}</span>", html);
        }

        Assert.True(Points(ChartOf(html, "latency-chart"), "p99") >= 3, $"the latency chart drew too few samples:{Environment.NewLine}{html}");
        Assert.Matches("id=\"latency-p99\">[\\d.]+ ms<", html);
        Assert.Matches("id=\"in-flight\">\\d+<", html);
        Assert.Matches("id=\"behind\">([\\d.]+ s|no progress)<", html);
        Assert.Matches("id=\"lost\">\\d+<", html);
        Assert.Contains("data-state=\"up\"", html, StringComparison.Ordinal);
        Assert.Contains("data-role=\"capture\"", html, StringComparison.Ordinal);
        Assert.Contains("data-role=\"intercept\"", html, StringComparison.Ordinal);
        Assert.DoesNotContain("waiting for the first report", html, StringComparison.Ordinal);
        Assert.Contains("replay plan version 1 · 1 capture node(s) following", html, StringComparison.Ordinal);

        // The load over and the replay settled (nothing in flight, the counters still), the numbers the page shows
        // are /api/status's: in flight, behind, lost (by reason), and per node.
        await load.DisposeAsync();
        var settled = await SettledStatusAsync(lab);
        var quiet = await lab.ExecAsync(LabRole.Target, [.. chromium, "--virtual-time-budget=4000", "--dump-dom", page], TimeSpan.FromSeconds(60), Cancellation);
        Assert.True(quiet.ExitCode == 0, quiet.StdErr);
        using var after = JsonDocument.Parse(await GetAsync(lab, "/api/status"));
        var status = after.RootElement;
        var captureNode = status.GetProperty("nodes").EnumerateArray().Single(n => n.GetProperty("role").GetString() == "capture");
        Assert.Equal(settled, Delivered(status));
        html = quiet.StdOut;
        Assert.Equal(status.GetProperty("requestsInFlight").GetInt64().ToString(CultureInfo.InvariantCulture), TextOf(html, "in-flight"));
        Assert.Equal(status.GetProperty("behindSeconds").GetDouble(), SecondsOf(TextOf(html, "behind"), " s"), 0.0005);
        Assert.Equal(status.GetProperty("requestsLost").GetInt64().ToString(CultureInfo.InvariantCulture), TextOf(html, "lost"));
        Assert.Equal(status.GetProperty("onlineRequestRate").GetDouble().ToString("F1", CultureInfo.InvariantCulture), TextOf(html, "online-rate"));
        Assert.Equal(status.GetProperty("lossRatio").GetDouble().ToString("F6", CultureInfo.InvariantCulture), TextOf(html, "loss-ratio"));
        Assert.Equal(status.GetProperty("requestsLostByReason").EnumerateObject().Select(r => $"{r.Name}: {r.Value.GetInt64()}").Order(StringComparer.Ordinal),
            Regex.Matches(html, "<li data-reason=\"[^\"]*\">(?<t>[^<]*)</li>").Select(m => WebUtility.HtmlDecode(m.Groups["t"].Value)).Order(StringComparer.Ordinal));
        var row = Regex.Matches(Regex.Match(html, "<tr class=\"node\" data-role=\"capture\"[^>]*>(?<cells>.*?)</tr>").Groups["cells"].Value, "<td[^>]*>(?<t>[^<]*)</td>")
            .Select(m => WebUtility.HtmlDecode(m.Groups["t"].Value)).ToList();
        var counters = captureNode.GetProperty("counters");
        Assert.Equal(captureNode.GetProperty("requestsInFlight").GetInt64().ToString(CultureInfo.InvariantCulture), row[4]);
        Assert.Equal(captureNode.GetProperty("behindSeconds").GetDouble(), SecondsOf(row[5], string.Empty), 0.0005);
        Assert.Equal(captureNode.GetProperty("requestsLost").GetInt64().ToString(CultureInfo.InvariantCulture), row[6]);
        Assert.Equal(counters.GetProperty("requests_captured").GetInt64().ToString(CultureInfo.InvariantCulture), row[8]);
        Assert.Equal(counters.GetProperty("requests_delivered").GetInt64().ToString(CultureInfo.InvariantCulture), row[9]);
        Assert.True(counters.GetProperty("requests_delivered").GetInt64() > 1000, $"only {counters.GetProperty("requests_delivered").GetInt64()} requests replayed under the load");
    }

    /// <summary>Waits until the capture node holds nothing and its counters stay put between two reports; its delivered count then.</summary>
    private static async Task<long> SettledStatusAsync(LabHost lab)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        long previous = -1;
        while (DateTime.UtcNow < deadline)
        {
            using var json = JsonDocument.Parse(await GetAsync(lab, "/api/status"));
            var delivered = Delivered(json.RootElement);
            if (delivered == previous && json.RootElement.GetProperty("requestsInFlight").GetInt64() == 0 && json.RootElement.GetProperty("onlineRequestRate").GetDouble() == 0)
            {
                return delivered;
            }

            previous = delivered;
            await Task.Delay(1500, Cancellation);
        }

        throw new TimeoutException("within 30 s of the load's end the replay never settled (requests still in flight or counters moving)");
    }

    private static long Delivered(JsonElement status) =>
        status.GetProperty("nodes").EnumerateArray().Single(n => n.GetProperty("role").GetString() == "capture").GetProperty("counters").GetProperty("requests_delivered").GetInt64();

    private static string ChartOf(string html, string id) => Regex.Match(html, $"<svg id=\"{id}\".*?</svg>", RegexOptions.Singleline).Value;

    private static int Points(string svg, string series) =>
        Regex.Matches(Regex.Match(svg, $"data-series=\"{series}\"[^>]*\\sd=\"(?<d>[^\"]*)\"").Groups["d"].Value, "[ML]").Count;

    /// <summary>A number of seconds as the dashboard shows it (with <paramref name="unit"/>).</summary>
    private static double SecondsOf(string shown, string unit)
    {
        Assert.Matches($@"^\d+(\.\d+)?{unit}$", shown);
        return double.Parse(shown[..^unit.Length], CultureInfo.InvariantCulture);
    }

    private static string TextOf(string html, string id) => WebUtility.HtmlDecode(Regex.Match(html, $"id=\"{id}\">(?<t>[^<]*)<").Groups["t"].Value);

    /// <summary>Coordinator (dashboard up), intercept and capture node (capturing), stopped on dispose.</summary>
    private sealed class ThreeNodes : IAsyncDisposable
    {
        public const int CaptureMetricsPort = 9464;

        private readonly List<LabNode> _nodes = [];

        /// <summary>The capture node.</summary>
        public LabNode Capture => _nodes.Single(n => n.Role == "capture");

        public static async Task<ThreeNodes> StartAsync(LabHost lab)
        {
            var launcher = new ReplayLab(lab);
            var nodes = new ThreeNodes();
            try
            {
                nodes._nodes.Insert(0, await launcher.StartCoordinatorAsync());
                nodes._nodes.Insert(0, await launcher.StartInterceptAsync());
                // One request at a time (/wait:1, also the default): every request then has its own reply latency sample.
                // With keep-pace pacing (/wait:N) a request released before the previous reply arrived shares its sample.
                // The capture node also serves its own /metrics (replaycluster.capture.metrics.port).
                nodes._nodes.Insert(0, await launcher.StartCaptureAsync(args: ["-x", $"80-{lab.TargetIp}:80/wait:1", "-c", lab.FakeRange,
                    "--set", $"replaycluster.capture.metrics.port = {CaptureMetricsPort}"]));
                return nodes;
            }
            catch
            {
                await nodes.DisposeAsync();
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var node in _nodes)
            {
                await node.DisposeAsync();
            }
        }
    }

    /// <summary>curl <paramref name="curlArguments"/> in <paramref name="role"/>'s namespace, parsed by prometheus_client: "type name role value" per sample.</summary>
    private static async Task<string[]> ScrapeAsync(LabHost lab, LabRole role, string curlArguments)
    {
        const string Parse = "import sys\nfrom prometheus_client.parser import text_string_to_metric_families as families\n" +
                             "for family in families(sys.stdin.read()):\n    for s in family.samples:\n        print(family.type, s.name, s.labels.get('role', ''), s.value)\n";
        var parsed = await lab.ExecAsync(role, ["bash", "-c", $"curl -sf {curlArguments} | /usr/bin/python3 -c \"{Parse.Replace("\"", "\\\"", StringComparison.Ordinal)}\""],
            TimeSpan.FromSeconds(20), Cancellation);
        Assert.True(parsed.ExitCode == 0, parsed.StdErr);
        return parsed.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    private static async Task<string> GetAsync(LabHost lab, string path)
    {
        var result = await lab.ExecAsync(LabRole.Target, CoordinatorApi.Curl(lab, "-sf", $"{CoordinatorApi.Url}{path}"), TimeSpan.FromSeconds(10), Cancellation);
        result.EnsureSuccess($"GET {path}");
        return result.StdOut;
    }
}
