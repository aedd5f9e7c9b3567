using ReplayCluster.Capture.Plans;
using ReplayCluster.Packets;

namespace ReplayCluster.Capture.Tests.Plans;

public sealed class AllowedNetworkTests
{
    [Theory]
    [InlineData("10.0.2.0/24", "10.0.2.0/24", "10.0.2.77", "10.0.3.1")]
    [InlineData("10.0.2.9/24", "10.0.2.0/24", "10.0.2.0", "2001:db8::1")]
    [InlineData("10.0.2.2", "10.0.2.2/32", "10.0.2.2", "10.0.2.3")]
    [InlineData("2001:db8:2::/64", "2001:db8:2::/64", "2001:db8:2::ffff:1", "2001:db8:3::1")]
    [InlineData("2001:db8:2::9/32", "2001:db8::/32", "2001:db8:ffff::1", "10.0.2.2")]
    [InlineData("2001:db8:2::2", "2001:db8:2::2/128", "2001:db8:2::2", "2001:db8:2::3")]
    public void A_network_of_either_family_is_masked_and_holds_only_its_own_family(string text, string normalized, string inside, string outside)
    {
        Assert.True(AllowedNetwork.TryParse(text, out var network));

        Assert.Equal(normalized, network.ToString());
        Assert.True(network.Contains(NetAddress.Parse(inside)));
        Assert.False(network.Contains(NetAddress.Parse(outside)));
    }

    [Theory]
    [InlineData("10.0.2.0/33")]
    [InlineData("2001:db8::/129")]
    [InlineData("::/0")]
    [InlineData("[2001:db8::1]")]
    [InlineData("host/24")]
    [InlineData(" ")]
    public void Anything_else_is_refused(string text) => Assert.False(AllowedNetwork.TryParse(text, out _));
}
