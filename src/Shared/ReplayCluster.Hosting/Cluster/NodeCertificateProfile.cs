using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ReplayCluster.Configuration;

namespace ReplayCluster.Cluster;

/// <summary>
/// What a ReplayCluster node certificate looks like, shared by the issuer (<c>replaycluster-coordinator certs</c>)
/// and the peer check: subject <c>CN=&lt;name&gt;, OU=&lt;role&gt;, O=ReplayCluster</c>, signed by the cluster CA,
/// not a CA itself, with both TLS purposes (every node is a server to some peers and a client to others). The role
/// sits in the subject's OU because the subject is what every TLS stack logs and every tool prints.
/// </summary>
public static class NodeCertificateProfile
{
    /// <summary>The subject O of every certificate the cluster CA issues, the CA's own included.</summary>
    public const string Organization = "ReplayCluster";

    /// <summary>Extended key usage: TLS web server authentication.</summary>
    public const string ServerAuthenticationOid = "1.3.6.1.5.5.7.3.1";

    /// <summary>Extended key usage: TLS web client authentication.</summary>
    public const string ClientAuthenticationOid = "1.3.6.1.5.5.7.3.2";

    /// <summary>The subject of a node certificate.</summary>
    public static X500DistinguishedName Subject(string name, string role)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (!NodeRoles.All.Contains(role))
        {
            throw new ArgumentOutOfRangeException(nameof(role), role, $"Expected one of: {string.Join(", ", NodeRoles.All)}.");
        }

        var builder = new X500DistinguishedNameBuilder();
        builder.AddOrganizationName(Organization);
        builder.AddOrganizationalUnitName(role);
        builder.AddCommonName(name);
        return builder.Build();
    }

    /// <summary>The node role a certificate carries (its subject OU), or null when it names none or an unknown one.</summary>
    public static string? RoleOf(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        string? role = null;
        foreach (var rdn in certificate.SubjectName.EnumerateRelativeDistinguishedNames())
        {
            if (rdn.GetSingleElementType().Value == "2.5.4.11")
            {
                if (role is not null)
                {
                    return null; // two OUs: ambiguous, so no role at all
                }

                role = rdn.GetSingleElementValue();
            }
        }

        return role is not null && NodeRoles.All.Contains(role) ? role : null;
    }

    /// <summary>Whether the certificate says it is a CA (basic constraints), which a node certificate must not.</summary>
    public static bool IsCertificateAuthority(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return certificate.Extensions.OfType<X509BasicConstraintsExtension>().Any(e => e.CertificateAuthority);
    }

    /// <summary>Loads every certificate of a PEM file (a CA bundle may hold the old and the new CA during a rotation).</summary>
    public static X509Certificate2Collection LoadPemBundle(string path)
    {
        var bundle = new X509Certificate2Collection();
        bundle.ImportFromPemFile(path);
        return bundle;
    }

    /// <summary>Loads a certificate with its PEM private key, in a form SslStream can use on every platform.</summary>
    public static X509Certificate2 LoadWithKey(string certificatePath, string keyPath)
    {
        using var pem = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        // Keys from PEM are ephemeral; a PKCS#12 round trip gives a key SslStream accepts on any platform.
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>The signature key of a new node or CA certificate: ECDSA P-256 (a fast TLS handshake, small keys).</summary>
    public static ECDsa NewKey() => ECDsa.Create(ECCurve.NamedCurves.nistP256);
}
