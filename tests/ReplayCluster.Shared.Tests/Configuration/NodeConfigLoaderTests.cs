using ReplayCluster.Configuration;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Tests.Configuration;

public sealed class NodeConfigLoaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rc-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Reference_configuration_gives_the_documented_defaults()
    {
        var coordinator = NodeConfigLoader.Load(NodeRoles.Coordinator, WithTls(new NodeConfigOverrides()));
        Assert.Equal("replaycluster", coordinator.Settings.SystemName);
        Assert.Equal("127.0.0.1", coordinator.Settings.Hostname);
        Assert.Equal("127.0.0.1", coordinator.Settings.PublicHostname);
        Assert.Equal(4053, coordinator.Settings.Port);
        Assert.Empty(coordinator.Settings.Seeds);
        Assert.Equal(TimeSpan.FromSeconds(5), coordinator.Settings.JoinWarningInterval);
        Assert.Equal(["coordinator"], coordinator.Config.GetStringList("akka.cluster.roles"));
        Assert.Equal("cluster", coordinator.Config.GetString("akka.actor.provider"));
    }

    [Theory]
    [InlineData(NodeRoles.Capture)]
    [InlineData(NodeRoles.Intercept)]
    public void Each_role_gets_its_own_cluster_role_and_seeds_in_full_form(string role)
    {
        var node = NodeConfigLoader.Load(role, WithTls(new NodeConfigOverrides { Seeds = ["10.1.2.3:4053"] }));
        Assert.Equal([role], node.Config.GetStringList("akka.cluster.roles"));
        Assert.Equal(["akka.ssl.tcp://replaycluster@10.1.2.3:4053"], node.Config.GetStringList("akka.cluster.seed-nodes"));
        Assert.Equal(0, node.Config.GetInt("akka.remote.dot-netty.tcp.port"));
    }

    [Fact]
    public void Layers_apply_in_order_file_then_environment_then_command_line_then_set()
    {
        var file = Write("extra.hocon", """
            replaycluster.node { hostname = "10.0.0.1", port = 1111 }
            replaycluster.cluster.seeds = ["10.0.0.9:4053"]
            """);
        var environment = new Dictionary<string, string>
        {
            ["REPLAYCLUSTER_PORT"] = "2222",
            ["REPLAYCLUSTER_PUBLIC_HOSTNAME"] = "node.example",
        };
        var commandLine = new NodeConfigOverrides { ConfigFiles = [file], Port = "3333", Sets = ["replaycluster.cluster.join-warning-interval = 250ms"] };

        var node = NodeConfigLoader.Load(NodeRoles.Capture, WithTls(NodeConfigOverrides.FromEnvironment(environment.GetValueOrDefault, commandLine)));

        Assert.Equal("10.0.0.1", node.Settings.Hostname);
        Assert.Equal("node.example", node.Settings.PublicHostname);
        Assert.Equal(3333, node.Settings.Port);
        Assert.Equal(["akka.ssl.tcp://replaycluster@10.0.0.9:4053"], node.Settings.Seeds);
        Assert.Equal(TimeSpan.FromMilliseconds(250), node.Settings.JoinWarningInterval);
        Assert.Equal("node.example", node.Config.GetString("akka.remote.dot-netty.tcp.public-hostname"));
        Assert.Equal(3333, node.Config.GetInt("akka.remote.dot-netty.tcp.port"));
    }

    [Fact]
    public void Environment_seeds_and_config_files_are_lists()
    {
        var file = Write("a.hocon", "replaycluster.node.hostname = \"10.0.0.7\"");
        var environment = new Dictionary<string, string>
        {
            ["REPLAYCLUSTER_SEEDS"] = "10.0.0.1:4053, 10.0.0.2:4053",
            ["REPLAYCLUSTER_CONFIG"] = file,
        };
        var node = NodeConfigLoader.Load(NodeRoles.Intercept, WithTls(NodeConfigOverrides.FromEnvironment(environment.GetValueOrDefault, new NodeConfigOverrides())));
        Assert.Equal(2, node.Settings.Seeds.Count);
        Assert.Equal("10.0.0.7", node.Settings.Hostname);
    }

    [Theory]
    [InlineData("abc", "replaycluster.node.port (--port)")]
    [InlineData("70000", "replaycluster.node.port (--port)")]
    [InlineData("-1", "replaycluster.node.port (--port)")]
    public void A_bad_port_fails_naming_the_setting_and_its_source(string port, string expected)
    {
        var overrides = new NodeConfigOverrides { Port = port, Sources = new Dictionary<string, string> { ["Port"] = "--port" } };
        var error = Assert.Throws<NodeConfigurationException>(() => NodeConfigLoader.Load(NodeRoles.Coordinator, WithTls(overrides)));
        Assert.StartsWith(expected, error.Message, StringComparison.Ordinal);
        Assert.Contains(port, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_port_from_the_environment_names_the_variable()
    {
        var environment = new Dictionary<string, string> { ["REPLAYCLUSTER_PORT"] = "http" };
        var error = Assert.Throws<NodeConfigurationException>(() =>
            NodeConfigLoader.Load(NodeRoles.Coordinator, WithTls(NodeConfigOverrides.FromEnvironment(environment.GetValueOrDefault, new NodeConfigOverrides()))));
        Assert.Contains("REPLAYCLUSTER_PORT", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("10.0.0.1", "is not HOST:PORT")]
    [InlineData("10.0.0.1:0", "no valid port")]
    [InlineData("host name:4053", "neither an IP address nor a host name")]
    [InlineData("akka.ssl.tcp://other@10.0.0.1:4053", "names actor system 'other'")]
    [InlineData("akka.tcp://replaycluster@10.0.0.1:4053", "but this node speaks akka.ssl.tcp")]
    [InlineData("akka.udp://replaycluster@10.0.0.1:4053", "only akka.ssl.tcp is supported")]
    public void A_bad_seed_fails_naming_its_position(string seed, string problem)
    {
        var error = Assert.Throws<NodeConfigurationException>(() =>
            NodeConfigLoader.Load(NodeRoles.Capture, WithTls(new NodeConfigOverrides { Seeds = ["10.0.0.5:4053", seed] })));
        Assert.Contains("replaycluster.cluster.seeds", error.Message, StringComparison.Ordinal);
        Assert.Contains("[1]", error.Message, StringComparison.Ordinal);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_capture_node_without_seeds_is_refused()
    {
        var error = Assert.Throws<NodeConfigurationException>(() => NodeConfigLoader.Load(NodeRoles.Capture, WithTls(new NodeConfigOverrides())));
        Assert.Contains("needs at least one seed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Binding_the_wildcard_address_requires_a_public_hostname()
    {
        var error = Assert.Throws<NodeConfigurationException>(() =>
            NodeConfigLoader.Load(NodeRoles.Coordinator, WithTls(new NodeConfigOverrides { Hostname = "0.0.0.0" })));
        Assert.StartsWith("replaycluster.node.public-hostname", error.Message, StringComparison.Ordinal);

        var node = NodeConfigLoader.Load(NodeRoles.Coordinator, WithTls(new NodeConfigOverrides { Hostname = "0.0.0.0", PublicHostname = "10.9.9.9" }));
        Assert.Equal("0.0.0.0", node.Config.GetString("akka.remote.dot-netty.tcp.hostname"));
        Assert.Equal("10.9.9.9", node.Config.GetString("akka.remote.dot-netty.tcp.public-hostname"));
    }

    [Theory]
    [InlineData("replaycluster.cluster.join-warning-interval = banana", "replaycluster.cluster.join-warning-interval")]
    [InlineData("replaycluster.cluster.join-warning-interval = 0s", "must be longer than zero")]
    [InlineData("replaycluster.cluster.system-name = \"bad name\"", "replaycluster.cluster.system-name")]
    [InlineData("replaycluster.cluster.seeds = \"10.0.0.1:4053\"", "expected a list")]
    [InlineData("no-equals-sign", "expected PATH=VALUE")]
    [InlineData("akka.loglevel = {", "not valid HOCON")]
    public void Bad_set_assignments_fail_with_the_setting_named(string assignment, string expected)
    {
        var error = Assert.Throws<NodeConfigurationException>(() =>
            NodeConfigLoader.Load(NodeRoles.Coordinator, WithTls(new NodeConfigOverrides { Sets = [assignment] })));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_or_malformed_config_file_is_named()
    {
        var missing = Path.Combine(_dir, "missing.hocon");
        var error = Assert.Throws<NodeConfigurationException>(() =>
            NodeConfigLoader.Load(NodeRoles.Coordinator, WithTls(new NodeConfigOverrides { ConfigFiles = [missing] })));
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);

        var broken = Write("broken.hocon", "replaycluster { node { port = 1 ");
        error = Assert.Throws<NodeConfigurationException>(() =>
            NodeConfigLoader.Load(NodeRoles.Coordinator, WithTls(new NodeConfigOverrides { ConfigFiles = [broken] })));
        Assert.Contains(broken, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Values_spliced_into_hocon_are_quoted_so_they_cannot_inject_settings()
    {
        var error = Assert.Throws<NodeConfigurationException>(() => NodeConfigLoader.Load(NodeRoles.Coordinator,
            new NodeConfigOverrides { Hostname = "a\"\nakka.cluster.roles = [evil]" }));
        Assert.Contains("neither an IP address nor a host name", error.Message, StringComparison.Ordinal);
        Assert.Equal("\"a\\\"\\nb\"", NodeConfigLoader.Quote("a\"\nb"));
    }

    /// <summary>Cluster TLS (on by default) needs its three files to exist: a test CA's, for loads that must succeed.</summary>
    private static NodeConfigOverrides WithTls(NodeConfigOverrides overrides) =>
        overrides with { Sets = [.. TestCertificateAuthority.Shared.TlsSets(NodeRoles.Coordinator), .. overrides.Sets] };

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }
}
