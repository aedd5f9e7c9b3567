namespace ReplayCluster.Configuration;

/// <summary>
/// Values given on the command line or in the environment, applied over the HOCON files.
/// A null property means "not given"; HOCON decides.
/// </summary>
public sealed record NodeConfigOverrides
{
    /// <summary>Extra HOCON files, applied in order over the reference configuration.</summary>
    public IReadOnlyList<string> ConfigFiles { get; init; } = [];

    /// <summary>Overrides <c>replaycluster.node.hostname</c>.</summary>
    public string? Hostname { get; init; }

    /// <summary>Overrides <c>replaycluster.node.public-hostname</c>.</summary>
    public string? PublicHostname { get; init; }

    /// <summary>Overrides <c>replaycluster.node.port</c>; kept as text so a bad value is reported by name.</summary>
    public string? Port { get; init; }

    /// <summary>Overrides <c>replaycluster.cluster.seeds</c> when not empty.</summary>
    public IReadOnlyList<string> Seeds { get; init; } = [];

    /// <summary>Free-form <c>PATH=VALUE</c> HOCON assignments, applied last.</summary>
    public IReadOnlyList<string> Sets { get; init; } = [];

    /// <summary>Names the source of each property for error messages, e.g. "--port" or "REPLAYCLUSTER_PORT".</summary>
    public IReadOnlyDictionary<string, string> Sources { get; init; } = new Dictionary<string, string>();

    /// <summary>The environment variables a node reads, and the setting each feeds.</summary>
    public static IReadOnlyList<(string Variable, string Setting, string Meaning)> EnvironmentVariables { get; } =
    [
        ("REPLAYCLUSTER_CONFIG", "--config", "extra HOCON files, separated by ':'"),
        ("REPLAYCLUSTER_HOSTNAME", "replaycluster.node.hostname", "bind address of the cluster transport"),
        ("REPLAYCLUSTER_PUBLIC_HOSTNAME", "replaycluster.node.public-hostname", "address advertised to other nodes"),
        ("REPLAYCLUSTER_PORT", "replaycluster.node.port", "cluster transport port"),
        ("REPLAYCLUSTER_SEEDS", "replaycluster.cluster.seeds", "seed nodes, HOST:PORT separated by ','"),
    ];

    /// <summary>
    /// Combines environment variables (lower precedence) with command-line values (higher precedence).
    /// </summary>
    public static NodeConfigOverrides FromEnvironment(Func<string, string?> getVariable, NodeConfigOverrides commandLine)
    {
        ArgumentNullException.ThrowIfNull(getVariable);
        ArgumentNullException.ThrowIfNull(commandLine);

        var sources = new Dictionary<string, string>(commandLine.Sources);
        string? Pick(string? fromCommandLine, string variable, string key)
        {
            if (fromCommandLine is not null)
            {
                return fromCommandLine;
            }

            var value = getVariable(variable);
            if (string.IsNullOrEmpty(value))
            {
                return null;
            }

            sources[key] = variable;
            return value;
        }

        var envFiles = SplitList(getVariable("REPLAYCLUSTER_CONFIG"), ':');
        var envSeeds = SplitList(getVariable("REPLAYCLUSTER_SEEDS"), ',');
        if (commandLine.Seeds.Count == 0 && envSeeds.Count > 0)
        {
            sources[nameof(Seeds)] = "REPLAYCLUSTER_SEEDS";
        }

        return commandLine with
        {
            ConfigFiles = [.. envFiles, .. commandLine.ConfigFiles],
            Hostname = Pick(commandLine.Hostname, "REPLAYCLUSTER_HOSTNAME", nameof(Hostname)),
            PublicHostname = Pick(commandLine.PublicHostname, "REPLAYCLUSTER_PUBLIC_HOSTNAME", nameof(PublicHostname)),
            Port = Pick(commandLine.Port, "REPLAYCLUSTER_PORT", nameof(Port)),
            Seeds = commandLine.Seeds.Count > 0 ? commandLine.Seeds : envSeeds,
            Sources = sources,
        };
    }

    /// <summary>Where a property's value came from, for error messages.</summary>
    internal string SourceOf(string property, string fallback) =>
        Sources.TryGetValue(property, out var source) ? source : fallback;

    private static List<string> SplitList(string? value, char separator) =>
        string.IsNullOrWhiteSpace(value)
            ? []
            : [.. value.Split(separator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
}
