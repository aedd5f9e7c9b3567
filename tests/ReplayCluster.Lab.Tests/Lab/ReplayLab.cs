using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.Json;
using ReplayCluster.Lab.Tests.Nodes;

namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>
/// The one way lab tests start ReplayCluster nodes: any role in any of a lab's namespaces, each with its
/// <c>/healthz</c> and <c>/readyz</c> endpoint on (<c>replaycluster.ROLE.health.port</c>, a port of its own in its
/// namespace), and waits that read <c>/readyz</c> — never a log line. Topologies (several online hosts, extra capture
/// nodes, copies, restarts) are built from <see cref="StartCoordinatorAsync"/>, <see cref="StartInterceptAsync"/> and
/// <see cref="StartCaptureAsync"/>; <see cref="ReplayNodes"/> is the usual whole cluster made of them.
/// </summary>
public sealed class ReplayLab
{
    /// <summary>The coordinator's cluster port in the lab (its seed address is <c>TARGET_IP:4053</c>).</summary>
    public const int CoordinatorPort = 4053;

    private const int FirstHealthPort = 9100;
    private static readonly TimeSpan DefaultReadyTimeout = TimeSpan.FromSeconds(45);
    private readonly ConcurrentDictionary<string, int> _nextHealthPort = new(StringComparer.Ordinal);

    public ReplayLab(Lab lab)
    {
        ArgumentNullException.ThrowIfNull(lab);
        Lab = lab;
    }

    public Lab Lab { get; }

    /// <summary>The seed every other node joins: the coordinator on the target.</summary>
    public string Seed => $"{Lab.TargetIp}:{CoordinatorPort.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// Starts <paramref name="node"/> (coordinator, capture or intercept) bound to <paramref name="address"/> in
    /// <paramref name="namespace"/> with <paramref name="args"/>, its health endpoint on; does not wait.
    /// </summary>
    public LabNode Start(string node, string @namespace, IPAddress address, params string[] args)
    {
        ArgumentNullException.ThrowIfNull(address);
        var (health, endpoint) = HealthEndpoint(node, @namespace, address);
        var process = NodeProcesses.StartNode(Lab, @namespace, node, ["--hostname", address.ToString(), .. args, .. health]);
        return Adopt(node, process, endpoint);
    }

    /// <summary>
    /// For a node started another way (a published binary, another user): the arguments that turn its health endpoint
    /// on at a port of its own in <paramref name="namespace"/>, and that endpoint; then <see cref="Adopt"/> its process.
    /// </summary>
    public (string[] Arguments, IPEndPoint Endpoint) HealthEndpoint(string node, string @namespace, IPAddress address)
    {
        var port = _nextHealthPort.AddOrUpdate(@namespace, FirstHealthPort, (_, last) => last + 1);
        return (["--set", $"replaycluster.{node}.health.port = {port.ToString(CultureInfo.InvariantCulture)}"], new IPEndPoint(address, port));
    }

    /// <summary>A node process started with <see cref="HealthEndpoint"/>'s arguments, to wait on its <c>/readyz</c>.</summary>
    public LabNode Adopt(string node, LabProcess process, IPEndPoint health) => new(node, process, health);

    /// <summary>The coordinator on the target, port 4053, the seed of the cluster; returns once ready (joined, API listening).</summary>
    public async Task<LabNode> StartCoordinatorAsync(params string[] args)
    {
        var coordinator = Start("coordinator", Lab.TargetNamespace, Lab.TargetIp, ["--port", CoordinatorPort.ToString(CultureInfo.InvariantCulture), .. args]);
        await coordinator.WaitReadyAsync(DefaultReadyTimeout);
        return coordinator;
    }

    /// <summary>The intercept on the reply sink; returns once ready (joined, reply capture open).</summary>
    public async Task<LabNode> StartInterceptAsync(params string[] args)
    {
        var address = Lab.SinkNamespace == Lab.AssistantNamespace ? Lab.AssistantIp : Lab.TargetSinkIp;
        var intercept = Start("intercept", Lab.SinkNamespace, address, ["--seed", Seed, "-i", Lab.SinkInterface, .. args]);
        await intercept.WaitReadyAsync(DefaultReadyTimeout);
        return intercept;
    }

    /// <summary>
    /// A capture node on <paramref name="host"/> (the first online host by default) capturing its client interface and
    /// replaying port 80 to the target, unless <paramref name="args"/> say otherwise; returns once ready (joined, an
    /// intercept known, identities and plan settled, capture open). Give <c>-i</c> or <c>--pcap-file</c> in
    /// <paramref name="args"/> to replace the interface.
    /// </summary>
    public async Task<LabNode> StartCaptureAsync(LabOnlineHost? host = null, params string[] args)
    {
        var capture = StartCapture(host, args);
        await capture.WaitReadyAsync(DefaultReadyTimeout);
        return capture;
    }

    /// <summary><see cref="StartCaptureAsync"/> without the wait (a test that watches the node become ready).</summary>
    public LabNode StartCapture(LabOnlineHost? host = null, params string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        host ??= Lab.Onlines[0];
        string[] source = args.Contains("-i") || args.Contains("--interface") || args.Contains("--pcap-file") ? [] : ["-i", host.Interface];
        string[] targets = args.Contains("-x") || args.Contains("--target") ? [] : ["-x", $"80-{host.TargetIp}:80"];
        return Start("capture", host.Namespace, host.UplinkIp, ["--seed", Seed, .. source, .. targets, .. args]);
    }
}

/// <summary>A node process started by <see cref="ReplayLab"/>, with its health endpoint.</summary>
public sealed class LabNode : IAsyncDisposable
{
    internal LabNode(string role, LabProcess process, IPEndPoint health)
    {
        Role = role;
        Process = process;
        Health = health;
    }

    public string Role { get; }

    public LabProcess Process { get; }

    /// <summary>Where it answers <c>/healthz</c> and <c>/readyz</c> (inside its namespace).</summary>
    public IPEndPoint Health { get; }

    /// <summary>Its cluster address (<c>akka.ssl.tcp://replaycluster@HOST:PORT</c>), known once it was ready.</summary>
    public string Address { get; private set; } = string.Empty;

    /// <summary>A capture node's IPv4 identity slice from the coordinator, known once it was ready; null with its own <c>-c</c>.</summary>
    public IPNetwork? Slice { get; private set; }

    /// <summary>The IPv6 /64 of its slice, when the coordinator's range has an IPv6 part.</summary>
    public IPNetwork? Slice6 { get; private set; }

    public bool HasExited => Process.HasExited;

    private static readonly IReadOnlyDictionary<string, string> NoDetails = new Dictionary<string, string>();

    /// <summary>One <c>GET /readyz</c> from inside the node's namespace; not ready with the reason when nothing answers.</summary>
    public async Task<NodeReadiness> ProbeAsync(CancellationToken cancellationToken = default)
    {
        string body;
        try
        {
            (_, body) = await NamespaceHttp.GetAsync(Process.Namespace, Health, "/readyz", TimeSpan.FromSeconds(2), cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException or IOException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // Not listening yet (refused), or no answer within 2 s: not ready, and the reason says which.
            return new NodeReadiness(false, null, null, $"no answer on {Health} ({e.GetType().Name}: {e.Message})", NoDetails);
        }

        if (body.Length == 0)
        {
            return new NodeReadiness(false, null, null, $"an empty answer on {Health}", NoDetails);
        }

        using var json = JsonDocument.Parse(body);
        var root = json.RootElement;
        var reasons = string.Join("; ", root.GetProperty("checks").EnumerateArray()
            .Where(c => !c.GetProperty("ready").GetBoolean())
            .Select(c => $"{c.GetProperty("name").GetString()}: {c.GetProperty("reason").GetString()}"));
        var details = root.GetProperty("details").EnumerateObject().Where(d => d.Value.ValueKind == JsonValueKind.String)
            .ToDictionary(d => d.Name, d => d.Value.GetString()!, StringComparer.Ordinal);
        return new NodeReadiness(root.GetProperty("ready").GetBoolean(),
            root.TryGetProperty("address", out var address) ? address.GetString() : null,
            details.GetValueOrDefault("identitySlice"),
            reasons,
            details);
    }

    /// <summary>
    /// Polls <c>/readyz</c> until the node is ready; fails with its last answer and log tail if it exits or
    /// <paramref name="timeout"/> passes. Sets <see cref="Address"/> and <see cref="Slice"/>.
    /// </summary>
    public async Task<NodeReadiness> WaitReadyAsync(TimeSpan timeout)
    {
        var ready = await WaitForAsync(r => r.Ready, "ready", timeout);
        Address = ready.Address ?? string.Empty;
        // "10.200.3.0/24", or "10.200.3.0/24,fd00:c8:0:3::/64" with an IPv6 range.
        var parts = ready.IdentitySlice?.Split(',') ?? [];
        Slice = parts.Length > 0 ? IPNetwork.Parse(parts[0]) : null;
        Slice6 = parts.Length > 1 ? IPNetwork.Parse(parts[1]) : null;
        return ready;
    }

    /// <summary>
    /// Polls <c>/readyz</c> until <paramref name="condition"/> holds for its answer (e.g. not ready for want of an
    /// intercept); fails with the last answer and the log tail if the node exits or <paramref name="timeout"/> passes.
    /// </summary>
    public async Task<NodeReadiness> WaitForAsync(Func<NodeReadiness, bool> condition, string what, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var cancellation = TestContext.Current.CancellationToken;
        var deadline = DateTime.UtcNow + timeout;
        var last = new NodeReadiness(false, null, null, "not probed", NoDetails);
        while (DateTime.UtcNow < deadline && !Process.HasExited)
        {
            last = await ProbeAsync(cancellation);
            if (condition(last))
            {
                return last;
            }

            await Task.Delay(200, cancellation);
        }

        throw new TimeoutException($"{Role} node ({Process.CommandLine}) {(Process.HasExited ? $"exited with {Process.ExitCode}" : $"not {what} after {timeout.TotalSeconds:0} s")}: " +
            $"{last.Reasons}\n{LogExcerpt()}");
    }

    /// <summary>
    /// The node's last 15 log lines, after its earlier warnings and errors (at most 10): why a node stopped is often
    /// said well before its shutdown's own lines.
    /// </summary>
    private string LogExcerpt()
    {
        var lines = Process.Lines.ToList();
        var tail = lines.Count - Math.Min(15, lines.Count);
        var earlier = lines.Take(tail)
            .Where(l => l.Contains(" warn:", StringComparison.Ordinal) || l.Contains(" fail:", StringComparison.Ordinal)
                        || l.Contains(" crit:", StringComparison.Ordinal))
            .TakeLast(10)
            .ToList();
        return string.Join('\n', earlier.Count > 0 ? [.. earlier, "...", .. lines.Skip(tail)] : lines.Skip(tail));
    }

    public Task<int> StopAsync(int signal = LabNative.SigTerm, TimeSpan? timeout = null) => Process.StopAsync(signal, timeout);

    public ValueTask DisposeAsync() => Process.DisposeAsync();
}

/// <summary>
/// A node's <c>/readyz</c> answer: ready or why not, its cluster address, a capture node's identity slice, and every
/// detail it reports (a capture node's <c>planVersion</c> and <c>captureFilter</c>: what it follows now).
/// </summary>
public sealed record NodeReadiness(bool Ready, string? Address, string? IdentitySlice, string Reasons, IReadOnlyDictionary<string, string> Details)
{
    /// <summary>A capture node follows plan <paramref name="version"/> or a later one, and its capture runs <paramref name="filter"/> when given.</summary>
    public bool Follows(long version, string? filter = null) =>
        Details.TryGetValue("planVersion", out var followed) && long.Parse(followed, System.Globalization.CultureInfo.InvariantCulture) >= version
        && (filter is null || (Details.TryGetValue("captureFilter", out var running) && running == filter));
}
