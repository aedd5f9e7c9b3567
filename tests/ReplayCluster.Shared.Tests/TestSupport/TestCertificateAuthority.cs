using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ReplayCluster.Cluster;

namespace ReplayCluster.Tests.TestSupport;

/// <summary>
/// A throw-away cluster CA in a temporary directory for in-process cluster tests, issuing node certificates of
/// the shape <see cref="NodeCertificateProfile"/> describes (the real issuer, <c>certs init|issue</c>, lives in the
/// coordinator and has its own tests). <see cref="TlsSets"/> gives the <c>--set</c> lines that make a node use them.
/// </summary>
internal sealed class TestCertificateAuthority : IDisposable
{
    private static readonly Lazy<TestCertificateAuthority> SharedInstance = new(() => new TestCertificateAuthority());
    private readonly X509Certificate2 _authority;
    private int _issued;

    public TestCertificateAuthority()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("replaycluster-test-ca-").FullName;
        using var key = NodeCertificateProfile.NewKey();
        var request = new CertificateRequest($"CN=test CA {Guid.NewGuid():N}, O={NodeCertificateProfile.Organization}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        _authority = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        CaPath = Path.Combine(Directory, "ca.crt");
        File.WriteAllText(CaPath, _authority.ExportCertificatePem());
    }

    /// <summary>One CA for the whole test run: nodes of different tests may share it.</summary>
    public static TestCertificateAuthority Shared => SharedInstance.Value;

    public string Directory { get; }

    public string CaPath { get; }

    /// <summary>Issues a node certificate and returns (certificate path, key path).</summary>
    public (string Certificate, string Key) Issue(string role, bool withEku = true)
    {
        var name = $"{role}-{Interlocked.Increment(ref _issued)}";
        using var key = NodeCertificateProfile.NewKey();
        var request = new CertificateRequest(NodeCertificateProfile.Subject(name, role), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        if (withEku)
        {
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
                [new Oid(NodeCertificateProfile.ServerAuthenticationOid), new Oid(NodeCertificateProfile.ClientAuthenticationOid)], false));
        }
        else
        {
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.3")], false)); // code signing only
        }

        using var certificate = request.Create(_authority, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(12), RandomNumberGenerator.GetBytes(16));
        var certificatePath = Path.Combine(Directory, $"{name}.crt");
        var keyPath = Path.Combine(Directory, $"{name}.key");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certificatePath, keyPath);
    }

    /// <summary>The <c>--set</c> assignments for a node of <paramref name="role"/> with a fresh certificate of this CA.</summary>
    public string[] TlsSets(string role)
    {
        var (certificate, key) = Issue(role);
        return
        [
            $"replaycluster.cluster.tls.ca-certificate = \"{CaPath}\"",
            $"replaycluster.cluster.tls.certificate = \"{certificate}\"",
            $"replaycluster.cluster.tls.private-key = \"{key}\"",
        ];
    }

    public void Dispose()
    {
        _authority.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // a temporary directory; best effort
        }
    }
}
