using ReplayCluster.Lab.Tests.Lab;

namespace ReplayCluster.Lab.Tests.Nodes;

/// <summary>
/// Starts the node executables (<c>replaycluster-coordinator</c>, <c>-capture</c>, <c>-intercept</c>) as real
/// processes inside lab namespaces, with <c>dotnet NODE.dll</c> from the build that matches the running tests
/// (Debug or Release). Tests start nodes through <see cref="Lab.ReplayLab"/>, which uses this and waits on <c>/readyz</c>.
/// </summary>
public static class NodeProcesses
{
    /// <summary>The node names <see cref="StartNode(Lab.Lab, string, string, string[])"/> accepts.</summary>
    public static IReadOnlyList<string> Nodes { get; } = ["coordinator", "capture", "intercept"];

    /// <summary>
    /// The build configuration of the running tests: the folder name above <c>net10.0</c> in
    /// <see cref="AppContext.BaseDirectory"/> (<c>.../bin/Release/net10.0/</c> gives <c>Release</c>).
    /// </summary>
    public static string Configuration
    {
        get
        {
            var framework = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            return framework.Parent?.Name is { Length: > 0 } name
                ? name
                : throw new LabException($"Cannot derive the build configuration from {AppContext.BaseDirectory}.");
        }
    }

    /// <summary>
    /// Path of <c>replaycluster-NODE.dll</c> under <c>src/NODE/bin/CONFIGURATION/net10.0/</c>, or in
    /// <see cref="PrecompiledFolder"/> when tests/run.sh made one (except for the tests that measure cost); throws
    /// <see cref="LabException"/> naming the path when it does not exist.
    /// </summary>
    public static string LocateBinary(string node)
    {
        var project = ProjectFolder(node);
        if (PrecompiledFolder is { } precompiled && !MeasuresCost)
        {
            var published = Path.Combine(precompiled, project, $"replaycluster-{node}.dll");
            return File.Exists(published)
                ? published
                : throw new LabException($"{published} does not exist: {PrecompiledVariable} names a folder tests/precompile-lab-nodes.sh did not fill.");
        }

        var framework = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Name;
        var path = Path.Combine(Lab.Lab.FindRepositoryRoot(), "src", project, "bin", Configuration, framework, $"replaycluster-{node}.dll");
        return File.Exists(path)
            ? path
            : throw new LabException($"{path} does not exist: build the solution in {Configuration} first.");
    }

    /// <summary>The environment variable that names a folder of precompiled nodes (see <see cref="PrecompiledFolder"/>).</summary>
    public const string PrecompiledVariable = "REPLAYCLUSTER_LAB_PRECOMPILED";

    /// <summary>
    /// A folder with each node's build output precompiled (ReadyToRun; <c>FOLDER/Coordinator/replaycluster-coordinator.dll</c>, ...),
    /// made from this build by tests/precompile-lab-nodes.sh, which tests/run.sh runs beside the unit tests; null to run
    /// the build output. A node spends most of a
    /// short lab test starting: the JIT and the runtime's type loading were ~65 % of a node's CPU in a three-node test
    /// (perf, 2026-12-03), and precompiled code skips most of the JIT. The tests that measure latencies, pace or drains
    /// (<see cref="MeasuresCost"/>) run the build output, as users run it (precompiled code is slower on the hot
    /// path: bench/README.md, "ReadyToRun for a cheaper start").
    /// </summary>
    public static string? PrecompiledFolder => Environment.GetEnvironmentVariable(PrecompiledVariable) is { Length: > 0 } folder ? folder : null;

    /// <summary>
    /// The running test measures what the product costs (latencies, pace, drains): its nodes run as users run them, not
    /// tiered and not precompiled. True in a class marked <see cref="MeasuresNodeCostAttribute"/> and in
    /// <see cref="Replay.FloodCollection"/> (whose nodes its collection fixture starts, outside any test class).
    /// </summary>
    private static bool MeasuresCost =>
        MeasuresCostIn(TestContext.Current.TestCollection?.TestCollectionDisplayName, (TestContext.Current.TestClass as Xunit.v3.IXunitTestClass)?.Class);

    /// <summary>Whether a test of <paramref name="testClass"/> in the collection named <paramref name="collection"/> measures cost.</summary>
    internal static bool MeasuresCostIn(string? collection, Type? testClass) =>
        collection is Replay.FloodCollection.Name || testClass?.IsDefined(typeof(MeasuresNodeCostAttribute), inherit: false) == true;

    /// <summary>Starts <paramref name="node"/> with <paramref name="args"/> in <paramref name="role"/>'s namespace.</summary>
    public static LabProcess StartNode(Lab.Lab lab, LabRole role, string node, params string[] args)
    {
        ArgumentNullException.ThrowIfNull(lab);
        return StartNode(lab, lab.Namespace(role), node, args);
    }

    /// <summary>
    /// Starts <paramref name="node"/> with <paramref name="args"/> in one of the lab's namespaces; the lab kills it
    /// when disposed if the test has not stopped it. Output (the node logs one line per event to stdout) is
    /// available through <see cref="LabProcess.Lines"/> and <see cref="WaitForLogAsync"/>.
    /// </summary>
    /// <remarks>
    /// Nodes run mutual TLS, as they do by default: each gets a certificate of the lab's cluster CA for its role
    /// (<see cref="ClusterTlsArguments"/>) unless <paramref name="args"/> already say something about
    /// <c>replaycluster.cluster.tls</c> (a test's own certificate, or <c>tls = off</c>). REPLAYCLUSTER_LAB_TLS=off
    /// in the environment runs them without TLS instead (to compare, e.g. timings; the rogue-node test then fails).
    /// </remarks>
    public static LabProcess StartNode(Lab.Lab lab, string @namespace, string node, params string[] args)
    {
        ArgumentNullException.ThrowIfNull(lab);
        ArgumentNullException.ThrowIfNull(args);
        var dll = LocateBinary(node);
        string[] tls = args.Any(a => a.Contains("replaycluster.cluster.tls", StringComparison.Ordinal)) ? []
            : Environment.GetEnvironmentVariable("REPLAYCLUSTER_LAB_TLS") == "off" ? ["--set", "replaycluster.cluster.tls = off"]
            : ClusterTlsArguments(node);

        // The coordinator keeps its API token in the lab's folder, not in /var/lib of the machine running the tests.
        string[] token = node == "coordinator" && !args.Contains("--token-file") ? ["--token-file", CoordinatorApi.TokenFile(lab)] : [];
        return lab.StartProcessIn(@namespace, [.. Dotnet, dll, .. tls, .. args, .. token]);
    }

    /// <summary>
    /// <c>dotnet</c> as the node and CLI processes of the running test start it. The product turns tiered compilation
    /// off (Directory.Build.props: an idle node's first minutes and a loaded node's CPU per request); a node
    /// then compiles every method it runs fully optimised as it starts, ~2.4 s of CPU and 2.0 s to <c>/readyz</c> (a
    /// coordinator on this 2-core machine, 3 runs each, 2026-12-02), against 1.1 s and 1.0 s with tiering. The lab tests
    /// start ~280 node processes and most test behaviour, not cost, so their nodes start tiered (the environment
    /// overrides the runtimeconfig): except where a test measures latencies, pace or drains (<see cref="MeasuresCost"/>),
    /// which runs the product's own setting. REPLAYCLUSTER_LAB_JIT=product runs every test with it.
    /// Tiered, a short-lived node still spent about half its CPU in the runtime's background compiler, recompiling at
    /// tier 1 (and first with PGO instrumentation) methods that were merely called 30 times during start-up. Without
    /// PGO and with a threshold of 1,000 calls the nodes of a three-node test (<c>ClusterLabTests</c>) used 5.6-5.9 s of
    /// CPU against 7.3-9.3 s, and 3.7-4.0 s with <see cref="PrecompiledFolder"/> too (two runs each, 2026-12-03).
    /// Without W^X (the runtime maps every page of code it writes twice, writable and executable, and flips them as it
    /// compiles: page-table work that a paravirtualised VM pays dearly for) a precompiled coordinator spent 0.73-0.79 s
    /// of CPU in its first 5 s against 0.81-1.10 s (4 alternating runs each, 2026-12-03). The product keeps W^X on:
    /// it is hardening for a daemon on a production host, and its cost is paid once, at start.
    /// </summary>
    public static string[] Dotnet =>
        Environment.GetEnvironmentVariable("REPLAYCLUSTER_LAB_JIT") == "product" || MeasuresCost
            ? ["dotnet"]
            : ["env", .. QuickStart, "dotnet"];

    /// <summary>
    /// The environment that makes a node start cheaply (see <see cref="Dotnet"/>); also given to scripts that start nodes
    /// themselves (<c>deploy/demo.sh</c> in DemoScriptTests).
    /// </summary>
    public static IReadOnlyList<string> QuickStart { get; } = ["DOTNET_TieredCompilation=1", "DOTNET_TieredPGO=0", "DOTNET_TC_CallCountThreshold=1000", "DOTNET_EnableWriteXorExecute=0"];

    /// <summary>
    /// <c>--config FILE</c> that gives a <paramref name="node"/> (coordinator, capture or intercept) its certificate
    /// of the test run's cluster CA. The CA and one certificate per role are made once per test run, with this
    /// build's <c>replaycluster-coordinator certs</c>, into a folder of the run (<see cref="CreateRunCertificates"/>).
    /// With <paramref name="ownerUid"/>, a copy owned by that user (files 0600): an unprivileged node must read its key.
    /// </summary>
    /// <remarks>
    /// One CA for every lab of the run, not one per lab: labs are namespaces linked only to themselves, so a node
    /// of one lab never meets a member of another, and the tests that need a stranger (a foreign CA, another role)
    /// make it themselves. Per lab it was four to six starts of the coordinator's CLI (89 in a lab run, ~19 s of CPU
    /// with the bash around them, 2026-12-03) for certificates no test told apart.
    /// </remarks>
    public static string[] ClusterTlsArguments(string node, int? ownerUid = null)
    {
        var name = ProjectFolder(node).ToLowerInvariant();
        lock (CertificatesLock)
        {
            // Made under the lock, never cached when they fail: a failure (a CLI start that timed out on a loaded
            // machine) fails the test that met it, and the next test tries again.
            var directory = _runCertificates ??= CreateRunCertificates();
            if (ownerUid is not { } uid)
            {
                return ["--config", Path.Combine(directory, $"{name}.hocon")];
            }

            if (!OwnedCertificates.TryGetValue(uid, out var copy))
            {
                copy = CopyFor(directory, uid);
                OwnedCertificates[uid] = copy;
            }

            return ["--config", Path.Combine(copy, $"{name}.hocon")];
        }
    }

    private static readonly Lock CertificatesLock = new();

    /// <summary>The run's certificate folder (see <see cref="CreateRunCertificates"/>); null until made.</summary>
    private static string? _runCertificates;

    /// <summary>Per user id, a copy of the run's certificates that user owns.</summary>
    private static readonly Dictionary<int, string> OwnedCertificates = [];

    /// <summary>
    /// Makes the run's CA and one certificate per role in a new folder that is removed when the test process exits,
    /// under LAB_STATE_DIR when tests/run.sh set it (0755; it removes that even if this process dies; a dot folder,
    /// so its clean-up loop over lab folders passes it by), else in a temporary folder. Either way others may enter
    /// it: an unprivileged node reads its copy (<see cref="CopyFor"/>).
    /// </summary>
    private static string CreateRunCertificates()
    {
        var root = Environment.GetEnvironmentVariable("LAB_STATE_DIR") is { Length: > 0 } state && Directory.Exists(state)
            ? Directory.CreateDirectory(Path.Combine(state, $".cluster-tls-{Environment.ProcessId}-{Guid.NewGuid():N}")).FullName
            : Directory.CreateTempSubdirectory("replaycluster-lab-tls-").FullName;
        if (OperatingSystem.IsLinux()) // the lab runs nowhere else (LabPreconditions)
        {
            File.SetUnixFileMode(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }

        AppDomain.CurrentDomain.ProcessExit += (_, _) => RemoveQuietly(root);
        try
        {
            var directory = Path.Combine(root, "tls");
            string[] cli = [.. Dotnet, LocateBinary("coordinator"), "certs"];
            Certificates(cli, ["init", "--dir", directory]).GetAwaiter().GetResult();
            Task.WhenAll(Nodes.Select(async node =>
            {
                await Certificates(cli, ["issue", "--dir", directory, "--role", node, "--name", node]);
                await File.WriteAllTextAsync(Path.Combine(directory, $"{node}.hocon"),
                    $"replaycluster.cluster.tls {{\n  ca-certificate = \"{directory}/ca.crt\"\n  certificate = \"{directory}/{node}.crt\"\n  private-key = \"{directory}/{node}.key\"\n}}\n");
            })).GetAwaiter().GetResult();
            return directory;
        }
        catch
        {
            RemoveQuietly(root);
            throw;
        }

        static async Task Certificates(string[] cli, string[] arguments) =>
            (await CommandRunner.RunAsync(cli[0], [.. cli[1..], .. arguments], TimeSpan.FromSeconds(60))).EnsureSuccess($"certs {string.Join(' ', arguments)}");

        static void RemoveQuietly(string folder)
        {
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException)
            {
                // Gone already (tests/run.sh removes LAB_STATE_DIR, a failed attempt removed its own).
            }
        }
    }

    private static string CopyFor(string directory, int uid)
    {
        var copy = $"{directory}-uid{uid}";
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.GetFiles(directory).Where(f => !f.EndsWith("ca.key", StringComparison.Ordinal)))
        {
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)), overwrite: true);
        }

        foreach (var hocon in Directory.GetFiles(copy, "*.hocon"))
        {
            File.WriteAllText(hocon, File.ReadAllText(hocon).Replace(directory + "/", copy + "/", StringComparison.Ordinal));
        }

        CommandRunner.RunAsync("chown", ["-R", $"{uid}:{uid}", copy], TimeSpan.FromSeconds(10)).GetAwaiter().GetResult().EnsureSuccess("chown");
        return copy;
    }

    /// <summary>
    /// Waits for a log line containing all of <paramref name="fragments"/> (ordinal) and returns it: for what a node
    /// reports as an event (a plan followed, a message refused, a slice reclaimed), never for readiness, which
    /// <see cref="Lab.LabNode.WaitReadyAsync"/> reads from the node's <c>/readyz</c>.
    /// </summary>
    public static Task<string> WaitForLogAsync(this LabProcess process, TimeSpan timeout, CancellationToken cancellationToken, params string[] fragments)
    {
        ArgumentNullException.ThrowIfNull(process);
        return process.WaitForOutputAsync(line => fragments.All(f => line.Contains(f, StringComparison.Ordinal)), timeout, cancellationToken);
    }

    private static string ProjectFolder(string node) => node switch
    {
        "coordinator" => "Coordinator",
        "capture" => "Capture",
        "intercept" => "Intercept",
        _ => throw new ArgumentOutOfRangeException(nameof(node), node, $"Expected one of: {string.Join(", ", Nodes)}."),
    };
}
