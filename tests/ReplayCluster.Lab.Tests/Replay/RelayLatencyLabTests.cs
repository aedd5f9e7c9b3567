using System.Globalization;
using System.Text.Json;
using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Lab.Tests.Nodes;
using LabHost = ReplayCluster.Lab.Tests.Lab.Lab;

namespace ReplayCluster.Lab.Tests.Replay;

/// <summary>
/// The relay (target reply captured by the intercept → reply channel → the owning capture node's shard) at light
/// load and at keep-alive 50 connections, read from the coordinator's run report as a user would: every
/// reply the intercept routed is timed once, and p99 stays within bounds.
/// </summary>
/// <remarks>
/// The bounds asserted here are far looser than the relay's targets (p99 ≤ 300 µs light, ≤ 2 ms at
/// keep-alive 50): the lab machine's two cores are shared with other work (load averages of 30-70 were
/// measured while this test ran, and p99 then reached 20-100 ms), and a test that fails on a
/// neighbour's burst proves nothing. They still catch a relay that holds replies back on a timer
/// (p50 at light load) or loses or double-counts them (the counts). The measured numbers are printed
/// for the record (hocon/intercept.hocon cites them). Variants are measured by pointing
/// <c>REPLAYCLUSTER_CONFIG</c> at a HOCON file: the nodes inherit it.
/// </remarks>
[Collection(MeasuredAloneCollection.Name)]
[MeasuresNodeCost]
public sealed class RelayLatencyLabTests
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Every_routed_reply_is_relayed_and_timed_within_bounds_at_light_and_keepalive_load()
    {
        await using var lab = await LabHost.StartAsync(new LabOptions(), Cancellation);
        var launcher = new ReplayLab(lab);
        await using var coordinator = await launcher.StartCoordinatorAsync();
        await using var intercept = await launcher.StartInterceptAsync();
        await using var capture = await launcher.StartCaptureAsync(args: ["-c", lab.FakeRange]);

        // Warm-up: JIT, the remote association, the first route claims; not measured.
        (await lab.ExecAsync(LabRole.Client, ["wrk", "-t1", "-c4", "-d2s", $"http://{lab.OnlineIp}/1k?case=relay-warmup"], TimeSpan.FromSeconds(20), Cancellation)).EnsureSuccess("wrk");

        // ~50 requests/s on one keep-alive connection: every reply travels alone. 6 s per load (10 s until
        // 2026-12-03): ~600 timed replies here and ~55,000 at keep-alive are plenty for bounds this loose; the
        // relay's own numbers are measured in bench/ (bench/README.md, "Reply channel").
        var light = Path.Combine(lab.StateDirectory, "relay-light.lua");
        await File.WriteAllTextAsync(light, "function delay()\n  return 20\nend\n", Cancellation);
        var lightRun = await MeasureAsync(lab, "light (1 connection, ~50 req/s)", ["wrk", "-t1", "-c1", "-d6s", "-s", light, $"http://{lab.OnlineIp}/1k?case=relay-light"]);
        // 50 keep-alive connections paced to a rate the lab's two cores sustain with both nginx, wrk and the three
        // nodes on them: a saturating flood measures the capture node's backlog (p99 0.5-0.9 s), not the relay.
        var paced = Path.Combine(lab.StateDirectory, "relay-paced.lua");
        await File.WriteAllTextAsync(paced, "function delay()\n  return 10\nend\n", Cancellation);
        var heavyRun = await MeasureAsync(lab, "keep-alive 50 connections (~4k req/s)", ["wrk", "-t2", "-c50", "-d6s", "-s", paced, $"http://{lab.OnlineIp}/1k?case=relay-ka50"]);

        // A lone reply is not held back for company: no timer or block timeout of milliseconds in its way.
        Assert.True(lightRun.P50Ms < 5, $"light load relay p50 {lightRun.P50Ms} ms");
        Assert.True(lightRun.P99Ms < 250, $"light load relay p99 {lightRun.P99Ms} ms");
        Assert.True(heavyRun.P99Ms < 250, $"keep-alive 50 relay p99 {heavyRun.P99Ms} ms");
    }

    /// <summary>Runs <paramref name="load"/> inside a coordinator run and returns the run's relay latency.</summary>
    private static async Task<(double P50Ms, double P99Ms)> MeasureAsync(LabHost lab, string name, string[] load)
    {
        var (routedBefore, handOffBefore, channelBefore) = await SettledAsync(lab);
        await PostAsync(lab, "/api/run/start");
        var wrk = WrkResult.Parse((await lab.ExecAsync(LabRole.Client, load, TimeSpan.FromSeconds(40), Cancellation)).EnsureSuccess("wrk").StdOut);
        var (routedAfter, handOffAfter, channelAfter) = await SettledAsync(lab);
        var routed = routedAfter - routedBefore;
        var byChannel = channelAfter - channelBefore;
        // Since the intercept started, not only in this window: a channel that failed just before the window is
        // reconnected (after its retry delay) inside it, and remoting carries its replies until then.
        var channelFailures = handOffAfter.GetValueOrDefault("reply_channel_failures");
        using var report = JsonDocument.Parse(await PostAsync(lab, "/api/run/stop"));
        var relay = report.RootElement.GetProperty("relayLatency");
        var count = relay.GetProperty("count").GetInt64();
        var p50 = relay.GetProperty("p50Ms").GetDouble();
        var p99 = relay.GetProperty("p99Ms").GetDouble();
        TestContext.Current.TestOutputHelper?.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RELAY {name}: wrk {wrk.Requests} requests ({wrk.RequestsPerSecond:0}/s), replies routed {routed}, timed {count}: p50 {p50 * 1000:0} µs, p90 {relay.GetProperty("p90Ms").GetDouble() * 1000:0} µs, p99 {p99 * 1000:0} µs, mean {relay.GetProperty("meanMs").GetDouble() * 1000:0} µs; " +
            $"of which capture to hand-over at the intercept: p50 {Quantile(handOffBefore, handOffAfter, 0.5):0} µs, p99 {Quantile(handOffBefore, handOffAfter, 0.99):0} µs; " +
            $"{routed / (double)Math.Max(1, handOffAfter.GetValueOrDefault("batches_sent") - handOffBefore.GetValueOrDefault("batches_sent")):0.0} records per batch; " +
            $"{byChannel} through the reply channel, {channelFailures} channel failures since the start"));

        // Each reply the intercept routed reached its capture node and was timed exactly once; every
        // request had at least its response relayed.
        Assert.Equal(routed, count);
        Assert.True(count >= wrk.Requests, $"{count} replies relayed for {wrk.Requests} requests");

        // With the default settings (no variant file), every reply of a warm cluster took the reply channel, unless the
        // intercept counted a failed channel (a capture node too busy to read for its send timeout): then
        // remoting carried the rest until the channel was connected again, and most still took the channel.
        if (Environment.GetEnvironmentVariable("REPLAYCLUSTER_CONFIG") is null)
        {
            if (channelFailures == 0)
            {
                Assert.Equal(routed, byChannel);
            }
            else
            {
                Assert.True(byChannel > 0, $"{channelFailures} channel failures and no reply through the channel");
            }
        }

        return (p50, p99);
    }

    /// <summary>
    /// Waits until the replies the intercept routed all reached the capture node (its relay count equals
    /// the intercept's routed count) and neither moved over two reports; returns that count.
    /// </summary>
    private static async Task<(long Routed, Dictionary<string, long> HandOff, long ByChannel)> SettledAsync(LabHost lab)
    {
        (long Routed, long Timed, long Captured, long InFlight)? previous = null;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            using var status = JsonDocument.Parse(await GetAsync(lab, "/api/status"));
            long Sum(string role, string counter) => status.RootElement.GetProperty("nodes").EnumerateArray()
                .Where(n => n.GetProperty("role").GetString() == role)
                .Sum(n => n.GetProperty("counters").TryGetProperty(counter, out var value) ? value.GetInt64() : 0);
            // Equal counts alone can be a backlog seen twice in the same state (a node too busy to report, or its
            // replay stalled for a moment): also nothing captured since the last look and nothing in flight.
            var now = (Routed: Sum("intercept", "replies_routed"), Timed: Sum("capture", "relay_latency_us_count"),
                Captured: Sum("capture", "packets_captured"), InFlight: Sum("capture", "requests_in_flight"));
            if (now.Routed == now.Timed && now.InFlight == 0 && now == previous)
            {
                var handOff = status.RootElement.GetProperty("nodes").EnumerateArray()
                    .Where(n => n.GetProperty("role").GetString() == "intercept")
                    .SelectMany(n => n.GetProperty("counters").EnumerateObject())
                    .Where(c => c.Name.StartsWith("handoff_latency_us_", StringComparison.Ordinal) || c.Name is "batches_sent" or "reply_channel_failures")
                    .ToDictionary(c => c.Name, c => c.Value.GetInt64(), StringComparer.Ordinal);
                return (now.Routed, handOff, Sum("capture", "responses_by_channel"));
            }

            previous = now;
            await Task.Delay(1200, Cancellation);
        }

        throw new TimeoutException($"within 60 s the capture node's relay count never settled at the intercept's routed count with nothing in flight (last: {previous})");
    }

    /// <summary>A quantile in µs of the intercept's hand-off histogram between two snapshots, interpolated in its bucket.</summary>
    private static double Quantile(Dictionary<string, long> before, Dictionary<string, long> after, double q)
    {
        var buckets = after.Keys.Where(k => k.StartsWith("handoff_latency_us_le_", StringComparison.Ordinal))
            .Select(k => (Bound: long.Parse(k["handoff_latency_us_le_".Length..], CultureInfo.InvariantCulture), Count: after[k] - before.GetValueOrDefault(k)))
            .OrderBy(b => b.Bound).ToList();
        var total = after.GetValueOrDefault("handoff_latency_us_count") - before.GetValueOrDefault("handoff_latency_us_count");
        if (total <= 0 || buckets.Count == 0)
        {
            return double.NaN;
        }

        var rank = q * total;
        long lower = 0;
        long below = 0;
        foreach (var (bound, cumulative) in buckets)
        {
            if (cumulative >= rank)
            {
                return lower + ((bound - lower) * (rank - below) / Math.Max(1, cumulative - below));
            }

            (lower, below) = (bound, cumulative);
        }

        return buckets[^1].Bound;
    }

    private static async Task<string> GetAsync(LabHost lab, string path) =>
        (await lab.ExecAsync(LabRole.Target, CoordinatorApi.Curl(lab, "-sf", $"{CoordinatorApi.Url}{path}"), TimeSpan.FromSeconds(10), Cancellation)).EnsureSuccess($"GET {path}").StdOut;

    private static async Task<string> PostAsync(LabHost lab, string path) =>
        (await lab.ExecAsync(LabRole.Target, CoordinatorApi.Curl(lab, "-sf", "-X", "POST", $"{CoordinatorApi.Url}{path}"), TimeSpan.FromSeconds(10), Cancellation)).EnsureSuccess($"POST {path}").StdOut;
}
