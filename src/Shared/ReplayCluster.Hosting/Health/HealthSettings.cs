using Akka.Configuration;
using ReplayCluster.Configuration;

namespace ReplayCluster.Health;

/// <summary>
/// <c>replaycluster.ROLE.health</c>: where the node answers <c>/healthz</c> and <c>/readyz</c> (see hocon/common.hocon
/// for why it is off by default).
/// </summary>
internal sealed record HealthSettings
{
    /// <summary>TCP port on the node's hostname (<c>replaycluster.node.hostname</c>); 0 = off (the default).</summary>
    public int Port { get; init; }

    /// <summary>The setting's path for <paramref name="role"/>.</summary>
    public static string PortSetting(string role) => $"replaycluster.{role}.health.port";

    /// <summary>Reads the role's health settings; a missing section is off.</summary>
    /// <exception cref="NodeConfigurationException">The port is not 0-65535.</exception>
    public static HealthSettings Read(string role, Config config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var path = PortSetting(role);
        var text = config.HasPath(path) ? config.GetString(path) : "0";
        return int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) && port <= 65535
            ? new HealthSettings { Port = port }
            : throw NodeConfigurationException.ForSetting(path, $"'{text}' is not a port number (0 = off, 1-65535)");
    }
}
