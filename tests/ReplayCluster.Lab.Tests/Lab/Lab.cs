using System.Globalization;
using System.Net;
using System.Security.Cryptography;

namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>
/// A running lab built by <c>deploy/lab/lab.sh up</c>: client, online, target and assistant namespaces with nginx
/// on the online host(s) and the target. Dispose it to kill the processes it started and tear it down.
/// </summary>
public sealed class Lab : IAsyncDisposable
{
    private readonly string _script;
    private readonly int _guardPid;
    private readonly List<LabProcess> _processes = [];
    private readonly Lock _gate = new();
    private int _disposed;

    private Lab(string script, int guardPid, LabOptions options, LabFacts facts)
    {
        _script = script;
        _guardPid = guardPid;
        Options = options;
        Typed = facts;
        Facts = facts.Facts;
        Id = facts.Id;
        StateDirectory = facts.StateDir;
        var first = facts.Onlines.FirstOrDefault() ?? throw new LabException("lab.sh up --json listed no online host.");
        ClientNamespace = facts.Client.Namespace;
        OnlineNamespace = first.Namespace;
        TargetNamespace = facts.Target.Namespace;
        AssistantNamespace = facts.Assistant.Namespace;
        SinkNamespace = facts.ReplySink.Namespace;
        ClientIp = first.ClientIp;
        OnlineIp = first.Ip;
        OnlineUplinkIp = first.UplinkIp;
        TargetIp = facts.Target.Ip;
        TargetSinkIp = facts.Target.SinkIp;
        AssistantIp = facts.Assistant.Ip;
        FakeRange = facts.FakeRange;
        ClientSubnet = first.ClientSubnet;
        ClientInterface = first.ClientInterface;
        OnlineInterface = first.Interface;
        OnlineUplinkInterface = first.UplinkInterface;
        TargetInterface = facts.Target.Interface;
        TargetSinkInterface = facts.Target.SinkInterface;
        AssistantInterface = facts.Assistant.Interface;
        SinkInterface = facts.ReplySink.Interface;
        OnlineNginxPort = first.NginxPort;
        TargetNginxPort = facts.Target.NginxPort;
        OnlineNginxPid = first.NginxPid;
        TargetNginxPid = facts.Target.NginxPid;
        OnlineAccessLog = first.AccessLog;
        OnlineErrorLog = first.ErrorLog;
        TargetAccessLog = facts.Target.AccessLog;
        TargetErrorLog = facts.Target.ErrorLog;
        Onlines = [.. facts.Onlines.Select(o => new LabOnlineHost(o.Index, o.Namespace, o.Ip, o.UplinkIp, o.Interface, o.UplinkInterface, o.ClientIp,
            o.ClientInterface, o.TargetIp, o.NginxPid, o.AccessLog))];
    }

    /// <summary>The facts of <c>lab.sh up --json</c>, typed.</summary>
    public LabFacts Typed { get; }

    /// <summary>The IPv6 addresses of a dual-stack lab (<see cref="LabOptions.Ipv6"/>); null when IPv6 is off.</summary>
    public LabFacts.Ipv6Facts? Ipv6 => Typed.Ipv6;

    /// <summary>The lab id; namespaces are <c>rc-ID-*</c>.</summary>
    public string Id { get; }

    /// <summary>The options it was built with.</summary>
    public LabOptions Options { get; }

    /// <summary>Every KEY=VALUE fact of <c>lab.sh up</c> (in its JSON under "facts"), for the few without a property.</summary>
    public IReadOnlyDictionary<string, string> Facts { get; }

    /// <summary>The lab's state directory (configs, logs, lab.env).</summary>
    public string StateDirectory { get; }

    public string ClientNamespace { get; }

    public string OnlineNamespace { get; }

    public string TargetNamespace { get; }

    public string AssistantNamespace { get; }

    /// <summary>Namespace where the target's replies can be captured: the assistant's, or the target's (ifb sink).</summary>
    public string SinkNamespace { get; }

    /// <summary>The client's address toward the (first) online host.</summary>
    public IPAddress ClientIp { get; }

    /// <summary>The online host's address as seen by the client (nginx listens here).</summary>
    public IPAddress OnlineIp { get; }

    /// <summary>The online host's address toward the target.</summary>
    public IPAddress OnlineUplinkIp { get; }

    /// <summary>The target's address as seen by the online host (nginx listens here).</summary>
    public IPAddress TargetIp { get; }

    /// <summary>The target's address toward the assistant.</summary>
    public IPAddress TargetSinkIp { get; }

    public IPAddress AssistantIp { get; }

    /// <summary>The spoofed client range routed to the sink, in CIDR form.</summary>
    public string FakeRange { get; }

    /// <summary>The real client subnet (A) of the first online host, in CIDR form.</summary>
    public string ClientSubnet { get; }

    public string ClientInterface { get; }

    /// <summary>The online host's interface facing the clients: where capture nodes listen.</summary>
    public string OnlineInterface { get; }

    public string OnlineUplinkInterface { get; }

    public string TargetInterface { get; }

    public string TargetSinkInterface { get; }

    public string AssistantInterface { get; }

    /// <summary>The interface (in <see cref="SinkNamespace"/>) where the intercept captures replies.</summary>
    public string SinkInterface { get; }

    public int OnlineNginxPort { get; }

    public int TargetNginxPort { get; }

    public int OnlineNginxPid { get; }

    public int TargetNginxPid { get; }

    public string OnlineAccessLog { get; }

    public string OnlineErrorLog { get; }

    public string TargetAccessLog { get; }

    public string TargetErrorLog { get; }

    /// <summary>All online hosts; the first is the one the Online* properties describe.</summary>
    public IReadOnlyList<LabOnlineHost> Onlines { get; }

    /// <summary>Lines in the online nginx access log right now (one per finished request).</summary>
    public int OnlineNginxRequestCount => CountLines(OnlineAccessLog);

    /// <summary>
    /// Checks preconditions, runs <c>lab.sh up</c> and parses its facts. On failure the script has already removed
    /// what it created; this still runs <c>lab.sh down</c> to be sure, then throws <see cref="LabException"/>.
    /// </summary>
    public static async Task<Lab> StartAsync(LabOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new LabOptions();
        LabPreconditions.Ensure();
        var script = Path.Combine(FindRepositoryRoot(), "deploy", "lab", "lab.sh");
        var id = options.Id ?? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
        string[] arguments =
        [
            script, "up", "--json", "--id", id,
            "--offloads", options.Offloads ? "on" : "off",
            "--sink", options.Sink == LabSink.Ifb ? "ifb" : "assistant",
            "--fake-range", options.FakeRange,
            "--onlines", options.Onlines.ToString(CultureInfo.InvariantCulture),
            "--target-port", options.TargetPort.ToString(CultureInfo.InvariantCulture),
            .. (options.Ipv6 ? ["--ipv6"] : Array.Empty<string>()),
        ];
        var environment = options.InjectFailureAfter is { } step
            ? new Dictionary<string, string> { ["LAB_INJECT_FAILURE"] = step }
            : null;

        // Guard first: if this host dies from here on, even by SIGKILL, the guard takes the lab down.
        LabCleanup.RegisterLab(id, script);
        var guardPid = LabCleanup.StartGuard(id, script);
        LabExecResult result;
        try
        {
            result = await CommandRunner.RunAsync("bash", arguments, options.StartTimeout, environment, cancellationToken);
        }
        catch
        {
            Abandon(id, script, guardPid);
            throw;
        }

        if (!result.Succeeded)
        {
            Abandon(id, script, guardPid);
            throw new LabException($"lab.sh up --id {id} failed with exit code {result.ExitCode}:\n{result.StdErr}");
        }

        try
        {
            return new Lab(script, guardPid, options, LabFacts.Parse(result.StdOut));
        }
        catch (Exception ex) when (ex is LabException or FormatException)
        {
            Abandon(id, script, guardPid);
            throw;
        }
    }

    /// <summary>The folder holding ReplayCluster.sln, found by walking up from the test binaries.</summary>
    public static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ReplayCluster.sln")))
            {
                return dir.FullName;
            }
        }

        throw new LabException($"No ReplayCluster.sln above {AppContext.BaseDirectory}.");
    }

    /// <summary>The namespace of <paramref name="role"/>.</summary>
    public string Namespace(LabRole role) => role switch
    {
        LabRole.Client => ClientNamespace,
        LabRole.Online => OnlineNamespace,
        LabRole.Target => TargetNamespace,
        LabRole.Assistant => AssistantNamespace,
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, null),
    };

    /// <summary>Runs a command to completion inside <paramref name="role"/>'s namespace (default timeout 10 s).</summary>
    public Task<LabExecResult> ExecAsync(LabRole role, IEnumerable<string> command, TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        ExecInAsync(Namespace(role), command, timeout, cancellationToken);

    /// <summary>Runs a command to completion inside one of this lab's namespaces (default timeout 10 s).</summary>
    public Task<LabExecResult> ExecInAsync(string @namespace, IEnumerable<string> command, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        EnsureOwnNamespace(@namespace);
        return CommandRunner.RunAsync("ip", ["netns", "exec", @namespace, .. command], timeout ?? TimeSpan.FromSeconds(10), cancellationToken: cancellationToken);
    }

    /// <summary>Starts a long-running command in <paramref name="role"/>'s namespace; killed when the lab is disposed.</summary>
    public LabProcess StartProcess(LabRole role, IReadOnlyList<string> command) => StartProcessIn(Namespace(role), command);

    /// <summary>Starts a long-running command in one of this lab's namespaces; killed when the lab is disposed.</summary>
    public LabProcess StartProcessIn(string @namespace, IReadOnlyList<string> command)
    {
        EnsureOwnNamespace(@namespace);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var process = LabProcess.Start(@namespace, command);
        lock (_gate)
        {
            _processes.Add(process);
        }

        LabCleanup.RegisterProcess(process);
        return process;
    }

    /// <summary>
    /// Runs curl from <paramref name="from"/> (the client by default) with <c>--max-time</c>
    /// (<paramref name="maxTime"/>, default 2 s). Extra arguments go before the URL.
    /// </summary>
    public async Task<CurlResult> CurlAsync(
        string url,
        TimeSpan? maxTime = null,
        LabRole from = LabRole.Client,
        IEnumerable<string>? extraArguments = null,
        CancellationToken cancellationToken = default)
    {
        const string Marker = "\n@@rc-http-status=";
        var seconds = (maxTime ?? TimeSpan.FromSeconds(2)).TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
        var result = await ExecAsync(
            from,
            ["curl", "-sS", "--max-time", seconds, "-w", Marker.Replace("\n", "\\n", StringComparison.Ordinal) + "%{http_code}", .. extraArguments ?? [], url],
            TimeSpan.FromSeconds(double.Parse(seconds, CultureInfo.InvariantCulture) + 10),
            cancellationToken);
        var at = result.StdOut.LastIndexOf(Marker, StringComparison.Ordinal);
        var status = at >= 0 && int.TryParse(result.StdOut.AsSpan(at + Marker.Length).Trim(), CultureInfo.InvariantCulture, out var code) ? code : 0;
        return new CurlResult(result.ExitCode, status, at >= 0 ? result.StdOut[..at] : result.StdOut, result.StdErr);
    }

    /// <summary>
    /// Runs <c>wrk -t1</c> from the client against the online nginx for <paramref name="duration"/> (whole seconds,
    /// at least 1). With <paramref name="keepAlive"/> false every request carries <c>Connection: close</c>.
    /// </summary>
    public async Task<WrkResult> RunWrkAsync(int connections, TimeSpan duration, string path = "/", bool keepAlive = true, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(connections, 1);
        var seconds = Math.Max(1, (int)Math.Ceiling(duration.TotalSeconds));
        List<string> command = ["wrk", "-t1", $"-c{connections}", $"-d{seconds}s", "--timeout", "2s"];
        if (!keepAlive)
        {
            command.AddRange(["-H", "Connection: close"]);
        }

        command.Add($"http://{OnlineIp}:{OnlineNginxPort}{path}");
        var result = await ExecAsync(LabRole.Client, command, TimeSpan.FromSeconds(seconds + 15), cancellationToken);
        result.EnsureSuccess("wrk");
        return WrkResult.Parse(result.StdOut);
    }

    /// <summary>Parses the whole access log of the online host or the target.</summary>
    public IReadOnlyList<AccessLogEntry> ReadAccessLog(LabRole role)
    {
        var path = role switch
        {
            LabRole.Online => OnlineAccessLog,
            LabRole.Target => TargetAccessLog,
            _ => throw new ArgumentOutOfRangeException(nameof(role), role, "Only the online host and the target run nginx."),
        };
        return [.. ReadSharedLines(path).Select(AccessLogEntry.Parse)];
    }

    /// <summary>Parses the whole access log of one online host (any of <see cref="Onlines"/>, not only the first).</summary>
    public IReadOnlyList<AccessLogEntry> ReadAccessLog(LabOnlineHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        return [.. ReadSharedLines(host.AccessLog).Select(AccessLogEntry.Parse)];
    }

    /// <summary>
    /// Waits until the online access log stops growing for <paramref name="quiet"/> (nginx logs a request when it
    /// finishes, so a count read right after the load ends can be short) and returns the line count.
    /// </summary>
    public async Task<int> WaitForStableOnlineRequestCountAsync(TimeSpan quiet, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var deadline = DateTime.UtcNow + timeout;
        var last = OnlineNginxRequestCount;
        var stableSince = DateTime.UtcNow;
        while (DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, cancellationToken);
            var now = OnlineNginxRequestCount;
            if (now != last)
            {
                last = now;
                stableSince = DateTime.UtcNow;
            }
            else if (DateTime.UtcNow - stableSince >= quiet)
            {
                return now;
            }
        }

        throw new TimeoutException($"The online access log was still growing after {timeout.TotalSeconds:0.#} s ({last} lines).");
    }

    /// <summary>Stops the processes this lab started (SIGTERM, then SIGKILL) and runs <c>lab.sh down</c>.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        LabProcess[] processes;
        lock (_gate)
        {
            processes = [.. _processes];
            _processes.Clear();
        }

        foreach (var process in processes)
        {
            try
            {
                await process.DisposeAsync();
            }
            catch (Exception ex) when (ex is LabException or TimeoutException)
            {
                // lab.sh down below kills whatever is still inside the namespaces.
            }

            LabCleanup.UnregisterProcess(process);
        }

        var result = await CommandRunner.RunAsync("bash", [_script, "down", "--id", Id], TimeSpan.FromSeconds(30));
        LabCleanup.StopGuard(_guardPid);
        LabCleanup.UnregisterLab(Id);
        result.EnsureSuccess($"lab.sh down --id {Id}");
    }

    private static void Abandon(string id, string script, int guardPid)
    {
        LabCleanup.Down(id, script);
        LabCleanup.StopGuard(guardPid);
        LabCleanup.UnregisterLab(id);
    }

    private static int CountLines(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        Span<byte> buffer = stackalloc byte[64 * 1024];
        var count = 0;
        int read;
        while ((read = stream.Read(buffer)) > 0)
        {
            count += buffer[..read].Count((byte)'\n');
        }

        return count;
    }

    private static IEnumerable<string> ReadSharedLines(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
        {
            // A line nginx is still writing has no newline yet; the parser would reject a torn tail.
            if (line.Length > 0)
            {
                yield return line;
            }
        }
    }

    private void EnsureOwnNamespace(string @namespace)
    {
        if (!@namespace.StartsWith($"rc-{Id}-", StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{@namespace}' is not a namespace of lab {Id}.", nameof(@namespace));
        }
    }

}

/// <summary>One online host of a lab.</summary>
/// <param name="Index">1-based; host 1 is the one <c>Lab.Online*</c> describes.</param>
/// <param name="Namespace">Its namespace (<c>rc-ID-online</c>, <c>rc-ID-online2</c>, ...).</param>
/// <param name="Ip">Its address as seen by the client (nginx listens here).</param>
/// <param name="UplinkIp">Its address toward the target.</param>
/// <param name="Interface">Its interface facing the client: where capture nodes listen.</param>
/// <param name="UplinkInterface">Its interface facing the target.</param>
/// <param name="ClientIp">The client's address on this host's subnet.</param>
/// <param name="ClientInterface">The client's interface toward this host.</param>
/// <param name="TargetIp">The target's address as seen by this host.</param>
/// <param name="NginxPid">Its nginx master PID.</param>
/// <param name="AccessLog">Its nginx access log.</param>
public sealed record LabOnlineHost(
    int Index,
    string Namespace,
    IPAddress Ip,
    IPAddress UplinkIp,
    string Interface,
    string UplinkInterface,
    IPAddress ClientIp,
    string ClientInterface,
    IPAddress TargetIp,
    int NginxPid,
    string AccessLog);
