using ReplayCluster.Capture.Replay;
using ReplayCluster.Configuration;
using ReplayCluster.Packets;

namespace ReplayCluster.Capture.Tests.Replay;

public sealed class ClientIdentityMapperTests
{
    private static readonly uint Target = Ipv4Address.Parse("10.0.2.2");

    [Fact]
    public void A_fake_range_gives_each_client_a_stable_address_inside_it()
    {
        var mapper = ClientIdentityMapper.FromRange("10.200.0.0/16", "-c");
        Assert.True(mapper.TryAcquire(Ipv4Address.Parse("192.0.2.7"), 40000, Target, 80, out var first, out var port));
        mapper.Release(first, port, Target, 80);
        Assert.True(mapper.TryAcquire(Ipv4Address.Parse("192.0.2.7"), 40001, Target, 80, out var second, out _));

        Assert.Equal(first, second);
        Assert.Equal(40000, port);
        Assert.Equal(0x0AC8_0000u, first & 0xFFFF_0000u);
        Assert.NotEqual(0x0AC8_0000u, first);
        Assert.NotEqual(0x0AC8_FFFFu, first);
    }

    [Fact]
    public void A_four_tuple_in_use_is_never_handed_out_twice()
    {
        var mapper = ClientIdentityMapper.FromRange("10.200.0.0/24", "-c");
        var seen = new HashSet<(uint, ushort)>();
        for (var i = 0; i < 254; i++)
        {
            Assert.True(mapper.TryAcquire(Ipv4Address.Parse("192.0.2.7"), 40000, Target, 80, out var address, out var port));
            Assert.True(seen.Add((address, port)), $"identity {Ipv4Address.Format(address)}:{port} handed out twice");
        }

        Assert.False(mapper.TryAcquire(Ipv4Address.Parse("192.0.2.7"), 40000, Target, 80, out _, out _));
        Assert.True(mapper.TryAcquire(Ipv4Address.Parse("192.0.2.7"), 40000, Target, 8080, out _, out _));
    }

    [Fact]
    public void Real_identities_move_to_another_port_only_when_theirs_is_busy()
    {
        var mapper = ClientIdentityMapper.KeepReal();
        var client = Ipv4Address.Parse("192.0.2.9");
        Assert.True(mapper.TryAcquire(client, 50000, Target, 80, out var address, out var port));
        Assert.Equal((client, (ushort)50000), (address, port));
        Assert.True(mapper.TryAcquire(client, 50000, Target, 80, out var again, out var otherPort));
        Assert.Equal(client, again);
        Assert.NotEqual(50000, otherPort);
        Assert.True(otherPort >= 1024);
        mapper.Release(address, port, Target, 80);
        mapper.Release(again, otherPort, Target, 80);
        Assert.Equal(0, mapper.InUse);
    }

    [Theory]
    [InlineData("10.200.0.0")]
    [InlineData("10.200.0.0/31")]
    [InlineData("10.200.0.0/4")]
    [InlineData("fd00::/64")]
    public void Bad_ranges_are_refused(string range) =>
        Assert.Throws<NodeConfigurationException>(() => ClientIdentityMapper.FromRange(range, "-c"));
}
