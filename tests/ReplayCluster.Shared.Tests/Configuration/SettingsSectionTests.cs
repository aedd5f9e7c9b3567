using Akka.Configuration;
using ReplayCluster.Configuration;

namespace ReplayCluster.Tests.Configuration;

public sealed class SettingsSectionTests
{
    private static SettingsSection Section(string hocon) => new(ConfigurationFactory.ParseString(hocon), "rc.node");

    [Fact]
    public void Values_read_in_their_units()
    {
        var section = Section("""
            rc.node {
              name = " eth1 "
              count = 42
              ratio = 0.5
              size = 64 MiB
              wait = 250ms
              none = 0s
              flag = off
              list = [a, b]
              port = 9100
              empty = ""
            }
            """);

        Assert.Equal("eth1", section.Text("name"));
        Assert.Null(section.OptionalText("empty"));
        Assert.Null(section.OptionalText("missing"));
        Assert.Equal(42, section.Number("count", 1, 100));
        Assert.Equal(0.5, section.Real("ratio", 0, 1));
        Assert.Equal(64L << 20, section.Bytes("size", 1, long.MaxValue));
        Assert.Equal(TimeSpan.FromMilliseconds(250), section.Duration("wait"));
        Assert.Equal(TimeSpan.Zero, section.Duration("none", TimeSpan.Zero, TimeSpan.FromSeconds(1)));
        Assert.False(section.Flag("flag", true));
        Assert.True(section.Flag("missing", true));
        Assert.Equal(["a", "b"], section.List("list"));
        Assert.Empty(section.List("missing"));
        Assert.Equal(9100, section.Port("port", "off"));
        Assert.True(section.Has("count"));
        Assert.False(section.Has("missing"));
    }

    [Theory]
    [InlineData("count = many", "rc.node.count: 'many' is not a whole number from 1 to 100")]
    [InlineData("count = 101", "rc.node.count: '101' is not a whole number from 1 to 100")]
    [InlineData("ratio = 2", "rc.node.ratio: '2' is not a number from 0 to 1")]
    [InlineData("size = lots", "rc.node.size: 'lots' is not a size (e.g. 64 MiB)")]
    [InlineData("size = 1 KiB", "rc.node.size: '1 KiB' must be between 4096 and 1048576 bytes")]
    [InlineData("wait = soon", "rc.node.wait: 'soon' is not a duration (e.g. 30s, 500ms)")]
    [InlineData("wait = 0s", "rc.node.wait: '0s' must be longer than zero")]
    [InlineData("wait = \"\"", "rc.node.wait: is required and empty")]
    [InlineData("window = 2s", "rc.node.window: '2s' must be from 0s to 1s")]
    [InlineData("flag = maybe", "rc.node.flag: 'maybe' is not on or off")]
    [InlineData("port = 70000", "rc.node.port: '70000' is not a port number (0 = off, 1-65535)")]
    [InlineData("name = [a, b]", "rc.node.name: expected a single value: '[a,b]' is a list")]
    public void Every_refusal_names_the_setting_and_quotes_the_value(string setting, string expected)
    {
        var section = Section($"rc.node {{ {setting} }}");
        var key = setting[..setting.IndexOf(' ', StringComparison.Ordinal)];
        var error = Assert.Throws<NodeConfigurationException>(() => Read(section, key));
        Assert.StartsWith(expected, error.Message, StringComparison.Ordinal);
    }

    private static object Read(SettingsSection section, string key) => key switch
    {
        "count" => section.Number(key, 1, 100),
        "ratio" => section.Real(key, 0, 1),
        "size" => section.Bytes(key, 4096, 1 << 20),
        "wait" => section.Duration(key),
        "window" => section.Duration(key, TimeSpan.Zero, TimeSpan.FromSeconds(1)),
        "flag" => section.Flag(key, true),
        "port" => section.Port(key, "off"),
        "name" => section.Text(key),
        _ => throw new ArgumentOutOfRangeException(nameof(key)),
    };
}
