using ReplayCluster.Lab.Tests.Lab;

namespace ReplayCluster.Lab.Tests.Nodes;

/// <summary>
/// Starts the node executables (<c>replaycluster-coordinator</c>, <c>-capture</c>, <c>-intercept</c>) as real
/// processes inside lab namespaces, with <c>dotnet NODE.dll</c> from the build that matches the running tests
/// (Debug or Release), and waits for their log lines.
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
    /// Path of <c>replaycluster-NODE.dll</c> under <c>src/NODE/bin/CONFIGURATION/net10.0/</c>; throws
    /// <see cref="LabException"/> naming the path when it has not been built.
    /// </summary>
    public static string LocateBinary(string node)
    {
        var project = ProjectFolder(node);
        var framework = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Name;
        var path = Path.Combine(Lab.Lab.FindRepositoryRoot(), "src", project, "bin", Configuration, framework, $"replaycluster-{node}.dll");
        return File.Exists(path)
            ? path
            : throw new LabException($"{path} does not exist: build the solution in {Configuration} first.");
    }

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
    public static LabProcess StartNode(Lab.Lab lab, string @namespace, string node, params string[] args)
    {
        ArgumentNullException.ThrowIfNull(lab);
        ArgumentNullException.ThrowIfNull(args);
        var dll = LocateBinary(node);

        // The coordinator keeps its API token in the lab's folder, not in /var/lib of the machine running the tests.
        string[] token = node == "coordinator" && !args.Contains("--token-file") ? ["--token-file", CoordinatorApi.TokenFile(lab)] : [];
        return lab.StartProcessIn(@namespace, ["dotnet", dll, .. args, .. token]);
    }

    /// <summary>Waits for a log line containing all of <paramref name="fragments"/> (ordinal) and returns it.</summary>
    public static Task<string> WaitForLogAsync(this LabProcess process, TimeSpan timeout, CancellationToken cancellationToken, params string[] fragments)
    {
        ArgumentNullException.ThrowIfNull(process);
        return process.WaitForOutputAsync(line => fragments.All(f => line.Contains(f, StringComparison.Ordinal)), timeout, cancellationToken);
    }

    /// <summary>Waits for the node's "Joined cluster as" line; fails with its output otherwise.</summary>
    public static Task<string> WaitJoinedAsync(this LabProcess node, CancellationToken cancellationToken) =>
        node.WaitForLogAsync(TimeSpan.FromSeconds(45), cancellationToken, "Joined cluster as");

    private static string ProjectFolder(string node) => node switch
    {
        "coordinator" => "Coordinator",
        "capture" => "Capture",
        "intercept" => "Intercept",
        _ => throw new ArgumentOutOfRangeException(nameof(node), node, $"Expected one of: {string.Join(", ", Nodes)}."),
    };
}
