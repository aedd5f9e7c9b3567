using ReplayCluster.Configuration;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Tests.Configuration;

public sealed class ClusterTlsSettingsTests
{
    [Fact]
    public void Tls_is_on_by_default_and_a_node_without_certificate_files_is_refused_naming_the_setting()
    {
        var error = Assert.Throws<NodeConfigurationException>(() => NodeConfigLoader.Load(NodeRoles.Coordinator, new NodeConfigOverrides()));
        Assert.StartsWith("replaycluster.cluster.tls.ca-certificate", error.Message, StringComparison.Ordinal);
        Assert.Contains("is required while cluster TLS is on", error.Message, StringComparison.Ordinal);
        Assert.Contains("replaycluster.cluster.tls = off", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ca-certificate")]
    [InlineData("certificate")]
    [InlineData("private-key")]
    public void A_missing_tls_file_is_named_with_its_setting(string setting)
    {
        var sets = TestCertificateAuthority.Shared.TlsSets(NodeRoles.Capture)
            .Select(s => s.StartsWith($"replaycluster.cluster.tls.{setting} ", StringComparison.Ordinal)
                ? $"replaycluster.cluster.tls.{setting} = \"/nonexistent/{setting}.pem\""
                : s)
            .ToArray();
        var error = Assert.Throws<NodeConfigurationException>(() =>
            NodeConfigLoader.Load(NodeRoles.Capture, new NodeConfigOverrides { Seeds = ["10.0.0.1:4053"], Sets = sets }));
        Assert.StartsWith($"replaycluster.cluster.tls.{setting}:", error.Message, StringComparison.Ordinal);
        Assert.Contains($"/nonexistent/{setting}.pem", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void With_tls_the_transport_speaks_akka_ssl_tcp_and_seeds_get_that_protocol()
    {
        var node = NodeConfigLoader.Load(NodeRoles.Intercept, new NodeConfigOverrides
        {
            Seeds = ["10.0.0.1:4053"],
            Sets = TestCertificateAuthority.Shared.TlsSets(NodeRoles.Intercept),
        });
        Assert.True(node.Settings.Tls.Enabled);
        Assert.True(node.Config.GetBoolean("akka.remote.dot-netty.tcp.enable-ssl"));
        Assert.Equal(["akka.ssl.tcp://replaycluster@10.0.0.1:4053"], node.Settings.Seeds);
        Assert.True(File.Exists(node.Settings.Tls.PrivateKeyPath));
    }

    [Theory]
    [InlineData("replaycluster.cluster.tls = off")]
    [InlineData("replaycluster.cluster.tls.enabled = off")]
    public void The_development_opt_out_runs_plain_tcp(string assignment)
    {
        var node = NodeConfigLoader.Load(NodeRoles.Capture, new NodeConfigOverrides { Seeds = ["10.0.0.1:4053"], Sets = [assignment] });
        Assert.False(node.Settings.Tls.Enabled);
        Assert.False(node.Config.GetBoolean("akka.remote.dot-netty.tcp.enable-ssl"));
        Assert.Equal(["akka.tcp://replaycluster@10.0.0.1:4053"], node.Settings.Seeds);
    }

    [Theory]
    [InlineData("replaycluster.cluster.tls = maybe", "replaycluster.cluster.tls:")]
    [InlineData("replaycluster.cluster.tls.enabled = sometimes", "replaycluster.cluster.tls.enabled:")]
    public void A_bad_tls_switch_is_named(string assignment, string expected)
    {
        var error = Assert.Throws<NodeConfigurationException>(() => NodeConfigLoader.Load(NodeRoles.Coordinator, new NodeConfigOverrides { Sets = [assignment] }));
        Assert.StartsWith(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_full_seed_address_of_the_other_protocol_is_refused_with_the_reason()
    {
        var error = Assert.Throws<NodeConfigurationException>(() => NodeConfigLoader.Load(NodeRoles.Capture,
            new NodeConfigOverrides { Seeds = ["akka.ssl.tcp://replaycluster@10.0.0.1:4053"], Sets = ["replaycluster.cluster.tls = off"] }));
        Assert.Contains("but this node speaks akka.tcp", error.Message, StringComparison.Ordinal);
    }
}
