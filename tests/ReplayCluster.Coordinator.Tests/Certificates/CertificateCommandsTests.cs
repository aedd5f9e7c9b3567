using System.CommandLine;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Time.Testing;
using ReplayCluster.Cluster;
using ReplayCluster.Configuration;
using ReplayCluster.Coordinator.Certificates;

namespace ReplayCluster.Coordinator.Tests.Certificates;

/// <summary><c>replaycluster-coordinator certs init|issue</c>, through the command line and the authority behind it.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class CertificateCommandsTests : IDisposable
{
    private const UnixFileMode OwnerReadWrite = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly string _root = Directory.CreateTempSubdirectory("rc-certs-").FullName;

    private string Dir => Path.Combine(_root, "tls");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void Init_creates_a_ca_certificate_and_key_readable_by_the_owner_only()
    {
        var (exit, output, error) = Run("certs", "init", "--dir", Dir);
        Assert.True(exit == 0, error);
        Assert.Contains("Created the cluster CA", output, StringComparison.Ordinal);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Dir));
        foreach (var file in new[] { "ca.crt", "ca.key" })
        {
            Assert.Equal(OwnerReadWrite, File.GetUnixFileMode(Path.Combine(Dir, file)));
        }

        using var ca = X509Certificate2.CreateFromPemFile(Path.Combine(Dir, "ca.crt"), Path.Combine(Dir, "ca.key"));
        Assert.True(ca.HasPrivateKey);
        Assert.True(NodeCertificateProfile.IsCertificateAuthority(ca));
        Assert.Equal(ca.SubjectName.RawData, ca.IssuerName.RawData);
    }

    [Theory]
    [InlineData("capture")]
    [InlineData("intercept")]
    [InlineData("coordinator")]
    public void An_issued_certificate_chains_to_the_ca_names_its_role_and_is_accepted_by_the_node_check(string role)
    {
        Assert.Equal(0, Run("certs", "init", "--dir", Dir).Exit);
        var (exit, output, error) = Run("certs", "issue", "--dir", Dir, "--role", role, "--name", "node-1");
        Assert.True(exit == 0, error);
        Assert.Contains("private-key = ", output, StringComparison.Ordinal);

        var certificatePath = Path.Combine(Dir, "node-1.crt");
        var keyPath = Path.Combine(Dir, "node-1.key");
        Assert.Equal(OwnerReadWrite, File.GetUnixFileMode(certificatePath));
        Assert.Equal(OwnerReadWrite, File.GetUnixFileMode(keyPath));

        using var certificate = NodeCertificateProfile.LoadWithKey(certificatePath, keyPath);
        Assert.Equal(role, NodeCertificateProfile.RoleOf(certificate));
        Assert.Contains("CN=node-1", certificate.Subject, StringComparison.Ordinal);
        Assert.False(NodeCertificateProfile.IsCertificateAuthority(certificate));

        // The chain, built against the CA alone (the OS trust store knows nothing of it).
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(NodeCertificateProfile.LoadPemBundle(Path.Combine(Dir, "ca.crt")));
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        Assert.True(chain.Build(certificate), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
        Assert.Equal(2, chain.ChainElements.Count);

        // And exactly what a node checks at start and on every TLS connection.
        var validator = new PeerCertificateValidator(NodeCertificateProfile.LoadPemBundle(Path.Combine(Dir, "ca.crt")), new CertifiedPeers(), TimeProvider.System);
        Assert.Null(validator.Check(certificate, out var certified));
        Assert.Equal(role, certified);
    }

    [Fact]
    public void Nothing_is_overwritten_without_force_and_a_forced_new_ca_disowns_the_old_certificates()
    {
        Assert.Equal(0, Run("certs", "init", "--dir", Dir).Exit);
        Assert.Equal(0, Run("certs", "issue", "--dir", Dir, "--role", "capture", "--name", "online-1").Exit);
        var caBefore = File.ReadAllText(Path.Combine(Dir, "ca.crt"));
        var certificateBefore = File.ReadAllText(Path.Combine(Dir, "online-1.crt"));

        var again = Run("certs", "init", "--dir", Dir);
        Assert.Equal(NodeCommandLineExit, again.Exit);
        Assert.Contains("refusing to replace it without --force", again.Error, StringComparison.Ordinal);
        Assert.Equal(caBefore, File.ReadAllText(Path.Combine(Dir, "ca.crt")));

        var reissue = Run("certs", "issue", "--dir", Dir, "--role", "capture", "--name", "online-1");
        Assert.Equal(NodeCommandLineExit, reissue.Exit);
        Assert.Equal(certificateBefore, File.ReadAllText(Path.Combine(Dir, "online-1.crt")));

        Assert.Equal(0, Run("certs", "issue", "--dir", Dir, "--role", "capture", "--name", "online-1", "--force").Exit);
        Assert.NotEqual(certificateBefore, File.ReadAllText(Path.Combine(Dir, "online-1.crt")));
        Assert.Equal(OwnerReadWrite, File.GetUnixFileMode(Path.Combine(Dir, "online-1.key")));

        Assert.Equal(0, Run("certs", "init", "--dir", Dir, "--force").Exit);
        var validator = new PeerCertificateValidator(NodeCertificateProfile.LoadPemBundle(Path.Combine(Dir, "ca.crt")), new CertifiedPeers(), TimeProvider.System);
        using var old = NodeCertificateProfile.LoadWithKey(Path.Combine(Dir, "online-1.crt"), Path.Combine(Dir, "online-1.key"));
        Assert.Contains("does not chain to the cluster CA", validator.Check(old, out _), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--role", "admin", "--name", "n1", "admin")]
    [InlineData("--role", "capture", "--name", "../etc/passwd", "--name")]
    [InlineData("--role", "capture", "--name", "ca", "--name")]
    public void Bad_roles_and_names_are_refused(string roleOption, string role, string nameOption, string name, string expected)
    {
        Assert.Equal(0, Run("certs", "init", "--dir", Dir).Exit);
        var (exit, _, error) = Run("certs", "issue", "--dir", Dir, roleOption, role, nameOption, name);
        Assert.NotEqual(0, exit);
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.Equal(["ca.crt", "ca.key"], Directory.GetFiles(Dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Issuing_without_a_ca_says_how_to_create_one()
    {
        var (exit, _, error) = Run("certs", "issue", "--dir", Dir, "--role", "capture", "--name", "n1");
        Assert.Equal(NodeCommandLineExit, exit);
        Assert.Contains("certs init --dir", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_node_certificate_never_outlives_its_ca()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var authority = new ClusterCertificateAuthority(time);
        var ca = authority.Init(Dir, validDays: 30, force: false);
        var node = authority.Issue(Dir, NodeRoles.Intercept, "sink", validDays: 397, force: false);
        Assert.Equal(ca.NotAfter, node.NotAfter);
        using var certificate = X509CertificateLoader.LoadCertificateFromFile(node.CertificatePath);
        Assert.True(certificate.NotBefore.ToUniversalTime() < time.GetUtcNow().UtcDateTime, "valid from a little before now, for clock skew");
    }

    private const int NodeCommandLineExit = 2;

    private static (int Exit, string Output, string Error) Run(params string[] args)
    {
        var root = new RootCommand { CertificateCommands.Create() };
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = root.Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (exit, output.ToString(), error.ToString());
    }
}
