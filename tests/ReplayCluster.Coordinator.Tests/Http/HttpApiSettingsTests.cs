using System.Net;
using Akka.Configuration;
using ReplayCluster.Configuration;
using ReplayCluster.Coordinator.Http;

namespace ReplayCluster.Coordinator.Tests.Http;

public sealed class HttpApiSettingsTests
{
    [Fact]
    public void The_reference_hocon_binds_loopback_with_the_token_beside_the_nodes_state()
    {
        var reference = ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "hocon", "coordinator.hocon")));

        var settings = HttpApiSettings.Read(reference, CoordinatorSettings.Read(reference).HttpEndpoint!);

        Assert.Equal((IPAddress.Loopback, 8080), (settings.Address, settings.Port));
        Assert.Equal("/var/lib/replaycluster/api-token", settings.TokenFile);
        Assert.Empty(settings.AllowedHosts);
        Assert.False(settings.Tls);
    }

    [Theory]
    [InlineData("10.0.0.5:8080")]
    [InlineData("0.0.0.0:8080")]
    [InlineData("[::]:8080")]
    public void A_bind_off_loopback_without_a_certificate_is_refused_naming_the_setting(string endpoint)
    {
        var error = Assert.Throws<NodeConfigurationException>(() =>
            HttpApiSettings.Read(ConfigurationFactory.ParseString("replaycluster.coordinator.http.allowed-hosts = [coordinator.lab]"), endpoint));

        Assert.StartsWith("replaycluster.coordinator.http.tls.certificate: ", error.Message, StringComparison.Ordinal);
        Assert.Contains("not loopback", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bind_off_loopback_with_a_certificate_and_key_is_taken()
    {
        var folder = Directory.CreateTempSubdirectory("replaycluster-http-settings-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(folder, "api.crt"), "pem");
            File.WriteAllText(Path.Combine(folder, "api.key"), "pem");
            var config = ConfigurationFactory.ParseString($$"""
                replaycluster.coordinator.http {
                  token-file = "{{folder}}/token"
                  tls { certificate = "{{folder}}/api.crt", key = "{{folder}}/api.key" }
                }
                """);

            var settings = HttpApiSettings.Read(config, "10.0.0.5:8443");

            Assert.True(settings.Tls);
            Assert.Equal("https", settings.Scheme);
            Assert.Equal(IPAddress.Parse("10.0.0.5"), settings.Address);

            // Every interface: the names clients use must be listed for the Host check.
            var wildcard = Assert.Throws<NodeConfigurationException>(() => HttpApiSettings.Read(config, "0.0.0.0:8443"));
            Assert.StartsWith("replaycluster.coordinator.http.allowed-hosts: ", wildcard.Message, StringComparison.Ordinal);

            // A certificate without its key.
            var half = ConfigurationFactory.ParseString($"replaycluster.coordinator.http.tls.certificate = \"{folder}/api.crt\"");
            Assert.StartsWith("replaycluster.coordinator.http.tls.key: ", Assert.Throws<NodeConfigurationException>(() => HttpApiSettings.Read(half, "127.0.0.1:8443")).Message,
                StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData("coordinator.lab:8080", "replaycluster.coordinator.http-endpoint: ")]
    public void A_host_name_to_bind_is_refused_because_kestrel_would_bind_every_interface(string endpoint, string prefix)
    {
        var error = Assert.Throws<NodeConfigurationException>(() => HttpApiSettings.Read(ConfigurationFactory.ParseString(string.Empty), endpoint));

        Assert.StartsWith(prefix, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Localhost_binds_loopback_and_a_relative_token_path_is_refused()
    {
        Assert.Equal(IPAddress.Loopback, HttpApiSettings.Read(ConfigurationFactory.ParseString(string.Empty), "localhost:8080").Address);
        var error = Assert.Throws<NodeConfigurationException>(() =>
            HttpApiSettings.Read(ConfigurationFactory.ParseString("replaycluster.coordinator.http.token-file = api-token"), "127.0.0.1:8080"));
        Assert.StartsWith("replaycluster.coordinator.http.token-file: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task A_token_file_that_holds_no_token_stops_the_coordinator_before_it_forms_a_cluster()
    {
        var folder = Directory.CreateTempSubdirectory("rc-token-");
        try
        {
            var tokenFile = Path.Combine(folder.FullName, "api-token");
            File.WriteAllText(tokenFile, "not a token\n");
            File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            var binary = Path.Combine(AppContext.BaseDirectory, "replaycluster-coordinator.dll");
            var start = new System.Diagnostics.ProcessStartInfo("dotnet")
            {
                ArgumentList = { binary, "--port", "0", "--set", "replaycluster.cluster.tls = off", "--token-file", tokenFile },
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            };
            using var process = System.Diagnostics.Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
            var error = await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), "the coordinator did not exit");

            // A configuration error (exit 2) naming the setting, before the actor system started: no cluster line.
            Assert.Equal(2, process.ExitCode);
            Assert.Contains("configuration error: replaycluster.coordinator.http.token-file: ", error, StringComparison.Ordinal);
            Assert.Contains("does not hold a token", error, StringComparison.Ordinal);
            Assert.DoesNotContain("Cluster Node", await output, StringComparison.Ordinal);
            Assert.Equal("not a token\n", File.ReadAllText(tokenFile));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void The_coordinator_does_not_start_with_a_plain_http_bind_off_loopback()
    {
        var binary = Path.Combine(AppContext.BaseDirectory, "replaycluster-coordinator.dll");
        var start = new System.Diagnostics.ProcessStartInfo("dotnet")
        {
            // Cluster TLS off: its missing certificates would be refused first.
            ArgumentList = { binary, "--port", "0", "--set", "replaycluster.cluster.tls = off", "--set", "replaycluster.coordinator.http-endpoint=\"10.0.0.5:8080\"" },
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using var process = System.Diagnostics.Process.Start(start)!;
        var error = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), "the coordinator did not exit");

        Assert.Equal(2, process.ExitCode);
        Assert.Contains("configuration error: replaycluster.coordinator.http.tls.certificate: ", error, StringComparison.Ordinal);
    }
}
