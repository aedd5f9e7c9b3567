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
        var health = new SettingsSection(config, $"replaycluster.{role}.health");
        return new HealthSettings { Port = health.Has("port") ? health.Port("port", zeroMeans: "off") : 0 };
    }
}
