using System.Globalization;
using System.Security.Cryptography;
using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Lab.Tests.Nodes;
using LabHost = ReplayCluster.Lab.Tests.Lab.Lab;

namespace ReplayCluster.Lab.Tests.Replay;

/// <summary>
/// Issue 3's acceptance tests: real clients against the online nginx (and helper servers), a real
/// ReplayCluster replaying into the target, judged by what the target itself logged.
/// </summary>
[Collection(ReplayCollection.Name)]
public sealed class SessionReplayLabTests(ReplayClusterFixture fixture) : IAsyncLifetime
{
    /// <summary>The fixture's nodes all run before each test (<see cref="ReplayClusterFixture.EnsureRunningAsync"/>).</summary>
    public ValueTask InitializeAsync() => fixture.EnsureRunningAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static readonly TimeSpan ReplayTimeout = TimeSpan.FromSeconds(60);

    private LabHost Lab => fixture.Lab;

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Keep_alive_connections_are_all_replayed_in_order()
    {
        var wrk = await Lab.RunWrkAsync(4, TimeSpan.FromSeconds(3), "/1k?case=keepalive", keepAlive: true, Cancellation);

        var (online, target) = await CompareAsync("case=keepalive");
        Report($"wrk {wrk.Requests} requests; online logged {online}, target logged {target}; {fixture.LatestCaptureStatistics}");
        Assert.True(online > 100, $"too little load: {online}");
        Assert.Equal(online, target);
        var perConnection = Lab.ReadAccessLog(LabRole.Target).Where(e => e.Request.Contains("case=keepalive", StringComparison.Ordinal))
            .Max(e => e.ConnectionRequests);
        Assert.True(perConnection > 10, $"target saw at most {perConnection} requests per connection: keep-alive was not kept");
        fixture.AssertNoReplyReachedTheClient();
    }

    [Fact]
    public async Task Pipelined_requests_arrive_on_one_connection()
    {
        var requests = string.Concat(Enumerable.Range(1, 5).Select(i =>
            $"GET /?case=pipelined&n={i} HTTP/1.1\\r\\nHost: online\\r\\n{(i == 5 ? "Connection: close\\r\\n" : string.Empty)}\\r\\n"));
        var result = await Lab.ExecAsync(LabRole.Client,
            ["bash", "-c", $"exec 3<>/dev/tcp/{Lab.OnlineIp}/80; printf '{requests}' >&3; timeout 5 cat <&3 | grep -c '^HTTP/1.1 200'"],
            TimeSpan.FromSeconds(15), Cancellation);
        Assert.Equal("5", result.StdOut.Trim());

        var (online, target) = await CompareAsync("case=pipelined");
        Assert.Equal(5, online);
        Assert.Equal(5, target);
        var entries = Lab.ReadAccessLog(LabRole.Target).Where(e => e.Request.Contains("case=pipelined", StringComparison.Ordinal)).ToList();
        Assert.Single(entries.Select(e => (e.RemoteAddress, e.RemotePort)).Distinct());
        Assert.Equal([1, 2, 3, 4, 5], entries.Select(e => e.ConnectionRequests).Order());
        fixture.AssertNoReplyReachedTheClient();
    }

    [Fact]
    public async Task A_client_reset_while_the_target_is_stalled_loses_no_request_its_kernel_acknowledged()
    {
        // A keep-alive client reads 5 answers, then sends 3 more requests and resets without reading their answers
        // (the online nginx served them). Meanwhile the target's nginx is stopped (a server starved of CPU): its kernel
        // acknowledges the 3 replayed requests, nobody reads them, and no answer comes for longer than the session's
        // 3 s wait limit. A reset then would make that kernel drop them; the target must still serve all 8.
        const string Marker = "case=stalled-reset";
        const string Client = """
            import socket, struct, sys, time
            host, marker = sys.argv[1], sys.argv[2]
            s = socket.create_connection((host, 80))
            def ask(n):
                s.sendall(f"GET /1k?{marker}&n={n} HTTP/1.1\r\nHost: online\r\n\r\n".encode())
            buffered = b""
            for n in range(1, 6):
                ask(n)
                while True:
                    head, sep, rest = buffered.partition(b"\r\n\r\n")
                    length = next((int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")), None) if sep else None
                    if length is not None and len(rest) >= length:
                        buffered = rest[length:]
                        break
                    buffered += s.recv(65536)
            print("answered", flush=True)
            time.sleep(1.5)  # the test stops the target's nginx now
            for n in range(6, 9):
                ask(n)
            time.sleep(0.3)  # the online nginx serves them; their answers stay unread
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # a reset
            print("reset", flush=True)
            """;
        var workers = NginxWorkers(Lab.TargetNginxPid);
        Assert.NotEmpty(workers);
        await using var client = Lab.StartProcess(LabRole.Client, ["python3", "-c", Client, Lab.OnlineIp.ToString(), Marker]);
        var stopped = false;
        try
        {
            await client.WaitForOutputAsync(l => l == "answered", TimeSpan.FromSeconds(10), Cancellation);
            await WaitUntilAsync(() => TargetCount(Marker) == 5, "the target served the first 5 requests");
            foreach (var worker in workers)
            {
                LabNative.Kill(worker, LabNative.SigStop);
            }

            stopped = true;
            await client.WaitForOutputAsync(l => l == "reset", TimeSpan.FromSeconds(10), Cancellation);
            await Task.Delay(TimeSpan.FromSeconds(5), Cancellation); // beyond the session's 3 s response wait limit
        }
        finally
        {
            if (stopped)
            {
                foreach (var worker in workers)
                {
                    LabNative.Kill(worker, LabNative.SigCont);
                }
            }
        }

        var (online, target) = await CompareAsync(Marker);
        Report($"online logged {online}, target logged {target}; {fixture.LatestCaptureStatistics}");
        Assert.Equal(8, online);
        Assert.Equal(8, target);
        fixture.AssertNoReplyReachedTheClient();
    }

    /// <summary>The worker processes of the nginx whose master is <paramref name="master"/> (the lab started it).</summary>
    private static int[] NginxWorkers(int master) =>
        [.. File.ReadAllText($"/proc/{master}/task/{master}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse)];

    [Fact]
    public async Task A_20_MB_upload_arrives_byte_identical()
    {
        var file = Path.Combine(Lab.StateDirectory, "upload-20m.bin");
        var body = RandomNumberGenerator.GetBytes(20 * 1024 * 1024);
        await File.WriteAllBytesAsync(file, body, Cancellation);
        var expected = $"/upload?case=20m {body.Length} {Convert.ToHexStringLower(SHA256.HashData(body))}";

        var curl = await Lab.CurlAsync($"http://{Lab.OnlineIp}:{ReplayClusterFixture.UploadPort}/upload?case=20m", TimeSpan.FromSeconds(30),
            extraArguments: ["--data-binary", $"@{file}", "-H", "Content-Type: application/octet-stream"], cancellationToken: Cancellation);
        Assert.Equal(200, curl.HttpStatus);
        Assert.Contains(expected, await File.ReadAllLinesAsync(fixture.OnlineUploadLog, Cancellation));

        var targetLine = await WaitForLineAsync(fixture.TargetUploadLog, l => l.StartsWith("/upload?case=20m ", StringComparison.Ordinal));
        Report($"online: {expected}{Environment.NewLine}target: {targetLine}{Environment.NewLine}{fixture.LatestCaptureStatistics}");
        Assert.Equal(expected, targetLine);
        fixture.AssertNoReplyReachedTheClient();
    }

    [Fact]
    public async Task A_server_first_protocol_is_replayed_after_the_targets_greeting()
    {
        var script = $"exec 3<>/dev/tcp/{Lab.OnlineIp}/{ReplayClusterFixture.BannerPort}; read -r banner <&3; " +
                     "for c in 'HELO replay' 'MAIL one' 'MAIL two' QUIT; do printf '%s\\r\\n' \"$c\" >&3; read -r reply <&3; echo \"$reply\"; done";
        var result = await Lab.ExecAsync(LabRole.Client, ["bash", "-c", script], TimeSpan.FromSeconds(10), Cancellation);
        Assert.Contains("221 bye", result.StdOut, StringComparison.Ordinal);

        string[] commands = ["HELO replay", "MAIL one", "MAIL two", "QUIT"];
        await WaitForLineAsync(fixture.TargetBannerLog, l => l == "QUIT");
        Assert.Equal(commands, (await File.ReadAllLinesAsync(fixture.OnlineBannerLog, Cancellation)).TakeLast(4));
        Assert.Equal(commands, (await File.ReadAllLinesAsync(fixture.TargetBannerLog, Cancellation)).TakeLast(4));
        fixture.AssertNoReplyReachedTheClient();
    }

    [Fact]
    public async Task A_session_joined_mid_stream_is_left_out_by_default_and_replayed_from_there_when_asked()
    {
        await fixture.StopCaptureAsync();
        var flags = (Path.Combine(Lab.StateDirectory, "midstream.1"), Path.Combine(Lab.StateDirectory, "midstream.2"));
        string Wait(string flag) => $"for i in $(seq 200); do [ -e {flag} ] && break; sleep 0.1; done; ";
        var script = $"exec 3<>/dev/tcp/{Lab.OnlineIp}/80; " +
                     "get() { printf 'GET /?case=midstream&n=%s HTTP/1.1\\r\\nHost: online\\r\\n\\r\\n' \"$1\" >&3; " +
                     "while IFS= read -r line <&3; do line=${line%$'\\r'}; [ -z \"$line\" ] && break; done; read -r -N 79 body <&3; }; " +
                     $"get 1; {Wait(flags.Item1)}get 2; echo two; {Wait(flags.Item2)}get 3; get 4; echo done";
        var client = Lab.StartProcess(LabRole.Client, ["bash", "-c", script]);
        try
        {
            await WaitUntilAsync(() => OnlineCount("case=midstream") == 1, "the first request reached the online server");

            // By default a connection whose handshake the node did not see is left out, and counted.
            await fixture.StartCaptureAsync(Cancellation);
            await File.WriteAllTextAsync(flags.Item1, "go", Cancellation);
            await client.WaitForOutputAsync(l => l == "two", TimeSpan.FromSeconds(15), Cancellation);
            await fixture.Capture.WaitForLogAsync(TimeSpan.FromSeconds(15), Cancellation, "Capture statistics", " sessions_not_joined_mid_stream=1 ");
            await fixture.StopCaptureAsync();

            // Asked for, the node replays it from the first byte it captures.
            await fixture.StartCaptureAsync(Cancellation, "-i", Lab.OnlineInterface, "--set", "replaycluster.capture.join-mid-stream = on");
            await File.WriteAllTextAsync(flags.Item2, "go", Cancellation);
            await client.WaitForOutputAsync(l => l == "done", TimeSpan.FromSeconds(15), Cancellation);

            await WaitUntilAsync(() => TargetCount("case=midstream") >= 2, "the target logged the requests after the join");
            var replayed = Lab.ReadAccessLog(LabRole.Target).Where(e => e.Request.Contains("case=midstream", StringComparison.Ordinal)).Select(e => e.Path).ToList();
            Assert.Equal(["/?case=midstream&n=3", "/?case=midstream&n=4"], replayed);
            fixture.AssertNoReplyReachedTheClient();
        }
        finally
        {
            await client.DisposeAsync();
        }

        // The tests after this one get the node as the fixture starts it.
        await fixture.StopCaptureAsync();
        await fixture.StartCaptureAsync(Cancellation);
    }

    [Fact]
    public async Task A_pcap_file_recorded_in_the_lab_is_replayed_offline()
    {
        await fixture.StopCaptureAsync();
        var file = Path.Combine(Lab.StateDirectory, "recorded.pcap");
        var recorder = Lab.StartProcess(LabRole.Online, ["tcpdump", "--immediate-mode", "-i", Lab.OnlineInterface, "-U", "-w", file, "tcp", "dst", "port", "80"]);
        await recorder.WaitForOutputAsync(l => l.Contains("listening on", StringComparison.Ordinal), TimeSpan.FromSeconds(10), Cancellation);
        for (var i = 0; i < 10; i++)
        {
            var urls = Enumerable.Range(0, 3).Select(k => $"http://{Lab.OnlineIp}/1k?case=offline&c={i}&k={k}").ToArray();
            var result = await Lab.ExecAsync(LabRole.Client, ["curl", "-s", "-o", "/dev/null", .. urls], TimeSpan.FromSeconds(10), Cancellation);
            result.EnsureSuccess("curl");
        }

        await Task.Delay(500, Cancellation);
        await recorder.StopAsync(LabNative.SigInt);
        Assert.Equal(0, TargetCount("case=offline"));
        using (var reader = PacketIO.PcapFileReader.Open(file))
        {
            var recorded = reader.ReadAll((_, in _) => { }, Cancellation);
            Assert.True(recorded >= 30, $"tcpdump recorded only {recorded} packets: {string.Join(" / ", recorder.Lines)}");
        }

        // Twice over, twice as fast as recorded: each round must reach the target as new connections.
        var replay = fixture.StartExtraCapture("--pcap-file", file, "--speed", "2", "--loop", "2").Process;
        try
        {
            await replay.WaitForOutputAsync(l => l.Contains("Pcap file replay finished", StringComparison.Ordinal), ReplayTimeout, Cancellation);
            await WaitUntilAsync(() => TargetCount("case=offline") >= 60, "the target logged both rounds");
            await Task.Delay(500, Cancellation);
            Report(string.Join(Environment.NewLine, replay.Lines.Where(l => !l.Contains("Akka.Actor.ActorSystem", StringComparison.Ordinal)).TakeLast(4)));
            Assert.Equal(30, OnlineCount("case=offline"));
            var replayed = Lab.ReadAccessLog(LabRole.Target).Where(e => e.Request.Contains("case=offline", StringComparison.Ordinal)).ToList();
            Assert.Equal(60, replayed.Count);
            Assert.All(replayed.GroupBy(e => e.Path), g => Assert.Equal(2, g.Count()));
        }
        finally
        {
            await replay.StopAsync(timeout: TimeSpan.FromSeconds(20));
            await fixture.StartCaptureAsync(Cancellation);
        }
    }

    [Fact]
    public async Task Two_percent_loss_both_ways_loses_no_request()
    {
        string[] rules =
        [
            "add table inet rcloss",
            "add chain inet rcloss in { type filter hook input priority 0 ; }",
            "add chain inet rcloss out { type filter hook output priority 0 ; }",
            "add rule inet rcloss in tcp dport 80 numgen random mod 100 < 2 drop",
            "add rule inet rcloss out tcp sport 80 numgen random mod 100 < 2 drop",
        ];
        foreach (var rule in rules)
        {
            (await Lab.ExecAsync(LabRole.Target, ["nft", .. rule.Split(' ')], cancellationToken: Cancellation)).EnsureSuccess($"nft {rule}");
        }

        try
        {
            await RunPacedWrkAsync("/1k?case=loss-short", keepAlive: false);
            await RunPacedWrkAsync("/1k?case=loss-keepalive", keepAlive: true);

            var (shortOnline, shortTarget) = await CompareAsync("case=loss-short");
            var (keepOnline, keepTarget) = await CompareAsync("case=loss-keepalive");
            var dropped = await Lab.ExecAsync(LabRole.Target, ["nft", "list", "table", "inet", "rcloss"], cancellationToken: Cancellation);
            Report($"short: online {shortOnline} target {shortTarget}; keep-alive: online {keepOnline} target {keepTarget}{Environment.NewLine}" +
                   $"{fixture.LatestCaptureStatistics}");
            Assert.Equal(shortOnline, shortTarget);
            Assert.Equal(keepOnline, keepTarget);
            Assert.True(shortOnline > 100 && keepOnline > 100, "too little load");
            Assert.Contains("numgen random", dropped.StdOut, StringComparison.Ordinal);
        }
        finally
        {
            await Lab.ExecAsync(LabRole.Target, ["nft", "delete", "table", "inet", "rcloss"], cancellationToken: Cancellation);
        }

        fixture.AssertNoReplyReachedTheClient();
    }

    private async Task RunPacedWrkAsync(string path, bool keepAlive)
    {
        var script = Path.Combine(LabHost.FindRepositoryRoot(), "tests", "ReplayCluster.Lab.Tests", "Replay", "paced.lua");
        List<string> command = ["wrk", "-t1", "-c4", "-d3s", "--timeout", "2s", "-s", script];
        if (!keepAlive)
        {
            command.AddRange(["-H", "Connection: close"]);
        }

        (await Lab.ExecAsync(LabRole.Client, [.. command, $"http://{Lab.OnlineIp}{path}"], TimeSpan.FromSeconds(20), Cancellation)).EnsureSuccess("wrk");
    }


    private int OnlineCount(string marker) => Lab.ReadAccessLog(LabRole.Online).Count(e => e.Request.Contains(marker, StringComparison.Ordinal));

    private int TargetCount(string marker) => Lab.ReadAccessLog(LabRole.Target).Count(e => e.Request.Contains(marker, StringComparison.Ordinal));

    /// <summary>Waits until the target's count for <paramref name="marker"/> stops short of or reaches the online count, then both.</summary>
    private async Task<(int Online, int Target)> CompareAsync(string marker)
    {
        var deadline = DateTime.UtcNow + ReplayTimeout;
        var online = OnlineCount(marker);
        var target = TargetCount(marker);
        var lastChange = DateTime.UtcNow;
        while (DateTime.UtcNow < deadline && target < online)
        {
            await Task.Delay(200, Cancellation);
            var now = TargetCount(marker);
            online = OnlineCount(marker);
            if (now != target)
            {
                target = now;
                lastChange = DateTime.UtcNow;
            }
            else if (DateTime.UtcNow - lastChange > TimeSpan.FromSeconds(20))
            {
                break;
            }
        }

        // Anything extra (a duplicate) would show up shortly after; give it a moment.
        await Task.Delay(500, Cancellation);
        return (OnlineCount(marker), TargetCount(marker));
    }

    private static async Task<string> WaitForLineAsync(string file, Func<string, bool> match)
    {
        var deadline = DateTime.UtcNow + ReplayTimeout;
        while (DateTime.UtcNow < deadline)
        {
            if (File.Exists(file) && (await File.ReadAllLinesAsync(file, Cancellation)).FirstOrDefault(match) is { } line)
            {
                return line;
            }

            await Task.Delay(200, Cancellation);
        }

        throw new TimeoutException($"No matching line in {file} within {ReplayTimeout}");
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + ReplayTimeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting until {what}");
            }

            await Task.Delay(100, Cancellation);
        }
    }

    private static void Report(string line) =>
        TestContext.Current.TestOutputHelper?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{line}"));
}
