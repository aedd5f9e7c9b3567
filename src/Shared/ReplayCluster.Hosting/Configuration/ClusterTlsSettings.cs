namespace ReplayCluster.Configuration;

/// <summary>
/// Mutual TLS on the cluster transport (<c>replaycluster.cluster.tls.*</c>). On by default: a node that
/// cannot prove, with a certificate signed by the cluster CA, that it belongs to the cluster can neither
/// join nor deliver a message. Produced by <see cref="NodeSettingsReader"/>, which checks that the files exist.
/// </summary>
public sealed record ClusterTlsSettings
{
    /// <summary>TLS switched off (development only; the node logs a warning at start).</summary>
    public static ClusterTlsSettings Off { get; } = new() { Enabled = false };

    /// <summary>Whether the cluster transport runs mutual TLS. Defaults to <c>true</c>.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>PEM file of the cluster CA certificate(s) peers must chain to; several during a CA rotation.</summary>
    public string CaCertificatePath { get; init; } = string.Empty;

    /// <summary>PEM file of this node's certificate, signed by the cluster CA, role in the subject OU.</summary>
    public string CertificatePath { get; init; } = string.Empty;

    /// <summary>PEM file of this node's private key (PKCS#8, unencrypted; keep it 0600).</summary>
    public string PrivateKeyPath { get; init; } = string.Empty;

    /// <summary>The Akka.Remote address protocol the cluster speaks: <c>akka.ssl.tcp</c> with TLS, <c>akka.tcp</c> without.</summary>
    public string Protocol => Enabled ? "akka.ssl.tcp" : "akka.tcp";
}
