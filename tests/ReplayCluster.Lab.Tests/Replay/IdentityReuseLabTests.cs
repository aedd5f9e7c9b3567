using System.Globalization;
using System.Net;
using ReplayCluster.Lab.Tests.Lab;
using LabHost = ReplayCluster.Lab.Tests.Lab.Lab;

namespace ReplayCluster.Lab.Tests.Replay;

/// <summary>
/// Issue 13, item 3: no session is lost to our own client identities (the lab's maximum rate is
/// <see cref="FloodLabTests"/>'). Every request carries a unique id; the online and target access logs are
/// compared id by id.
/// </summary>
[Collection(ReplayCollection.Name)]
public sealed class IdentityReuseLabTests(ReplayClusterFixture fixture) : IAsyncLifetime
{
    /// <summary>The fixture's nodes all run before each test (<see cref="ReplayClusterFixture.EnsureRunningAsync"/>).</summary>
    public ValueTask InitializeAsync() => fixture.EnsureRunningAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>
    /// How long the target may keep growing after a maximum-rate short-connection load ends. Issue 13 wants
    /// 1 s. Measured on the identity branch (shared 2-core machine, load average 30-45): 0.7-2.3 s at the
    /// 115-408 requests/s wrk reached there, 3.5-29.5 s at the ~1k connections/s of the port-reuse test;
    /// issue 13 measured 12.1 s with the machine to itself. Lower it as the hot-path work lands.
    /// </summary>
    public static readonly TimeSpan MaxRateDrainBound = TimeSpan.FromSeconds(15);

    // 2,000 ports: at ~1k connections/s the client's ports come back every ~2 s, well inside the target's
    // 60 s TIME_WAIT of the previous connection on them.
    private const string NarrowPortRange = "40000 41999";

    private static readonly TimeSpan CompareTimeout = TimeSpan.FromSeconds(40);

    private LabHost Lab => fixture.Lab;

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Short_connections_reusing_client_ports_lose_nothing_across_two_runs_and_a_capture_restart()
    {
        var original = await PortRangeAsync();
        await SetPortRangeAsync(NarrowPortRange);
        try
        {
            // A fresh node: its statistics count only these runs.
            await fixture.StopCaptureAsync();
            await fixture.StartCaptureAsync(Cancellation);
            var first = await RunAtAboutOneThousandPerSecondAsync("reuse1");

            // A restarted node has lost its quarantine; the target still holds the first run's TIME_WAITs.
            await fixture.StopCaptureAsync();
            await fixture.StartCaptureAsync(Cancellation);
            var second = await RunAtAboutOneThousandPerSecondAsync("reuse2");

            foreach (var run in new[] { first, second })
            {
                Assert.True(run.Wrk.Requests > 2_000, $"too little load: {run}");
                Assert.True(run.Comparison is { Missing: 0, Duplicated: 0, Unknown: 0 } && run.SynTimeouts == 0,
                    $"{run}{Environment.NewLine}target counters: {run.TargetCounters}");
            }
        }
        finally
        {
            await SetPortRangeAsync(original);
        }

        fixture.AssertNoReplyReachedTheClient();
    }

    [Fact]
    public async Task A_four_tuple_the_target_holds_in_TIME_WAIT_is_not_handed_to_another_client()
    {
        // Two real clients on one fake address (a /30 has two; these two hash onto the same one), each
        // opening connections from the same 20 ports: the second client's connection would get the fake
        // 4-tuple of the first one's, which the target holds in TIME_WAIT (nginx closed first).
        var second = NextAddress(Lab.ClientIp);
        var prefix = Lab.ClientSubnet.Split('/')[1];
        (await Lab.ExecAsync(LabRole.Client, ["ip", "addr", "add", $"{second}/{prefix}", "dev", Lab.ClientInterface], cancellationToken: Cancellation))
            .EnsureSuccess("ip addr add");
        try
        {
            await RestartCaptureAsync("--set", "replaycluster.capture.fake-client-range = 10.200.0.0/30", "--set", "replaycluster.capture.identity.reuse-delay = 0s");
            var off = await CollideAsync("twoff", second, 20000, waitForAll: false);

            await RestartCaptureAsync("--set", "replaycluster.capture.fake-client-range = 10.200.0.0/30");
            var on = await CollideAsync("twon", second, 20100, waitForAll: true);
            Report($"without quarantine: {off}{Environment.NewLine}with quarantine:    {on}");

            // The mechanism, shown first: without the quarantine the target's PAWS check rejects SYNs on the
            // reused 4-tuples and answers them with a bare ACK. The session's second line of defence (a RST
            // at that ACK's number kills the TIME_WAIT, then the SYN again) still gets every request through.
            Assert.True(off.PawsTimewait > 0,
                $"without the quarantine no SYN met a TIME_WAIT ({off}): the two clients no longer share a fake address, so this test proves nothing");
            Assert.Equal(0, off.SecondMissing);

            // With it, the identity is never handed out while the target may hold it: no SYN meets TIME_WAIT.
            Assert.Equal(0, on.FirstMissing);
            Assert.Equal(0, on.SecondMissing);
            Assert.Equal(0, on.PawsTimewait);
            Assert.Equal(0, on.SynTimeouts);
        }
        finally
        {
            await Lab.ExecAsync(LabRole.Client, ["ip", "addr", "del", $"{second}/{prefix}", "dev", Lab.ClientInterface], cancellationToken: CancellationToken.None);
            await RestartCaptureAsync();
        }

        fixture.AssertNoReplyReachedTheClient();
    }

    private async Task<RunResult> RunAtAboutOneThousandPerSecondAsync(string name)
    {
        var run = UniqueIdLoad.NewRun(name);
        var before = await UniqueIdLoad.TcpExtAsync(Lab, LabRole.Target, Cancellation);

        // 8 connections, each writing its request 3 ms after connecting: about 1k connections/s here.
        var wrk = await UniqueIdLoad.RunShortConnectionsAsync(Lab, run, connections: 8, TimeSpan.FromSeconds(6), delayMs: 3, Cancellation);
        var loadEnded = DateTime.UtcNow;
        var comparison = await UniqueIdLoad.CompareAsync(Lab, run, loadEnded, TimeSpan.FromSeconds(20), CompareTimeout, Cancellation);

        // Sessions linger after their end; the next statistics line (every second) has them all.
        await Task.Delay(1_500, Cancellation);
        var after = await UniqueIdLoad.TcpExtAsync(Lab, LabRole.Target, Cancellation);
        var result = new RunResult(wrk, comparison,
            UniqueIdLoad.EndedFor(UniqueIdLoad.LatestStatistics(fixture.Capture), "SynTimeout"),
            Delta(before, after, "TcpExtPAWSTimewait"),
            await UniqueIdLoad.TimeWaitCountAsync(Lab, LabRole.Target, Cancellation),
            UniqueIdLoad.Deltas(before, after));
        var states = await Lab.ExecAsync(LabRole.Target, ["ss", "-s"], cancellationToken: Cancellation);

        // nginx stops accepting at worker_connections; the SYNs then overflow its listen queue and are dropped.
        var starved = File.Exists(Lab.TargetErrorLog)
            ? (await File.ReadAllLinesAsync(Lab.TargetErrorLog, Cancellation)).Count(l => l.Contains("worker_connections are not enough", StringComparison.Ordinal))
            : 0;
        Report($"{result}{Environment.NewLine}{fixture.LatestCaptureStatistics}{Environment.NewLine}target counters: {result.TargetCounters}; " +
               $"target nginx 'worker_connections are not enough' lines so far: {starved}" +
               $"{Environment.NewLine}{states.StdOut}{Environment.NewLine}" +
               string.Join(Environment.NewLine, fixture.Capture.Lines.Where(l => l.Contains("data pending", StringComparison.Ordinal)).Take(5)));
        return result;
    }

    private async Task<Collision> CollideAsync(string name, IPAddress second, int firstPort, bool waitForAll)
    {
        var run = UniqueIdLoad.NewRun(name);
        var before = await UniqueIdLoad.TcpExtAsync(Lab, LabRole.Target, Cancellation);
        await CurlFromPortsAsync(Lab.ClientIp, firstPort, $"{run}a");
        await WaitForTargetAsync($"id={run}a-", 20, TimeSpan.FromSeconds(10));

        // A session keeps its identity while it lingers (6 s) after its end; only then would the identity be
        // handed out again without a quarantine.
        await Task.Delay(TimeSpan.FromSeconds(7), Cancellation);
        var timeWait = await UniqueIdLoad.TimeWaitCountAsync(Lab, LabRole.Target, Cancellation);
        await CurlFromPortsAsync(second, firstPort, $"{run}b");
        await WaitForTargetAsync($"id={run}b-", 20, waitForAll ? TimeSpan.FromSeconds(10) : TimeSpan.FromSeconds(3));
        await Task.Delay(1_500, Cancellation);
        var after = await UniqueIdLoad.TcpExtAsync(Lab, LabRole.Target, Cancellation);
        return new Collision(
            Missing($"id={run}a-"),
            Missing($"id={run}b-"),
            Delta(before, after, "TcpExtPAWSTimewait"),
            UniqueIdLoad.EndedFor(UniqueIdLoad.LatestStatistics(fixture.Capture), "SynTimeout"),
            timeWait);
    }

    private async Task CurlFromPortsAsync(IPAddress source, int firstPort, string idPrefix)
    {
        var script = $"for p in $(seq {firstPort} {firstPort + 19}); do curl -s -o /dev/null --max-time 2 -H 'Connection: close' " +
                     $"--interface {source} --local-port $p \"http://{Lab.OnlineIp}/1k?id={idPrefix}-$p\"; done";
        (await Lab.ExecAsync(LabRole.Client, ["bash", "-c", script], TimeSpan.FromSeconds(60), Cancellation)).EnsureSuccess("curl loop");
    }

    private async Task WaitForTargetAsync(string marker, int expected, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline && Count(Lab.ReadAccessLog(LabRole.Target), marker) < expected)
        {
            await Task.Delay(200, Cancellation);
        }
    }

    // Online requests of this marker the target never logged.
    private int Missing(string marker)
    {
        var target = Lab.ReadAccessLog(LabRole.Target).Where(e => e.Request.Contains(marker, StringComparison.Ordinal)).Select(e => e.Path).ToHashSet(StringComparer.Ordinal);
        return Lab.ReadAccessLog(LabRole.Online).Count(e => e.Request.Contains(marker, StringComparison.Ordinal) && !target.Contains(e.Path));
    }

    private async Task RestartCaptureAsync(params string[] extra)
    {
        await fixture.StopCaptureAsync();
        await fixture.StartCaptureAsync(Cancellation, extra.Length == 0 ? [] : ["-i", Lab.OnlineInterface, .. extra]);
    }

    private async Task<string> PortRangeAsync()
    {
        var result = await Lab.ExecAsync(LabRole.Client, ["sysctl", "-n", "net.ipv4.ip_local_port_range"], cancellationToken: Cancellation);
        return string.Join(' ', result.EnsureSuccess("sysctl").StdOut.Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries));
    }

    // net.ipv4.ip_local_port_range is per network namespace: this changes the lab's client only.
    private Task SetPortRangeAsync(string range) =>
        Lab.ExecAsync(LabRole.Client, ["sysctl", "-qw", $"net.ipv4.ip_local_port_range={range}"], cancellationToken: CancellationToken.None)
            .ContinueWith(t => t.Result.EnsureSuccess("sysctl -w"), TaskScheduler.Default);

    private static int Count(IEnumerable<AccessLogEntry> entries, string marker) => entries.Count(e => e.Request.Contains(marker, StringComparison.Ordinal));

    private static long Delta(IReadOnlyDictionary<string, long> before, IReadOnlyDictionary<string, long> after, string counter) =>
        after.GetValueOrDefault(counter) - before.GetValueOrDefault(counter);

    private static IPAddress NextAddress(IPAddress address)
    {
        var bytes = address.GetAddressBytes();
        bytes[3]++;
        return new IPAddress(bytes);
    }

    private static void Report(string line) =>
        TestContext.Current.TestOutputHelper?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{line}"));

    private sealed record RunResult(WrkResult Wrk, UniqueIdLoad.Comparison Comparison, long SynTimeouts, long PawsTimewait, int TargetTimeWait, string TargetCounters)
    {
        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"wrk {Wrk.Requests} requests ({Wrk.RequestsPerSecond:0} /s); {Comparison}; SynTimeout {SynTimeouts}; target TcpExtPAWSTimewait +{PawsTimewait}, TIME_WAIT {TargetTimeWait}");
    }

    private sealed record Collision(int FirstMissing, int SecondMissing, long PawsTimewait, long SynTimeouts, int TimeWaitBeforeSecond)
    {
        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"first client missing {FirstMissing}/20, second client missing {SecondMissing}/20, target TcpExtPAWSTimewait +{PawsTimewait}, SynTimeout so far {SynTimeouts}, target TIME_WAIT before the second client {TimeWaitBeforeSecond}");
    }
}
