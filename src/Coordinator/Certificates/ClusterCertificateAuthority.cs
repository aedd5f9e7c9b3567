using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using ReplayCluster.Cluster;
using ReplayCluster.Configuration;

namespace ReplayCluster.Coordinator.Certificates;

/// <summary>
/// The cluster CA behind <c>replaycluster-coordinator certs init|issue</c>: a self-signed CA certificate and key in
/// a directory, and node certificates it signs (<see cref="NodeCertificateProfile"/>: role in the subject OU, both
/// TLS purposes). Every file it writes is created 0600 (the directory 0700) and replaced only with
/// <c>force</c>, so a second <c>init</c> cannot silently disown every node of a running cluster.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // file modes are Unix modes; nodes run on Linux
internal sealed partial class ClusterCertificateAuthority
{
    /// <summary>File name of the CA certificate in the directory.</summary>
    public const string CaCertificateFile = "ca.crt";

    /// <summary>File name of the CA private key in the directory; it never leaves the host that issues certificates.</summary>
    public const string CaKeyFile = "ca.key";

    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerOnlyDirectory = OwnerOnly | UnixFileMode.UserExecute;

    // Clocks of the nodes may differ a little; a certificate valid from "now" would be refused by a node behind.
    private static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(5);

    private readonly TimeProvider _time;

    public ClusterCertificateAuthority(TimeProvider time)
    {
        _time = time;
    }

    /// <summary>Creates the CA in <paramref name="directory"/>: <c>ca.crt</c> and <c>ca.key</c>.</summary>
    /// <exception cref="CertificateCommandException">The files exist and <paramref name="force"/> is false.</exception>
    public CertificateFiles Init(string directory, int validDays, bool force)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(validDays, 1);
        var certificatePath = Path.Combine(directory, CaCertificateFile);
        var keyPath = Path.Combine(directory, CaKeyFile);
        RefuseOverwrite(force, certificatePath, keyPath);

        using var key = NodeCertificateProfile.NewKey();
        var now = _time.GetUtcNow();
        var subject = new X500DistinguishedNameBuilder();
        subject.AddOrganizationName(NodeCertificateProfile.Organization);
        // A distinct name per CA, so logs and `openssl x509 -issuer` tell an old CA from its successor.
        subject.AddCommonName($"ReplayCluster cluster CA {now:yyyy-MM-dd} {Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}");
        var request = new CertificateRequest(subject.Build(), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var certificate = request.CreateSelfSigned(now - ClockSkew, now.AddDays(validDays));

        EnsureDirectory(directory);
        WriteOwnerOnly(keyPath, key.ExportPkcs8PrivateKeyPem());
        WriteOwnerOnly(certificatePath, certificate.ExportCertificatePem());
        return new CertificateFiles(certificatePath, keyPath, certificate.Subject, certificate.NotAfter.ToUniversalTime());
    }

    /// <summary>Issues a node certificate for <paramref name="role"/> named <paramref name="name"/>, signed by the CA in <paramref name="directory"/>.</summary>
    /// <exception cref="CertificateCommandException">Bad role or name, no CA, or the files exist and <paramref name="force"/> is false.</exception>
    public CertificateFiles Issue(string directory, string role, string name, int validDays, bool force)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(validDays, 1);
        if (!NodeRoles.All.Contains(role))
        {
            throw new CertificateCommandException($"--role: '{role}' is not a node role ({string.Join(", ", NodeRoles.All)})");
        }

        if (!NamePattern().IsMatch(name) || name is CaCertificateFile or CaKeyFile or "ca")
        {
            throw new CertificateCommandException(
                $"--name: '{name}' must be 1-64 letters, digits, '.' or '-', start with a letter or digit, and not be 'ca'");
        }

        using var authority = LoadAuthority(directory);
        var certificatePath = Path.Combine(directory, $"{name}.crt");
        var keyPath = Path.Combine(directory, $"{name}.key");
        RefuseOverwrite(force, certificatePath, keyPath);

        using var key = NodeCertificateProfile.NewKey();
        var request = new CertificateRequest(NodeCertificateProfile.Subject(name, role), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(NodeCertificateProfile.ServerAuthenticationOid), new Oid(NodeCertificateProfile.ClientAuthenticationOid)], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, true, false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(name);
        request.CertificateExtensions.Add(names.Build());

        var now = _time.GetUtcNow();
        var notAfter = now.AddDays(validDays);
        var caNotAfter = new DateTimeOffset(authority.NotAfter.ToUniversalTime());
        if (notAfter > caNotAfter)
        {
            notAfter = caNotAfter; // a certificate cannot outlive its CA
        }

        using var certificate = request.Create(authority, now - ClockSkew, notAfter, RandomNumberGenerator.GetBytes(16));
        WriteOwnerOnly(keyPath, key.ExportPkcs8PrivateKeyPem());
        WriteOwnerOnly(certificatePath, certificate.ExportCertificatePem());
        return new CertificateFiles(certificatePath, keyPath, certificate.Subject, certificate.NotAfter.ToUniversalTime());
    }

    private static X509Certificate2 LoadAuthority(string directory)
    {
        var certificatePath = Path.Combine(directory, CaCertificateFile);
        var keyPath = Path.Combine(directory, CaKeyFile);
        if (!File.Exists(certificatePath) || !File.Exists(keyPath))
        {
            throw new CertificateCommandException(
                $"--dir: no cluster CA in '{directory}' ({CaCertificateFile} and {CaKeyFile}); create it with `certs init --dir {directory}`");
        }

        try
        {
            var authority = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
            return authority;
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new CertificateCommandException($"--dir: the CA in '{directory}' does not load: {ex.Message}", ex);
        }
    }

    private static void RefuseOverwrite(bool force, params string[] paths)
    {
        if (!force && paths.FirstOrDefault(File.Exists) is { } existing)
        {
            throw new CertificateCommandException($"'{existing}' exists; refusing to replace it without --force");
        }
    }

    private static void EnsureDirectory(string directory)
    {
        if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory, OwnerOnlyDirectory);
        }
    }

    /// <summary>Written beside the target with mode 0600 from its creation, then renamed over it: never readable by others, never half-written.</summary>
    private static void WriteOwnerOnly(string path, string text)
    {
        var temporary = $"{path}.{Environment.ProcessId}.tmp";
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = OwnerOnly };
        using (var stream = new FileStream(temporary, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(text);
            writer.Write('\n');
        }

        File.Move(temporary, path, overwrite: true);
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();
}

/// <summary>What <see cref="ClusterCertificateAuthority"/> wrote.</summary>
internal sealed record CertificateFiles(string CertificatePath, string KeyPath, string Subject, DateTime NotAfter);

/// <summary>A certificate command that cannot do what was asked; the message names the option.</summary>
internal sealed class CertificateCommandException : Exception
{
    public CertificateCommandException()
    {
    }

    public CertificateCommandException(string message)
        : base(message)
    {
    }

    public CertificateCommandException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
