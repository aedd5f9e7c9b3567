using ReplayCluster.Protocol;
using ReplayCluster.Configuration;
using ReplayCluster.Packets;

namespace ReplayCluster.Tests.Protocol;

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

        // The same lookup by place (what a captured packet carries): the route TryMap gives, or -1.
        Assert.Equal(web, mapping.Routes[mapping.IndexOf(Ipv4Address.Parse("10.9.9.9"), 80)]);
        Assert.Equal(tls, mapping.Routes[mapping.IndexOf(Ipv4Address.Parse("10.0.0.1"), 443)]);
        Assert.Equal(2525, mapping.Routes[mapping.IndexOf(Ipv4Address.Parse("10.9.9.9"), 2525)].OnlinePort);
        Assert.Equal(-1, mapping.IndexOf(Ipv4Address.Parse("10.0.0.2"), 443));
        Assert.Equal(-1, mapping.IndexOf(Ipv4Address.Parse("10.0.0.1"), 22));
    }

    [Theory]
    [InlineData("80", "is not [onlineIP:]onlinePort-targetIP:targetPort")]
    [InlineData("80-10.0.2.2", "needs an address and a port")]
    [InlineData("x-10.0.2.2:80", "'x' is not a port")]
    [InlineData("80-10.0.2.2:0", "'0' is not a port")]
    [InlineData("80-host:80", "'host' is not an IPv4 address")]
    [InlineData("80-10.0.2.2:80,80-10.0.2.3:80", "already maps")]
    [InlineData("80-10.0.2.2:80/fast", "pacing 'fast' is not wait, wait:N")]
    [InlineData("80-10.0.2.2:80/wait:0", "pacing 'wait:0' is not")]
    [InlineData("80-10.0.2.2:80/wait:1025", "pacing 'wait:1025' is not")]
    [InlineData("80-10.0.2.2:80/wait:", "pacing 'wait:' is not")]
    [InlineData("80-10.0.2.2:80/no-wait:3", "pacing 'no-wait:3' is not")]
    [InlineData("80-10.0.2.2:80/", "pacing '' is not")]
    [InlineData("80-2001:db8::2:80", "is an IPv6 address without brackets: write [2001:db8::2]:80")]
    [InlineData("80-[2001:db8::2:80", "is not an IPv6 address in brackets")]
    [InlineData("80-[10.0.2.2]:80", "is not an IPv6 address in brackets")]
    [InlineData("80-[::ffff:10.0.2.2]:80", "is not an IPv6 address in brackets")]
    [InlineData("[2001:db8::1]:80-[2001:db8:2::2]:80,80-[2001:db8:2::3]:80", "already maps")]
    public void Bad_entries_are_refused_naming_the_setting(string entry, string problem)
    {
        var error = Assert.Throws<NodeConfigurationException>(() => TargetMapping.Parse([entry], "replaycluster.capture.targets (-x)"));
        Assert.StartsWith("replaycluster.capture.targets (-x)", error.Message, StringComparison.Ordinal);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_pacing_suffix_rides_on_the_route()
    {
        var mapping = TargetMapping.Parse(["5432-10.0.2.2:5432/wait:64,80-10.0.2.2:8080/no-wait", "10.0.0.1:25-10.0.2.2:2525/wait", "443-10.0.2.3:8443"], "-x");

        Assert.True(mapping.TryMap(Ipv4Address.Parse("10.9.9.9"), 5432, out var database));
        Assert.Equal(new TargetPacing(TargetPacingMode.Wait, 64), database.Pacing);
        Assert.Equal(5432, database.TargetPort);
        Assert.True(mapping.TryMap(Ipv4Address.Parse("10.9.9.9"), 80, out var web));
        Assert.Equal(TargetPacingMode.NoWait, web.Pacing.Mode);
        Assert.Equal(8080, web.TargetPort);
        Assert.True(mapping.TryMap(Ipv4Address.Parse("10.0.0.1"), 25, out var mail));
        Assert.Equal(new TargetPacing(TargetPacingMode.Wait), mail.Pacing);
        Assert.True(mapping.TryMap(Ipv4Address.Parse("10.9.9.9"), 443, out var tls));
        Assert.Equal(TargetPacingMode.NodeDefault, tls.Pacing.Mode);
        Assert.Equal("tcp and ((dst port 5432) or (dst port 80) or (dst port 25 and dst host 10.0.0.1) or (dst port 443))", mapping.ToCaptureFilter());
    }

    [Theory]
    [InlineData("80-10.0.2.2:8080")]
    [InlineData("10.0.0.1:443-10.0.2.3:8443/wait")]
    [InlineData("5432-10.0.2.2:5432/wait:1")]
    [InlineData("5432-10.0.2.2:5432/wait:1024")]
    [InlineData("80-10.0.2.2:8080/no-wait,10.0.0.1:25-10.0.2.2:2525/wait:7")]
    [InlineData("80-[2001:db8:2::2]:8080")]
    [InlineData("[2001:db8::1]:443-[2001:db8:2::3]:8443/wait:4,[2001:db8::1]:80-10.0.2.2:80")]
    public void Entries_round_trip(string entries)
    {
        var mapping = TargetMapping.Parse([entries], "-x");

        Assert.Equal(entries, mapping.ToString());
        Assert.Equal(mapping.Routes, TargetMapping.Parse([mapping.ToString()], "-x").Routes);
        Assert.Equal(entries.Split(',')[0], mapping.Routes[0].ToString());
    }

    [Fact]
    public void Ipv6_services_and_targets_stand_in_brackets_and_a_route_without_an_online_address_serves_both_families()
    {
        var mapping = TargetMapping.Parse(["[2001:db8::1]:443-[2001:db8:2::3]:8443,80-[2001:db8:2::2]:8080,25-10.0.2.2:25"], "-x");

        Assert.True(mapping.TryMap(NetAddress.Parse("2001:db8::1"), 443, out var tls));
        Assert.Equal((NetAddress.Parse("2001:db8:2::3"), (ushort)8443), (tls.TargetAddress, tls.TargetPort));
        Assert.False(mapping.TryMap(NetAddress.Parse("2001:db8::9"), 443, out _));
        Assert.False(mapping.TryMap(Ipv4Address.Parse("10.0.0.1"), 443, out _));
        Assert.True(mapping.TryMap(NetAddress.Parse("2001:db8::9"), 80, out var web6));
        Assert.True(mapping.TryMap(Ipv4Address.Parse("10.0.0.1"), 80, out var web4));
        Assert.Equal(web6, web4);
        Assert.True(NetAddress.Parse("2001:db8:2::2") == web4.TargetAddress);
        Assert.True(mapping.TryMap(NetAddress.Parse("2001:db8::9"), 25, out var mail));
        Assert.True(mail.TargetAddress.IsIpv4);
        Assert.Equal("tcp and ((dst port 443 and dst host 2001:db8::1) or (dst port 80) or (dst port 25))", mapping.ToCaptureFilter());
    }

    [Fact]
    public void No_entry_at_all_is_refused() =>
        Assert.Throws<NodeConfigurationException>(() => TargetMapping.Parse([], "-x"));
}
