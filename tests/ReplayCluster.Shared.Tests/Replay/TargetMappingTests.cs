using ReplayCluster.Replay;
using ReplayCluster.Configuration;
using ReplayCluster.Packets;

namespace ReplayCluster.Tests.Replay;

public sealed class TargetMappingTests
{
    [Fact]
    public void Entries_map_online_services_to_targets_like_tcpcopy_x()
    {
        var mapping = TargetMapping.Parse(["80-10.0.2.2:8080,10.0.0.1:443-10.0.2.3:8443", "2525-10.0.2.2:25"], "-x");

        Assert.True(mapping.TryMap(Ipv4Address.Parse("10.9.9.9"), 80, out var web));
        Assert.Equal((Ipv4Address.Parse("10.0.2.2"), (ushort)8080), (web.TargetAddress, web.TargetPort));
        Assert.True(mapping.TryMap(Ipv4Address.Parse("10.0.0.1"), 443, out var tls));
        Assert.Equal(8443, tls.TargetPort);
        Assert.False(mapping.TryMap(Ipv4Address.Parse("10.0.0.2"), 443, out _));
        Assert.False(mapping.TryMap(Ipv4Address.Parse("10.0.0.1"), 22, out _));
        Assert.Equal("tcp and ((dst port 80) or (dst port 443 and dst host 10.0.0.1) or (dst port 2525))", mapping.ToCaptureFilter());
    }

    [Theory]
    [InlineData("80", "is not [onlineIP:]onlinePort-targetIP:targetPort")]
    [InlineData("80-10.0.2.2", "needs an address and a port")]
    [InlineData("x-10.0.2.2:80", "'x' is not a port")]
    [InlineData("80-10.0.2.2:0", "'0' is not a port")]
    [InlineData("80-host:80", "'host' is not an IPv4 address")]
    [InlineData("80-10.0.2.2:80,80-10.0.2.3:80", "already maps")]
    public void Bad_entries_are_refused_naming_the_setting(string entry, string problem)
    {
        var error = Assert.Throws<NodeConfigurationException>(() => TargetMapping.Parse([entry], "replaycluster.capture.targets (-x)"));
        Assert.StartsWith("replaycluster.capture.targets (-x)", error.Message, StringComparison.Ordinal);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void No_entry_at_all_is_refused() =>
        Assert.Throws<NodeConfigurationException>(() => TargetMapping.Parse([], "-x"));
}
