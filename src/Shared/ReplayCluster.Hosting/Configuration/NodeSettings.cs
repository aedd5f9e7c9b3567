namespace ReplayCluster.Configuration;

/// <summary>
/// The validated cluster settings of one node, read from the layered HOCON
/// (<c>replaycluster.node.*</c> and <c>replaycluster.cluster.*</c>). Immutable; produced only by
/// <see cref="NodeSettingsReader"/>, which names the offending setting when a value is bad.
/// </summary>
public sealed record NodeSettings
{
    /// <summary>The node's role, one of <see cref="NodeRoles"/>.</summary>
    public required string Role { get; init; }

    /// <summary>Actor system name; every node of one cluster must agree. Defaults to <c>replaycluster</c>.</summary>
    public required string SystemName { get; init; }

    /// <summary>Address the cluster transport binds to. Defaults to <c>127.0.0.1</c>.</summary>
    public required string Hostname { get; init; }

    /// <summary>Address other nodes use to reach this one; equals <see cref="Hostname"/> unless set.</summary>
    public required string PublicHostname { get; init; }

    /// <summary>Cluster transport port; 0 picks a free port. The coordinator defaults to 4053.</summary>
    public required int Port { get; init; }

    /// <summary>Seed node addresses in full form (<c>akka.ssl.tcp://system@host:port</c>, <c>akka.tcp://</c> without TLS).</summary>
    public required IReadOnlyList<string> Seeds { get; init; }

    /// <summary>How often a node that has not joined yet says so. Defaults to 5 s.</summary>
    public required TimeSpan JoinWarningInterval { get; init; }

    /// <summary>Mutual TLS on the cluster transport. Defaults to on; the reader demands its files.</summary>
    public required ClusterTlsSettings Tls { get; init; }
}
