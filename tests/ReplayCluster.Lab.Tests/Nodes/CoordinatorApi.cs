using LabHost = ReplayCluster.Lab.Tests.Lab.Lab;

namespace ReplayCluster.Lab.Tests.Nodes;

/// <summary>
/// How lab tests reach a coordinator's HTTP API as a user would: the coordinator keeps its bearer token in the lab's
/// state folder (<see cref="NodeProcesses.StartNode(LabHost, string, string, string[])"/> passes <c>--token-file</c>),
/// curl sends it, and the client commands read the same file.
/// </summary>
public static class CoordinatorApi
{
    /// <summary>The API as the coordinator serves it by default (loopback in the target namespace).</summary>
    public const string Url = "http://127.0.0.1:8080";

    /// <summary>The token file of the lab's coordinator (created by its first start, reused by restarts).</summary>
    public static string TokenFile(LabHost lab)
    {
        ArgumentNullException.ThrowIfNull(lab);
        return Path.Combine(lab.StateDirectory, "api-token");
    }

    /// <summary>The token; the coordinator must have started once (it writes the file before it listens).</summary>
    public static string Token(LabHost lab) => File.ReadAllText(TokenFile(lab)).Trim();

    /// <summary>
    /// <c>curl</c> with the bearer token and <paramref name="arguments"/>; a POST, PUT or PATCH also declares a JSON body,
    /// as the API requires of every change.
    /// </summary>
    public static string[] Curl(LabHost lab, params string[] arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var changes = arguments.Any(a => a is "POST" or "PUT" or "PATCH" or "DELETE") || arguments.Contains("--data");
        var declared = arguments.Any(a => a.StartsWith("Content-Type:", StringComparison.OrdinalIgnoreCase));
        return ["curl", "-H", $"Authorization: Bearer {Token(lab)}", .. changes && !declared ? ["-H", "Content-Type: application/json"] : Array.Empty<string>(), .. arguments];
    }

    /// <summary><c>replaycluster-coordinator ARGS --token-file FILE</c>: a client command (status, plan, run, report).</summary>
    public static string[] Cli(LabHost lab, params string[] arguments) =>
        [.. NodeProcesses.Dotnet, NodeProcesses.LocateBinary("coordinator"), .. arguments, "--token-file", TokenFile(lab)];
}
