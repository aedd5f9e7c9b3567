using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Akka.Event;

namespace ReplayCluster.Cluster;

/// <summary>
/// Decides whether a TLS peer belongs to the cluster: its certificate must chain to the cluster CA (and only to it:
/// the operating system's trust store plays no part), be in its validity period, not be a CA, allow both TLS
/// purposes and carry a node role. The cluster transport (<see cref="Remoting.ClusterTcpTransport"/>) calls it for both
/// directions of every connection, also for a client that sent no certificate (refused here, with its name logged).
/// Host names are not checked: nodes are addressed by IP and the CA's signature is what admits a node.
/// </summary>
internal sealed class PeerCertificateValidator
{
    private readonly X509Certificate2Collection _trustedAuthorities;
    private readonly CertifiedPeers _peers;
    private readonly TimeProvider _time;

    /// <summary>Creates a validator that trusts exactly <paramref name="trustedAuthorities"/>.</summary>
    public PeerCertificateValidator(X509Certificate2Collection trustedAuthorities, CertifiedPeers peers, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(trustedAuthorities);
        ArgumentNullException.ThrowIfNull(peers);
        ArgumentNullException.ThrowIfNull(time);
        if (trustedAuthorities.Count == 0)
        {
            throw new ArgumentException("At least one cluster CA certificate is needed.", nameof(trustedAuthorities));
        }

        _trustedAuthorities = trustedAuthorities;
        _peers = peers;
        _time = time;
    }

    /// <summary>The callback the cluster transport calls (given to it as <c>DotNettySslSetup.CustomValidator</c>).</summary>
    public bool Validate(X509Certificate2? certificate, X509Chain? chain, string peer, SslPolicyErrors errors, ILoggingAdapter log)
    {
        ArgumentNullException.ThrowIfNull(log);
        // The chain and errors SslStream passes come from the OS trust store, which does not know our CA: ignored on purpose.
        if (certificate is null)
        {
            log.Warning("Refused cluster peer {0}: it presented no certificate", peer);
            return false;
        }

        if (Check(certificate, out var role) is { } problem)
        {
            log.Warning("Refused cluster peer {0}: certificate {1} ({2}) {3}", peer, certificate.Subject, certificate.Thumbprint, problem);
            return false;
        }

        _peers.Record(peer, role!);
        return true;
    }

    /// <summary>Null when <paramref name="certificate"/> is a valid node certificate of this cluster, else why not.</summary>
    public string? Check(X509Certificate2 certificate, out string? role)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        role = null;
        if (NodeCertificateProfile.IsCertificateAuthority(certificate))
        {
            return "is a CA certificate, not a node certificate";
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_trustedAuthorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck; // no CRL: rotation replaces the CA instead
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.VerificationTime = _time.GetUtcNow().UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        chain.ChainPolicy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid(NodeCertificateProfile.ServerAuthenticationOid));
        chain.ChainPolicy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid(NodeCertificateProfile.ClientAuthenticationOid));
        if (!chain.Build(certificate))
        {
            var reasons = chain.ChainStatus.Select(s => $"{s.Status}: {s.StatusInformation.Trim()}").Distinct();
            return $"does not chain to the cluster CA ({string.Join("; ", reasons)})";
        }

        role = NodeCertificateProfile.RoleOf(certificate);
        return role is null ? "names no node role in its subject OU" : null;
    }
}
