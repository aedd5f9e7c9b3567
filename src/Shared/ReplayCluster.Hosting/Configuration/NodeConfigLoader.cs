using System.Globalization;
using System.Text;
using Akka.Configuration;

namespace ReplayCluster.Configuration;

/// <summary>
/// Builds a node's configuration from the layered sources: reference HOCON (common, then role),
/// <c>--config</c> files, environment, command line, <c>--set</c>. Nothing here starts an actor
/// system, so a bad value fails before any socket opens.
/// </summary>
internal static class NodeConfigLoader
{
    /// <summary>Folder of the reference HOCON shipped beside the node binaries.</summary>
    public static string DefaultHoconDirectory => Path.Combine(AppContext.BaseDirectory, "hocon");

    /// <summary>Loads, layers and validates the configuration of a node with the given role.</summary>
    /// <exception cref="NodeConfigurationException">A file is missing or malformed, or a value is invalid.</exception>
    public static NodeConfiguration Load(string role, NodeConfigOverrides overrides, string? hoconDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(overrides);
        if (!NodeRoles.All.Contains(role))
        {
            throw new ArgumentOutOfRangeException(nameof(role), role, "Unknown node role.");
        }

        var directory = hoconDirectory ?? DefaultHoconDirectory;
        var config = ParseFile(Path.Combine(directory, $"{role}.hocon"))
            .WithFallback(ParseFile(Path.Combine(directory, "common.hocon")));

        foreach (var file in overrides.ConfigFiles)
        {
            config = ParseFile(file).WithFallback(config);
        }

        config = Parse(BuildOverrideHocon(overrides), "command line and environment").WithFallback(config);

        foreach (var assignment in overrides.Sets)
        {
            config = ParseAssignment(assignment).WithFallback(config);
        }

        var settings = NodeSettingsReader.Read(role, config, overrides);
        return new NodeConfiguration(settings, BuildAkkaHocon(settings).WithFallback(config));
    }

    /// <summary>Writes a HOCON string literal; every value we splice into HOCON goes through here.</summary>
    internal static string Quote(string value)
    {
        var builder = new StringBuilder(value.Length + 2).Append('"');
        foreach (var c in value)
        {
            _ = c switch
            {
                '"' => builder.Append("\\\""),
                '\\' => builder.Append("\\\\"),
                '\n' => builder.Append("\\n"),
                '\r' => builder.Append("\\r"),
                '\t' => builder.Append("\\t"),
                _ => builder.Append(c),
            };
        }

        return builder.Append('"').ToString();
    }

    private static string BuildOverrideHocon(NodeConfigOverrides overrides)
    {
        var hocon = new StringBuilder();
        if (overrides.Hostname is not null)
        {
            hocon.Append("replaycluster.node.hostname = ").AppendLine(Quote(overrides.Hostname));
        }

        if (overrides.PublicHostname is not null)
        {
            hocon.Append("replaycluster.node.public-hostname = ").AppendLine(Quote(overrides.PublicHostname));
        }

        if (overrides.Port is not null)
        {
            // Quoted on purpose: a non-numeric port must reach the validator, which names it.
            hocon.Append("replaycluster.node.port = ").AppendLine(Quote(overrides.Port));
        }

        if (overrides.Seeds.Count > 0)
        {
            hocon.Append("replaycluster.cluster.seeds = [")
                .AppendJoin(", ", overrides.Seeds.Select(Quote))
                .AppendLine("]");
        }

        return hocon.ToString();
    }

    private static Config BuildAkkaHocon(NodeSettings settings)
    {
        var hocon = new StringBuilder()
            .Append("akka.remote.dot-netty.tcp.hostname = ").AppendLine(Quote(settings.Hostname))
            .Append("akka.remote.dot-netty.tcp.public-hostname = ").AppendLine(Quote(settings.PublicHostname))
            .Append("akka.remote.dot-netty.tcp.port = ").AppendLine(settings.Port.ToString(CultureInfo.InvariantCulture))
            // The certificate and the CA check travel in a DotNettySslSetup (ClusterTransportSecurity), not in HOCON.
            .Append("akka.remote.dot-netty.tcp.enable-ssl = ").AppendLine(settings.Tls.Enabled ? "on" : "off")
            .Append("akka.cluster.seed-nodes = [")
            .AppendJoin(", ", settings.Seeds.Select(Quote))
            .AppendLine("]");
        return ConfigurationFactory.ParseString(hocon.ToString());
    }

    private static Config ParseAssignment(string assignment)
    {
        var equals = assignment.IndexOf('=', StringComparison.Ordinal);
        if (equals <= 0)
        {
            throw NodeConfigurationException.ForSetting(
                $"--set {assignment}", "expected PATH=VALUE, e.g. --set akka.loglevel=DEBUG");
        }

        var path = assignment[..equals].Trim();
        var value = assignment[(equals + 1)..].Trim();
        if (HoconSyntaxCheck.FindProblem(value) is { } problem)
        {
            throw NodeConfigurationException.ForSetting($"--set {assignment}", $"not valid HOCON: {problem}");
        }

        try
        {
            var parsed = ConfigurationFactory.ParseString($"{path} = {value}");
            if (!parsed.HasPath(path))
            {
                throw NodeConfigurationException.ForSetting($"--set {assignment}", $"'{path}' is not a valid HOCON path");
            }

            return parsed;
        }
        catch (Exception ex) when (ex is not NodeConfigurationException)
        {
            throw NodeConfigurationException.ForSetting($"--set {assignment}", $"not valid HOCON: {ex.Message}", ex);
        }
    }

    private static Config ParseFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new NodeConfigurationException($"Configuration file '{path}' cannot be read: {ex.Message}", ex);
        }

        return Parse(text, path);
    }

    private static Config Parse(string text, string origin)
    {
        if (HoconSyntaxCheck.FindProblem(text) is { } problem)
        {
            throw new NodeConfigurationException($"Configuration '{origin}' is not valid HOCON: {problem}");
        }

        try
        {
            return ConfigurationFactory.ParseString(text);
        }
        catch (Exception ex)
        {
            throw new NodeConfigurationException($"Configuration '{origin}' is not valid HOCON: {ex.Message}", ex);
        }
    }
}
