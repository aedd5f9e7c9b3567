using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Remote.Transport.DotNetty;
using ReplayCluster.Configuration;

namespace ReplayCluster.Cluster;

/// <summary>
/// Turns <see cref="ClusterTlsSettings"/> into what Akka.Remote needs: this node's certificate and a
/// <see cref="DotNettySslSetup"/> with mutual authentication and <see cref="PeerCertificateValidator"/>. The node's
/// own certificate is checked like a peer's before anything listens, so a wrong file (another cluster's CA, another
/// role, an expired certificate, a key that does not match) stops the node with the setting named.
/// </summary>
internal static class ClusterTransportSecurity
{
    private const string CaSetting = "replaycluster.cluster.tls.ca-certificate";
    private const string CertificateSetting = "replaycluster.cluster.tls.certificate";
    private const string KeySetting = "replaycluster.cluster.tls.private-key";

    /// <summary>Builds the Akka setup for <paramref name="settings"/>; null when TLS is off.</summary>
    /// <exception cref="NodeConfigurationException">A file does not read or the node's certificate is not valid for it.</exception>
    public static DotNettySslSetup? CreateSetup(NodeSettings settings, CertifiedPeers peers, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(peers);
        var tls = settings.Tls;
        if (!tls.Enabled)
        {
            return null;
        }

        X509Certificate2Collection authorities;
        try
        {
            authorities = NodeCertificateProfile.LoadPemBundle(tls.CaCertificatePath);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw NodeConfigurationException.ForSetting(CaSetting, $"'{tls.CaCertificatePath}' does not read as PEM certificates: {ex.Message}", ex);
        }

        if (authorities.Count == 0)
        {
            throw NodeConfigurationException.ForSetting(CaSetting, $"'{tls.CaCertificatePath}' holds no PEM certificate");
        }

        X509Certificate2 certificate;
        try
        {
            certificate = NodeCertificateProfile.LoadWithKey(tls.CertificatePath, tls.PrivateKeyPath);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw NodeConfigurationException.ForSetting($"{CertificateSetting} and {KeySetting}",
                $"'{tls.CertificatePath}' with key '{tls.PrivateKeyPath}' do not load as a certificate and its private key: {ex.Message}", ex);
        }

        var validator = new PeerCertificateValidator(authorities, peers, time);
        if (validator.Check(certificate, out var role) is { } problem)
        {
            throw NodeConfigurationException.ForSetting(CertificateSetting, $"'{tls.CertificatePath}' ({certificate.Subject}) {problem}");
        }

        if (role != settings.Role)
        {
            throw NodeConfigurationException.ForSetting(CertificateSetting,
                $"'{tls.CertificatePath}' certifies role '{role}', but this is a {settings.Role} node; issue one with --role {settings.Role}");
        }

        // (certificate, suppress-validation off, mutual authentication on, hostname check off, our validator):
        // hostname checks off (peers are addressed by IP); the CA check is ours.
        return new DotNettySslSetup(certificate, false, true, false, validator.Validate);
    }
}
