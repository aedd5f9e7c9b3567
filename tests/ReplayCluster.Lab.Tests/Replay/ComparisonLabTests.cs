using System.Text.Json;
using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Lab.Tests.Nodes;
using LabHost = ReplayCluster.Lab.Tests.Lab.Lab;

namespace ReplayCluster.Lab.Tests.Replay;

/// <summary>
/// Issue 11, end to end: a lab of its own with an online and a target nginx of its own (port 8088) that serve the
/// same content except where a regression is planted, every response with a Date and a random X-Request-Id. The plan
/// compares every session; real clients talk to the online nginx (keep-alive sessions, one pipelined session, gzip and
/// chunked bodies), the capture node replays them, the intercept taps the target's replies, and the coordinator's
/// report (GET /api/diff, the diff CLI, /metrics) must flag exactly the planted regressions and call the rest noise:
/// Date and X-Request-Id by the default rules, a random JSON field (on both sides) learned from repeated requests,
/// and one in a response to a request made only once learned from the secondary reference: a third nginx with the
/// online configuration (port 8089 on the target host) that the plan names, to which the compared sessions are
/// replayed as well. Dual stack (issue 12): the clients alternate between the online nginx's IPv4 and IPv6 addresses,
/// the target is reached over IPv6 (so every session is replayed as an IPv6 client and the intercept taps IPv6
/// replies) and the secondary reference over IPv4.
/// </summary>
public sealed class ComparisonLabTests
{
    private const int Port = 8088;
    private const int SlowPort = 18099;
    private const int SecondaryPort = 8089;
    private const int KeepAliveSessions = 6;

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_report_flags_exactly_the_planted_regressions_and_calls_dates_and_request_ids_noise()
    {
        await using var lab = await LabHost.StartAsync(new LabOptions { Ipv6 = true }, Cancellation);
        var ipv6 = lab.Ipv6!.Onlines[0];
        await using var onlineNginx = await StartNginxAsync(lab, LabRole.Online, [lab.OnlineIp.ToString(), $"[{ipv6.Ip}]"], target: false);
        await using var targetNginx = await StartNginxAsync(lab, LabRole.Target, [$"[{ipv6.TargetIp}]"], target: true);
        await using var secondaryNginx = await StartNginxAsync(lab, LabRole.Target, [lab.TargetIp.ToString()], target: false, port: SecondaryPort);
        var slowScript = Path.Combine(lab.StateDirectory, "cmp-slow.py");
        await File.WriteAllTextAsync(slowScript, SlowServer, Cancellation);
        await using var slow = lab.StartProcess(LabRole.Target, ["python3", slowScript, $"{SlowPort}"]);
        await slow.WaitForOutputAsync(l => l.StartsWith("listening", StringComparison.Ordinal), TimeSpan.FromSeconds(10), Cancellation);

        var launcher = new ReplayLab(lab);
        await using var coordinator = await launcher.StartCoordinatorAsync("--set", "replaycluster.coordinator.plan.compare-percent = 100",
            "--set", $"replaycluster.coordinator.plan.compare-secondary = \"{lab.TargetIp}:{SecondaryPort}\"");
        await using var intercept = await launcher.StartInterceptAsync();
        var slice6 = new System.Net.IPNetwork(System.Net.IPNetwork.Parse(lab.Ipv6.FakeRange).BaseAddress, 64);
        await using var capture = await launcher.StartCaptureAsync(args: ["-x", $"{Port}-[{ipv6.TargetIp}]:{Port}", "-c", $"{lab.FakeRange},{slice6}"]);
        try
        {
            await RunAndCheckAsync(lab, capture, intercept, $"{lab.OnlineIp},{ipv6.Ip}");

            // Both families online, IPv6 at the target from the node's IPv6 range, IPv4 at the secondary reference.
            var online = RemoteAddresses(lab, "online", Port);
            var target = RemoteAddresses(lab, "target", Port);
            var secondary = RemoteAddresses(lab, "online", SecondaryPort);
            TestContext.Current.TestOutputHelper?.WriteLine($"online {online.Count} requests ({online.Count(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)} over IPv4), " +
                $"target {target.Count}, secondary {secondary.Count}");
            Assert.Contains(online, a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork);
            Assert.Contains(online, a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6);
            Assert.Equal(online.Count, target.Count);
            Assert.All(target, a => Assert.True(slice6.Contains(a), $"{a} is not in {slice6}"));
            Assert.Equal(online.Count, secondary.Count);
            Assert.All(secondary, a => Assert.True(System.Net.IPNetwork.Parse(lab.FakeRange).Contains(a), $"{a} is not in {lab.FakeRange}"));
        }
        catch (Exception)
        {
            // The nodes' own words are what tells why a comparison went wrong.
            foreach (var (name, node) in new[] { ("capture", capture), ("intercept", intercept), ("coordinator", coordinator) })
            {
                TestContext.Current.TestOutputHelper?.WriteLine($"--- {name} ---{Environment.NewLine}{string.Join(Environment.NewLine, node.Process.Lines.TakeLast(40))}");
            }

            throw;
        }
    }

    /// <summary>
    /// The client addresses in the access log of a comparison nginx (<paramref name="kind"/> as <see cref="StartNginxAsync"/>
    /// names it), but for its readiness probes (curl's, from its own host; the clients send no User-Agent).
    /// </summary>
    private static List<System.Net.IPAddress> RemoteAddresses(LabHost lab, string kind, int port) =>
        [.. File.ReadAllLines(Path.Combine(lab.StateDirectory, $"cmp-nginx-{kind}-{port}", "logs", "access.log"))
            .Where(l => l.Length > 0 && !l.Contains("\"curl/", StringComparison.Ordinal))
            .Select(l => System.Net.IPAddress.Parse(l[..l.IndexOf(' ', StringComparison.Ordinal)]))];

    private static async Task RunAndCheckAsync(LabHost lab, LabNode capture, LabNode intercept, string clientHosts)
    {
        // Both captures of the comparison run: the capture node's of the online replies, the intercept's of whole replies.
        await capture.WaitForAsync(r => r.Details.ContainsKey("comparisonFilter"), "capturing online replies for comparison", TimeSpan.FromSeconds(20));
        await intercept.WaitForAsync(r => r.Details.ContainsKey("comparisonFilter"), "taking whole replies of compared sessions", TimeSpan.FromSeconds(20));

        // The clients: keep-alive sessions (one request after the other) and one pipelined session (all requests at once).
        var clientScript = Path.Combine(lab.StateDirectory, "cmp-client.py");
        await File.WriteAllTextAsync(clientScript, Client, Cancellation);
        var run = await lab.ExecAsync(LabRole.Client, ["python3", clientScript, clientHosts, $"{Port}", $"{KeepAliveSessions}"],
            TimeSpan.FromSeconds(60), Cancellation);
        run.EnsureSuccess("comparison clients");
        TestContext.Current.TestOutputHelper?.WriteLine(run.StdOut);

        // Every exchange of every session compared: 10 per keep-alive session, 3 pipelined.
        var expectedPairs = (KeepAliveSessions * 10) + 3;
        using var report = await WaitForPairsAsync(lab, expectedPairs);
        var root = report.RootElement;
        TestContext.Current.TestOutputHelper?.WriteLine(root.GetRawText());
        var endpoints = root.GetProperty("endpoints").EnumerateArray().ToDictionary(e => e.GetProperty("endpoint").GetString()!);
        Assert.Equal(expectedPairs, root.GetProperty("pairsCompared").GetInt64());
        Assert.Equal(KeepAliveSessions + 1, root.GetProperty("sessions").GetInt64());

        // The JSON field regression: exactly $.plan at GET /users/{id}, with an example.
        var users = endpoints["GET /users/{id}"];
        Assert.Equal((KeepAliveSessions * 2) + 2, users.GetProperty("compared").GetInt64());
        Assert.Equal(users.GetProperty("compared").GetInt64(), users.GetProperty("differing").GetInt64());
        var userField = Assert.Single(users.GetProperty("differences").EnumerateArray());
        Assert.Equal("$.plan", userField.GetProperty("field").GetString());
        Assert.Equal("\"gold\"", userField.GetProperty("example").GetProperty("reference").GetString());
        Assert.Equal("\"silver\"", userField.GetProperty("example").GetProperty("target").GetString());

        // The status regression and the header regression.
        var fail = endpoints["GET /fail"];
        Assert.Equal(KeepAliveSessions, fail.GetProperty("differing").GetInt64());
        Assert.Contains(fail.GetProperty("differences").EnumerateArray(), d => d.GetProperty("field").GetString() == "status"
            && d.GetProperty("example").GetProperty("reference").GetString() == "200" && d.GetProperty("example").GetProperty("target").GetString() == "500");
        var typed = endpoints["GET /typed"];
        Assert.Equal(typed.GetProperty("compared").GetInt64(), typed.GetProperty("differing").GetInt64());
        var typedField = Assert.Single(typed.GetProperty("differences").EnumerateArray());
        Assert.Equal("header:content-type", typedField.GetProperty("field").GetString());

        // The rest is the same: plain JSON, gzip + chunked, the slow endpoint whose Date always differs, in keep-alive
        // and pipelined order (a pairing out of order would show up as differences everywhere).
        foreach (var same in new[] { "GET /same.json", "GET /big.json", "GET /slow" })
        {
            Assert.True(endpoints.ContainsKey(same), $"{same} missing from the report");
            Assert.Equal(0, endpoints[same].GetProperty("differing").GetInt64());
            Assert.Empty(endpoints[same].GetProperty("differences").EnumerateArray());
        }

        Assert.Equal(KeepAliveSessions * 2 + 1, endpoints["GET /same.json"].GetProperty("compared").GetInt64());
        Assert.Equal(KeepAliveSessions, endpoints["GET /big.json"].GetProperty("compared").GetInt64());
        Assert.Equal(8, endpoints.Count);

        // Learned noise (no rule names it): a random field in every body, on both sides, differs between online
        // responses to the same request as often as between online and target.
        var nonce = endpoints["GET /nonce.json"];
        Assert.Equal((KeepAliveSessions, 0L), (nonce.GetProperty("compared").GetInt64(), nonce.GetProperty("differing").GetInt64()));
        Assert.Contains(nonce.GetProperty("noise").EnumerateArray(), n => n.GetProperty("field").GetString() == "$.nonce"
            && n.GetProperty("reason").GetString()!.StartsWith("learned", StringComparison.Ordinal));

        // Learned from the secondary reference: a random field in a response to a request made once per session, so
        // no repeated online request could show it varies; the secondary (online build) answered it differently.
        var rand = endpoints["GET /rand/{id}"];
        Assert.Equal((KeepAliveSessions, 0L), (rand.GetProperty("compared").GetInt64(), rand.GetProperty("differing").GetInt64()));
        Assert.Contains(rand.GetProperty("noise").EnumerateArray(), n => n.GetProperty("field").GetString() == "$.salt"
            && n.GetProperty("reason").GetString() == "learned: differs between the primary and secondary reference");

        // Noise, with its reason: Date (the slow endpoint answers over a second later) and the request id.
        var noise = endpoints.Values.SelectMany(e => e.GetProperty("noise").EnumerateArray())
            .Select(n => (Field: n.GetProperty("field").GetString()!, Reason: n.GetProperty("reason").GetString()!)).ToList();
        Assert.Contains(noise, n => n.Field == "header:x-request-id");
        Assert.Contains(noise, n => n.Field == "header:date");
        Assert.DoesNotContain(root.GetProperty("counters").EnumerateObject(), c => c.Name.StartsWith("refused_", StringComparison.Ordinal));

        // The same report through the CLI (table and a filter), and /metrics.
        var table = await lab.ExecAsync(LabRole.Target, CoordinatorApi.Cli(lab, "diff"), TimeSpan.FromSeconds(30), Cancellation);
        table.EnsureSuccess("diff");
        TestContext.Current.TestOutputHelper?.WriteLine(table.StdOut);
        Assert.Contains("$.plan", table.StdOut, StringComparison.Ordinal);
        Assert.Contains("header:date: ignored", table.StdOut, StringComparison.Ordinal);
        var filtered = await lab.ExecAsync(LabRole.Target, CoordinatorApi.Cli(lab, "diff", "--json", "--endpoint", "GET /fail"), TimeSpan.FromSeconds(30), Cancellation);
        filtered.EnsureSuccess("diff --endpoint");
        using (var one = JsonDocument.Parse(filtered.StdOut))
        {
            Assert.Equal("GET /fail", Assert.Single(one.RootElement.GetProperty("endpoints").EnumerateArray()).GetProperty("endpoint").GetString());
        }

        var metrics = await lab.ExecAsync(LabRole.Target, CoordinatorApi.Curl(lab, "-s", $"{CoordinatorApi.Url}/metrics"), TimeSpan.FromSeconds(10), Cancellation);
        Assert.Contains($"replaycluster_diff_differing_total{{endpoint=\"GET /fail\"}} {KeepAliveSessions}", metrics.StdOut, StringComparison.Ordinal);
    }

    private static async Task<JsonDocument> WaitForPairsAsync(LabHost lab, int expected)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(40);
        string body = "(none)";
        while (DateTime.UtcNow < deadline)
        {
            var answer = await lab.ExecAsync(LabRole.Target, CoordinatorApi.Curl(lab, "-s", $"{CoordinatorApi.Url}/api/diff"), TimeSpan.FromSeconds(10), Cancellation);
            body = answer.StdOut;
            if (answer.Succeeded && body.StartsWith('{'))
            {
                var json = JsonDocument.Parse(body);
                if (json.RootElement.GetProperty("pairsCompared").GetInt64() >= expected)
                {
                    // One more report interval: nothing further may arrive (no pair counted twice).
                    await Task.Delay(2500, Cancellation);
                    json.Dispose();
                    var again = await lab.ExecAsync(LabRole.Target, CoordinatorApi.Curl(lab, "-s", $"{CoordinatorApi.Url}/api/diff"), TimeSpan.FromSeconds(10), Cancellation);
                    return JsonDocument.Parse(again.StdOut);
                }

                json.Dispose();
            }

            await Task.Delay(500, Cancellation);
        }

        throw new Xunit.Sdk.XunitException($"the report never reached {expected} compared pairs: {body}");
    }

    /// <summary>A comparison nginx listening on <paramref name="addresses"/> (IPv6 ones in brackets).</summary>
    private static async Task<LabProcess> StartNginxAsync(LabHost lab, LabRole role, string[] addresses, bool target, int port = Port)
    {
        var dir = Path.Combine(lab.StateDirectory, $"cmp-nginx-{(target ? "target" : "online")}-{port}");
        Directory.CreateDirectory(Path.Combine(dir, "logs"));
        Directory.CreateDirectory(Path.Combine(dir, "www"));
        // The same 20 KB JSON on both sides: gzip makes nginx answer it chunked.
        var items = string.Join(",", Enumerable.Range(0, 300).Select(i => $"{{\"k\":{i},\"v\":\"value-{i}\"}}"));
        await File.WriteAllTextAsync(Path.Combine(dir, "www", "big.json"), $"{{\"items\":[{items}]}}", Cancellation);
        var plan = target ? "silver" : "gold";
        var fail = target ? "return 500 \"broken\\n\";" : "return 200 \"fine\\n\";";
        var typedType = target ? "\"\"" : "text/plain";
        var slow = target ? $"proxy_ignore_client_abort on; proxy_pass http://127.0.0.1:{SlowPort};" : "default_type application/json; return 200 '{\"ok\":true}';";
        var config = $$"""
            daemon off;
            worker_processes 1;
            pid {{dir}}/nginx.pid;
            error_log {{dir}}/logs/error.log notice;
            events { worker_connections 256; }
            http {
                access_log {{dir}}/logs/access.log;
                client_body_temp_path {{dir}}/body;
                proxy_temp_path {{dir}}/proxy;
                fastcgi_temp_path {{dir}}/fastcgi;
                uwsgi_temp_path {{dir}}/uwsgi;
                scgi_temp_path {{dir}}/scgi;
                types { application/json json; }
                keepalive_timeout 65s;
                gzip on;
                gzip_types application/json;
                gzip_min_length 0;
                server {
                    {{string.Join(" ", addresses.Select(a => $"listen {a}:{port};"))}}
                    root {{dir}}/www;
                    add_header X-Request-Id $request_id always;
                    location = /same.json { default_type application/json; return 200 '{"a":1,"b":[1,2,3]}'; }
                    location ~ ^/users/(\d+)$ { default_type application/json; return 200 '{"id":$1,"name":"user$1","plan":"{{plan}}"}'; }
                    location = /fail { default_type text/plain; {{fail}} }
                    location = /typed { default_type {{typedType}}; return 200 "typed\n"; }
                    location = /slow { {{slow}} }
                    location = /nonce.json { default_type application/json; return 200 '{"id":7,"nonce":"$request_id"}'; }
                    location ~ ^/rand/(\d+)$ { default_type application/json; return 200 '{"id":$1,"salt":"$request_id"}'; }
                    location = /big.json { }
                }
            }
            """;
        var file = Path.Combine(dir, "nginx.conf");
        await File.WriteAllTextAsync(file, config, Cancellation);
        (await lab.ExecAsync(role, ["nginx", "-t", "-q", "-p", dir, "-c", file, "-e", Path.Combine(dir, "logs", "error.log")], TimeSpan.FromSeconds(10), Cancellation))
            .EnsureSuccess($"nginx -t ({role})");
        var process = lab.StartProcess(role, ["nginx", "-p", dir, "-c", file, "-e", Path.Combine(dir, "logs", "error.log")]);
        for (var i = 0; i < 50; i++)
        {
            var probe = await lab.ExecAsync(role, ["curl", "-g", "-s", "-o", "/dev/null", "-w", "%{http_code}", $"http://{addresses[0]}:{port}/same.json"], TimeSpan.FromSeconds(5), Cancellation);
            if (probe.StdOut == "200")
            {
                return process;
            }

            await Task.Delay(100, Cancellation);
        }

        throw new LabException($"nginx for {role} did not answer on {addresses[0]}:{port}");
    }

    // Answers like the online nginx's /slow, 1.2 s late: the target's Date then always differs from production's.
    private const string SlowServer = """
        import http.server, sys, time
        class Slow(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                time.sleep(1.2)
                body = b'{"ok":true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def log_message(self, *args):
                pass
        server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Slow)
        print("listening", flush=True)
        server.serve_forever()
        """;

    // Keep-alive sessions of 10 requests each (gzip asked for on big.json; /rand/N once per session), then one pipelined
    // session of 3 requests; the sessions take the comma-separated hosts in turn, the pipelined one the last.
    private const string Client = """
        import http.client, socket, sys, time
        hosts, port, sessions = sys.argv[1].split(","), int(sys.argv[2]), int(sys.argv[3])
        paths = ["/same.json", "/users/1", "/slow", "/fail", "/nonce.json", "/typed", "/big.json", "/users/22", "/same.json"]
        for s in range(sessions):
            c = http.client.HTTPConnection(hosts[s % len(hosts)], port, timeout=10)
            for p in paths + ["/rand/%d" % (100 + s)]:
                c.request("GET", p, headers={"Accept-Encoding": "gzip"} if p == "/big.json" else {})
                r = c.getresponse()
                body = r.read()
                print(s, p, r.status, r.getheader("Transfer-Encoding"), r.getheader("Content-Encoding"), len(body), flush=True)
            c.close()
            time.sleep(0.2)
        pipelined = b"".join(b"GET " + p.encode() + b" HTTP/1.1\r\nHost: lab\r\n" + (b"Connection: close\r\n" if i == 2 else b"") + b"\r\n"
                             for i, p in enumerate(["/users/3", "/same.json", "/users/4"]))
        with socket.create_connection((hosts[-1], port), timeout=10) as sock:
            sock.sendall(pipelined)
            received = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        print("pipelined", received.count(b"HTTP/1.1 200"), flush=True)
        """;
}
