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

    private static Config Config(string hocon)
    {
        var directory = NodeConfigLoader.DefaultHoconDirectory;
        return ConfigurationFactory.ParseString("replaycluster.capture.interface = eth0\n" + hocon)
            .WithFallback(ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(directory, "capture.hocon"))))
            .WithFallback(ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(directory, "common.hocon"))));
    }
}
