using System.Globalization;
using System.Net;
using System.Text.Json;
using ReplayCluster.Lab.Tests.Nodes;

namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>One node's entry in <c>/api/status</c>.</summary>
/// <param name="State">nodes[].state ("up", "unreachable", "removed"); null while the coordinator does not report it.</param>
public sealed record StatusNode(string Address, string Role, string? State, long AgeMs, long RequestsCaptured, long RequestsDelivered);

/// <summary>A capture node that has its identity slice and captures.</summary>
public sealed record CaptureNode(LabOnlineHost Host, LabProcess Process, string Address, IPNetwork Slice);

/// <summary>
/// A coordinator (with the fake client range, handing out /24 slices) on the target, an intercept on the assistant,
/// and capture nodes without <c>-c</c> on online hosts; the lab disposes every process it started.
/// </summary>
public sealed class ReplayNodes : IAsyncDisposable
{
    private readonly List<CaptureNode> _captures = [];
    private readonly bool _ownsLab;

    private ReplayNodes(ReplayLab launcher, LabProcess coordinator, LabProcess intercept, string interceptAddress, bool ownsLab)
    {
        Launcher = launcher;
        Lab = launcher.Lab;
        Coordinator = coordinator;
        Intercept = intercept;
        InterceptAddress = interceptAddress;
        _ownsLab = ownsLab;
    }

    public Lab Lab { get; }

    /// <summary>The launcher the nodes were started with (for more nodes of any role).</summary>
    public ReplayLab Launcher { get; }

    public LabProcess Coordinator { get; }

    public LabProcess Intercept { get; }

    public string InterceptAddress { get; }

    public string Seed => Launcher.Seed;

    /// <summary>The capture nodes in the order they were added (a replaced one takes its predecessor's place).</summary>
    public IReadOnlyList<CaptureNode> Captures => _captures;

    /// <summary>The online hosts that have capture nodes.</summary>
    public IReadOnlyList<LabOnlineHost> Hosts => [.. _captures.Select(c => c.Host)];

    /// <summary>Coordinator, intercept, then the capture nodes.</summary>
    public IReadOnlyList<LabProcess> Processes => [Coordinator, Intercept, .. _captures.Select(c => c.Process)];

    /// <summary>Addresses that report statistics (the coordinator itself does not).</summary>
    public IEnumerable<string> ReportingAddresses => [InterceptAddress, .. _captures.Select(c => c.Address)];

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    /// <summary>Starts the coordinator and intercept, then a capture node on each of <paramref name="hosts"/> (all at once), each ready.</summary>
    public static async Task<ReplayNodes> StartAsync(Lab lab, IEnumerable<LabOnlineHost> hosts, bool ownsLab = false, params string[] captureArgs)
    {
        var launcher = new ReplayLab(lab);
        var coordinator = await launcher.StartCoordinatorAsync("-c", lab.FakeRange, "--slice-prefix", "24");
        var intercept = await launcher.StartInterceptAsync();
        var nodes = new ReplayNodes(launcher, coordinator.Process, intercept.Process, intercept.Address, ownsLab);
        var started = hosts.Select(h => (Host: h, Node: launcher.StartCapture(h, captureArgs))).ToList();
        foreach (var (host, node) in started)
        {
            nodes._captures.Add(await ReadyAsync(host, node));
        }

        return nodes;
    }

    /// <summary>Starts one more capture node and returns once it is ready: it has its slice and captures.</summary>
    public async Task<CaptureNode> AddCaptureAsync(LabOnlineHost host, params string[] extra)
    {
        var capture = await ReadyAsync(host, Launcher.StartCapture(host, extra));
        _captures.Add(capture);
        return capture;
    }

    /// <summary>Replaces every capture node that has exited (a test killed it) with a new one on the same host.</summary>
    public async Task EnsureCapturesAsync()
    {
        for (var i = 0; i < _captures.Count; i++)
        {
            if (_captures[i].Process.HasExited)
            {
                await _captures[i].Process.DisposeAsync();
                _captures[i] = await ReadyAsync(_captures[i].Host, Launcher.StartCapture(_captures[i].Host));
            }
        }
    }

    /// <summary>Every node entry of <c>/api/status</c>.</summary>
    public async Task<IReadOnlyList<StatusNode>> NodesAsync()
    {
        using var status = await GetAsync("/api/status");
        return [.. status.RootElement.GetProperty("nodes").EnumerateArray().Select(n => new StatusNode(
            n.GetProperty("address").GetString() ?? string.Empty,
            n.GetProperty("role").GetString() ?? string.Empty,
            n.TryGetProperty("state", out var state) ? state.GetString() : null,
            n.GetProperty("ageMs").GetInt64(),
            Counter(n, "requests_captured"),
            Counter(n, "requests_delivered")))];
    }

    /// <summary>
    /// Waits until exactly this cluster's nodes report (a killed node's entry is gone), each report is fresh, and
    /// the capture nodes' request counters have not moved for 3 s: nothing from before is still being counted.
    /// </summary>
    public async Task WaitIdleAsync()
    {
        var expected = ReportingAddresses.Order(StringComparer.Ordinal).ToList();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(45);
        string? last = null;
        var since = DateTime.UtcNow;
        var seen = string.Empty;
        while (DateTime.UtcNow < deadline)
        {
            var all = await NodesAsync();
            seen = string.Join(", ", all.Select(n => $"{n.Role} {n.Address} {n.State} age {n.AgeMs} ms captured {n.RequestsCaptured} delivered {n.RequestsDelivered}"));
            // A node that left stays listed as "removed" for a while; a killed one is "unreachable" until downed.
            var nodes = all.Where(n => n.State != "removed").ToList();
            var complete = nodes.Select(n => n.Address).Order(StringComparer.Ordinal).SequenceEqual(expected) && nodes.All(n => n.AgeMs < 2000 && n.State is null or "up");
            var key = complete ? string.Join(';', nodes.Select(n => $"{n.Address}={n.RequestsCaptured}/{n.RequestsDelivered}")) : null;
            if (key is null || key != last)
            {
                (last, since) = (key, DateTime.UtcNow);
            }
            else if (DateTime.UtcNow - since >= TimeSpan.FromSeconds(3))
            {
                return;
            }

            await Task.Delay(500, Cancellation);
        }

        throw new TimeoutException($"The cluster did not settle within 45 s; expected reports from {string.Join(", ", expected)}; last status: {seen}");
    }

    /// <summary>Waits until the current run's online and replayed counts have not moved for 3 s (nodes report every second).</summary>
    public async Task WaitForSettledReportAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        (long, long)? last = null;
        var since = DateTime.UtcNow;
        while (DateTime.UtcNow < deadline)
        {
            using var report = await GetAsync("/api/report");
            var now = (report.RootElement.GetProperty("onlineRequests").GetInt64(), report.RootElement.GetProperty("replayedRequests").GetInt64());
            if (now != last)
            {
                (last, since) = (now, DateTime.UtcNow);
            }
            else if (DateTime.UtcNow - since >= TimeSpan.FromSeconds(3))
            {
                return;
            }

            await Task.Delay(500, Cancellation);
        }

        throw new TimeoutException($"The run report was still changing after {timeout.TotalSeconds:0} s (last {last}).");
    }

    /// <summary>GET on the coordinator's HTTP endpoint (loopback inside the target namespace), parsed as JSON.</summary>
    public Task<JsonDocument> GetAsync(string path) => CurlJsonAsync(path, []);

    /// <summary>POST on the coordinator's HTTP endpoint, parsed as JSON.</summary>
    public Task<JsonDocument> PostAsync(string path) => CurlJsonAsync(path, ["-X", "POST"]);

    public async ValueTask DisposeAsync()
    {
        // Capture nodes first, so that none replays into a target whose intercept is already gone.
        foreach (var process in Enumerable.Reverse(Processes))
        {
            await process.DisposeAsync();
        }

        if (_ownsLab)
        {
            await Lab.DisposeAsync();
        }
    }

    private async Task<JsonDocument> CurlJsonAsync(string path, string[] method)
    {
        var result = await Lab.ExecAsync(LabRole.Target, CoordinatorApi.Curl(Lab, ["-sSf", .. method, $"{CoordinatorApi.Url}{path}"]), TimeSpan.FromSeconds(10), Cancellation);
        result.EnsureSuccess($"{string.Join(' ', method)} {path}");
        return JsonDocument.Parse(result.StdOut);
    }

    private static async Task<CaptureNode> ReadyAsync(LabOnlineHost host, LabNode node)
    {
        await node.WaitReadyAsync(TimeSpan.FromSeconds(45));
        return new CaptureNode(host, node.Process, node.Address,
            node.Slice ?? throw new LabException($"capture node on host {host.Index} is ready without an identity slice from the coordinator"));
    }

    private static long Counter(JsonElement node, string name) =>
        node.TryGetProperty("counters", out var counters) && counters.TryGetProperty(name, out var value) ? value.GetInt64() : 0;
}

/// <summary>
/// A two-online-host lab with a whole cluster for the tests that share it (<c>DistributedRunLabTests</c>), started on
/// first use and torn down with the class.
/// </summary>
public sealed class TwoHostClusterFixture : IAsyncLifetime
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ReplayNodes? _cluster;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async Task<ReplayNodes> GetAsync()
    {
        await _gate.WaitAsync(TestContext.Current.CancellationToken);
        try
        {
            if (_cluster is null)
            {
                var lab = await Lab.StartAsync(new LabOptions { Onlines = 2 }, TestContext.Current.CancellationToken);
                try
                {
                    _cluster = await ReplayNodes.StartAsync(lab, lab.Onlines, ownsLab: true);
                }
                catch
                {
                    await lab.DisposeAsync();
                    throw;
                }
            }

            return _cluster;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }

        _gate.Dispose();
    }
}
