using Akka.Configuration;
using ReplayCluster.Configuration;

namespace ReplayCluster.Intercept.Tests;

/// <summary>The intercept's settings as read from the shipped hocon/intercept.hocon and overrides of it.</summary>
public sealed class InterceptNodeSettingsTests
{
    [Fact]
    public void The_batch_window_defaults_to_250_microseconds_and_takes_zero_and_micros()
    {
        Assert.Equal(TimeSpan.FromMicroseconds(250), Read("").BatchWindow);
        Assert.Equal(TimeSpan.Zero, Read("batch-window = 0").BatchWindow);
        Assert.Equal(TimeSpan.FromMicroseconds(80), Read("batch-window = 80micros").BatchWindow);
        Assert.Equal(TimeSpan.FromMilliseconds(2), Read("batch-window = 2ms").BatchWindow);
    }

    [Theory]
    [InlineData("batch-window = 1s")]
    [InlineData("batch-window = -1ms")]
    [InlineData("batch-window = soon")]
    public void A_batch_window_out_of_range_or_not_a_duration_is_refused_by_name(string setting)
    {
        var error = Assert.Throws<NodeConfigurationException>(() => Read(setting));
        Assert.Contains("replaycluster.intercept.batch-window", error.Message, StringComparison.Ordinal);
    }

    private static InterceptNodeSettings Read(string overrides)
    {
        var config = ConfigurationFactory.ParseString($"replaycluster.cluster.tls = off\nreplaycluster.cluster.seeds = [\"10.0.0.1:4053\"]\nreplaycluster.intercept {{ interface = test0, {overrides} }}")
            .WithFallback(Shipped("intercept.hocon"))
            .WithFallback(Shipped("common.hocon"));
        return InterceptNodeSettings.Read(config, NodeSettingsReader.Read("intercept", config));
    }

    private static Config Shipped(string file) => ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "hocon", file)));
}
