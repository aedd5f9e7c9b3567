using Akka.Configuration;
using ReplayCluster.Capture;
using ReplayCluster.Configuration;

namespace ReplayCluster.Capture.Tests.Identities;

public sealed class ClientIdentitySettingsTests
{
    [Fact]
    public void The_reference_configuration_holds_identities_back_for_65_s()
    {
        var settings = CaptureNodeSettingsReader.Read(Config(string.Empty));
        Assert.Equal(TimeSpan.FromSeconds(65), settings.Identities.ReuseDelay);
        Assert.Equal(1 << 20, settings.Identities.QuarantineCapacity);
        Assert.True(settings.Identities.Quarantines);
    }

    [Fact]
    public void Zero_turns_the_quarantine_off()
    {
        var settings = CaptureNodeSettingsReader.Read(Config("replaycluster.capture.identity.reuse-delay = 0s"));
        Assert.False(settings.Identities.Quarantines);
    }

    [Theory]
    [InlineData("replaycluster.capture.identity.reuse-delay = -1s", "identity.reuse-delay")]
    [InlineData("replaycluster.capture.identity.reuse-delay = 2h", "identity.reuse-delay")]
    [InlineData("replaycluster.capture.identity.quarantine-capacity = -1", "identity.quarantine-capacity")]
    [InlineData("replaycluster.capture.identity.quarantine-capacity = lots", "identity.quarantine-capacity")]
    public void Bad_values_name_the_setting(string hocon, string setting)
    {
        var error = Assert.Throws<NodeConfigurationException>(() => CaptureNodeSettingsReader.Read(Config(hocon)));
        Assert.Contains(setting, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void By_default_a_node_allows_only_its_own_targets_keeps_no_real_addresses_and_refuses_public_ranges()
    {
        var settings = CaptureNodeSettingsReader.Read(Config(string.Empty));

        Assert.Empty(settings.AllowedTargets);
        Assert.False(settings.RealClientAddresses);
        Assert.False(settings.AllowPublicFakeRange);
    }

    [Fact]
    public void Allowed_targets_are_addresses_or_networks()
    {
        var settings = CaptureNodeSettingsReader.Read(Config("""replaycluster.capture.allowed-targets = ["10.0.1.20", "10.0.2.77/24"]"""));

        Assert.Equal(["10.0.1.20/32", "10.0.2.0/24"], settings.AllowedTargets.Select(n => n.ToString()));
    }

    [Theory]
    [InlineData("""replaycluster.capture.allowed-targets = ["somewhere"]""", "allowed-targets")]
    [InlineData("""replaycluster.capture.allowed-targets = ["10.0.0.0/33"]""", "allowed-targets")]
    [InlineData("""replaycluster.capture.fake-client-range = "8.8.0.0/16" """, "not private")]
    [InlineData("""replaycluster.capture.fake-client-range = "10.200.0.0/16,2001:db8::/64" """, "not a unique local range")]
    [InlineData("""replaycluster.capture.fake-client-range = "10.200.0.0/16,fe80::/64" """, "link-local")]
    [InlineData("""replaycluster.capture.targets = ["80-[::1]:8080"]""", "loopback")]
    [InlineData("""replaycluster.capture.targets = ["80-127.0.0.1:8080"]""", "loopback")]
    [InlineData("""replaycluster.capture.targets = ["80-255.255.255.255:8080"]""", "broadcast")]
    public void Unsafe_targets_and_ranges_stop_the_node_naming_the_setting(string hocon, string problem)
    {
        var error = Assert.Throws<NodeConfigurationException>(() => CaptureNodeSettingsReader.Read(Config(hocon)));
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_target_that_is_an_address_of_this_host_stops_the_node()
    {
        var own = Capture.Plans.NodePlanPolicy.LocalAddresses().First(a => a.IsIpv4 && a.Ipv4 >> 24 != 127).Ipv4;
        var address = ReplayCluster.Packets.Ipv4Address.Format(own);

        var error = Assert.Throws<NodeConfigurationException>(() => CaptureNodeSettingsReader.Read(Config($"replaycluster.capture.targets = [\"80-{address}:8080\"]")));
        Assert.Contains("an address of this host", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_public_range_of_its_own_needs_the_opt_in()
    {
        var settings = CaptureNodeSettingsReader.Read(Config("replaycluster.capture.fake-client-range = \"8.8.0.0/16\"\nreplaycluster.capture.allow-public-fake-range = on"));

        Assert.Equal("8.8.0.0/16", settings.FakeClientRange);
    }

    private static Config Config(string hocon)
    {
        var directory = NodeConfigLoader.DefaultHoconDirectory;
        return ConfigurationFactory.ParseString("replaycluster.capture.interface = eth0\n" + hocon)
            .WithFallback(ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(directory, "capture.hocon"))))
            .WithFallback(ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(directory, "common.hocon"))));
    }
}
