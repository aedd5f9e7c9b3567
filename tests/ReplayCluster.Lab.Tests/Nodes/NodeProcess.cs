using ReplayCluster.Lab.Tests.Lab;
using LabHost = ReplayCluster.Lab.Tests.Lab.Lab;

namespace ReplayCluster.Lab.Tests.Nodes;

/// <summary>Starts ReplayCluster node executables as real processes inside lab namespaces.</summary>
public static class NodeProcess
{
    /// <summary>Starts <c>replaycluster-{node}</c> in <paramref name="role"/>'s namespace with <paramref name="arguments"/>.</summary>
    public static LabProcess Start(LabHost lab, LabRole role, string node, params string[] arguments)
    {
        ArgumentNullException.ThrowIfNull(lab);
        return lab.StartProcess(role, ["dotnet", BinaryPath(node), .. arguments]);
    }

    /// <summary>The node's dll, built in the same configuration (Debug/Release) as these tests.</summary>
    public static string BinaryPath(string node)
    {
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
            ? "Release"
            : "Debug";
        var project = char.ToUpperInvariant(node[0]) + node[1..];
        var path = Path.Combine(LabHost.FindRepositoryRoot(), "src", project, "bin", configuration, "net10.0", $"replaycluster-{node}.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"The {node} node is not built ({configuration}): dotnet build ReplayCluster.sln -c {configuration}", path);
    }

    /// <summary>Waits for the node's "Joined cluster as" line; fails with its output otherwise.</summary>
    public static Task<string> WaitJoinedAsync(LabProcess node, CancellationToken cancellationToken) =>
        node.WaitForOutputAsync(l => l.Contains("Joined cluster as", StringComparison.Ordinal), TimeSpan.FromSeconds(45), cancellationToken);
}
