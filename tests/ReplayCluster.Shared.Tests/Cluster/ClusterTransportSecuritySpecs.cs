using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Event;
using ReplayCluster.Cluster;
using ReplayCluster.Configuration;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Tests.Cluster;

public sealed class ClusterTransportSecuritySpecs : IDisposable
{
    private readonly TestCertificateAuthority _otherCa = new();

    public void Dispose() => _otherCa.Dispose();

    [Fact]
    public void A_node_certificate_of_the_cluster_ca_is_accepted_and_its_role_recorded_for_the_peer_host()
    {
        var peers = new CertifiedPeers();
        var validator = Validator(peers);
        using var certificate = Load(TestCertificateAuthority.Shared.Issue(NodeRoles.Capture));

        Assert.True(validator.Validate(certificate, null, "[::ffff:10.0.0.11]:41234", SslPolicyErrors.RemoteCertificateChainErrors, NoLogger.Instance));
        Assert.Equal([NodeRoles.Capture], peers.RolesAt("10.0.0.11"));
        Assert.Empty(peers.RolesAt("10.0.0.12"));
    }

    [Fact]
    public void A_peer_without_a_certificate_or_with_one_of_another_ca_is_refused()
    {
        var peers = new CertifiedPeers();
        var validator = Validator(peers);
        using var foreign = Load(_otherCa.Issue(NodeRoles.Coordinator));

        Assert.False(validator.Validate(null, null, "10.0.0.66:5000", SslPolicyErrors.RemoteCertificateNotAvailable, NoLogger.Instance));
        Assert.False(validator.Validate(foreign, null, "10.0.0.66:5000", SslPolicyErrors.None, NoLogger.Instance));
        Assert.Contains("does not chain to the cluster CA", validator.Check(foreign, out _), StringComparison.Ordinal);
        Assert.Empty(peers.RolesAt("10.0.0.66"));
    }

    [Fact]
    public void A_certificate_without_the_tls_purposes_an_expired_one_or_the_ca_itself_is_refused()
    {
        var validator = Validator(new CertifiedPeers());
        using var codeSigning = Load(TestCertificateAuthority.Shared.Issue(NodeRoles.Capture, withEku: false));
        Assert.NotNull(validator.Check(codeSigning, out _));

        using var valid = Load(TestCertificateAuthority.Shared.Issue(NodeRoles.Capture));
        var later = new FixedTime(DateTimeOffset.UtcNow.AddDays(2));
        Assert.NotNull(Validator(new CertifiedPeers(), later).Check(valid, out _));

        using var authority = X509CertificateLoader.LoadCertificateFromFile(TestCertificateAuthority.Shared.CaPath);
        Assert.Contains("CA certificate", validator.Check(authority, out _), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("CN=n, O=ReplayCluster", null)]
    [InlineData("CN=n, OU=admin, O=ReplayCluster", null)]
    [InlineData("CN=n, OU=capture, OU=coordinator, O=ReplayCluster", null)]
    [InlineData("CN=n, OU=intercept, O=ReplayCluster", "intercept")]
    public void The_role_is_the_single_known_role_in_the_subject_ou(string subject, string? role)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(1));
        Assert.Equal(role, NodeCertificateProfile.RoleOf(certificate));
    }

    [Fact]
    public void A_node_refuses_to_start_with_a_certificate_of_another_role_or_another_ca()
    {
        var (certificate, key) = TestCertificateAuthority.Shared.Issue(NodeRoles.Capture);
        var settings = Settings(NodeRoles.Coordinator, TestCertificateAuthority.Shared.CaPath, certificate, key);
        var error = Assert.Throws<NodeConfigurationException>(() => ClusterTransportSecurity.CreateSetup(settings, new CertifiedPeers(), TimeProvider.System));
        Assert.StartsWith("replaycluster.cluster.tls.certificate", error.Message, StringComparison.Ordinal);
        Assert.Contains("certifies role 'capture', but this is a coordinator node", error.Message, StringComparison.Ordinal);

        var (foreign, foreignKey) = _otherCa.Issue(NodeRoles.Coordinator);
        settings = Settings(NodeRoles.Coordinator, TestCertificateAuthority.Shared.CaPath, foreign, foreignKey);
        error = Assert.Throws<NodeConfigurationException>(() => ClusterTransportSecurity.CreateSetup(settings, new CertifiedPeers(), TimeProvider.System));
        Assert.Contains("does not chain to the cluster CA", error.Message, StringComparison.Ordinal);

        settings = Settings(NodeRoles.Coordinator, TestCertificateAuthority.Shared.CaPath, foreign, key);
        error = Assert.Throws<NodeConfigurationException>(() => ClusterTransportSecurity.CreateSetup(settings, new CertifiedPeers(), TimeProvider.System));
        Assert.Contains("do not load as a certificate and its private key", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_valid_node_gets_a_mutual_tls_setup_with_the_cluster_validator()
    {
        var (certificate, key) = TestCertificateAuthority.Shared.Issue(NodeRoles.Intercept);
        var setup = ClusterTransportSecurity.CreateSetup(
            Settings(NodeRoles.Intercept, TestCertificateAuthority.Shared.CaPath, certificate, key), new CertifiedPeers(), TimeProvider.System);
        Assert.NotNull(setup);
        Assert.True(setup.RequireMutualAuthentication);
        Assert.False(setup.SuppressValidation);
        Assert.True(setup.Certificate.HasPrivateKey);
        Assert.NotNull(setup.CustomValidator);
        Assert.Null(ClusterTransportSecurity.CreateSetup(Settings(NodeRoles.Intercept, "", "", "") with { Tls = ClusterTlsSettings.Off }, new CertifiedPeers(), TimeProvider.System));
    }

    [Theory]
    [InlineData("10.0.0.1:4053", "10.0.0.1")]
    [InlineData("[::ffff:10.0.0.2]:4053", "10.0.0.2")]
    [InlineData("akka.ssl.tcp://replaycluster@10.0.0.3:4053", "10.0.0.3")]
    [InlineData("ssl.tcp://replaycluster@node-4.lab:4053", "node-4.lab")]
    [InlineData("unknown", null)]
    public void Peers_are_keyed_by_host(string peer, string? host) => Assert.Equal(host, CertifiedPeers.HostOf(peer));

    private static PeerCertificateValidator Validator(CertifiedPeers peers, TimeProvider? time = null) =>
        new(NodeCertificateProfile.LoadPemBundle(TestCertificateAuthority.Shared.CaPath), peers, time ?? TimeProvider.System);

    private static X509Certificate2 Load((string Certificate, string Key) files) => NodeCertificateProfile.LoadWithKey(files.Certificate, files.Key);

    private static NodeSettings Settings(string role, string ca, string certificate, string key) => new()
    {
        Role = role,
        SystemName = "replaycluster",
        Hostname = "127.0.0.1",
        PublicHostname = "127.0.0.1",
        Port = 0,
        Seeds = [],
        JoinWarningInterval = TimeSpan.FromSeconds(5),
        Tls = new ClusterTlsSettings { CaCertificatePath = ca, CertificatePath = certificate, PrivateKeyPath = key },
    };

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
