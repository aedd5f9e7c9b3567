using System.Net;
using System.Net.Sockets;
using CsCheck;
using ReplayCluster.Packets;
using ReplayCluster.Protocol;
using Xunit;

namespace ReplayCluster.Tests.Packets;

public sealed class NetAddressTests
{
    /// <summary>Addresses of both families (and, rarely, the unspecified one), as sessions and replies carry them.</summary>
    internal static readonly Gen<NetAddress> AnyAddress = Gen.Frequency(
        (4, Gen.UInt.Select(a => (NetAddress)a)),
        (4, Gen.Select(Gen.ULong, Gen.ULong, (upper, lower) => (NetAddress)new Ipv6Address(upper, lower))),
        (1, Gen.Const(NetAddress.Unspecified)));

    [Theory]
    [InlineData("10.0.0.1", AddressFamily.InterNetwork, "10.0.0.1", "10.0.0.1")]
    [InlineData("0.0.0.0", AddressFamily.InterNetwork, "0.0.0.0", "0.0.0.0")]
    [InlineData("255.255.255.255", AddressFamily.InterNetwork, "255.255.255.255", "255.255.255.255")]
    [InlineData("2001:DB8::1", AddressFamily.InterNetworkV6, "2001:db8::1", "[2001:db8::1]")]
    [InlineData("::ffff:192.0.2.1", AddressFamily.InterNetwork, "192.0.2.1", "192.0.2.1")]
    [InlineData("::", AddressFamily.Unspecified, "::", "[::]")]
    public void Text_of_either_family_parses_to_one_value_and_formats_in_its_own_family(string text, AddressFamily family, string formatted, string endpoint)
    {
        var address = NetAddress.Parse(text);

        Assert.Equal(family, address.Family);
        Assert.Equal(formatted, address.ToString());
        Assert.Equal(endpoint, address.ToEndpointString());
        Assert.Equal(address, NetAddress.Parse(formatted));
    }

    [Theory]
    [InlineData("")]
    [InlineData("10")]
    [InlineData("10.1")]
    [InlineData("10.0.0.256")]
    [InlineData("10.0.0.1/24")]
    [InlineData("[2001:db8::1]")]
    [InlineData("fe80::1%eth0")]
    [InlineData("2001:db8::1::2")]
    [InlineData("host")]
    public void Anything_but_one_address_is_refused(string text)
    {
        Assert.False(NetAddress.TryParse(text, out var address));
        Assert.Equal(NetAddress.Unspecified, address);
        Assert.Throws<FormatException>(() => NetAddress.Parse(text));
    }

    [Fact]
    public void An_ipv4_address_is_its_host_order_uint_and_an_ipv6_one_refuses_to_be_one()
    {
        NetAddress ipv4 = 0x0A00_0001u;
        Assert.True(ipv4.IsIpv4);
        Assert.False(ipv4.IsIpv6);
        Assert.Equal(0x0A00_0001u, ipv4.Ipv4);
        Assert.Equal(NetAddress.FromIpv6(Ipv6Address.MapFromIpv4(0x0A00_0001u)), ipv4);
        Assert.Equal(IPAddress.Parse("10.0.0.1"), ipv4.ToIPAddress());

        var ipv6 = NetAddress.Parse("2001:db8::1");
        Assert.True(ipv6.IsIpv6);
        Assert.Throws<InvalidOperationException>(() => ipv6.Ipv4);
        Assert.Throws<InvalidOperationException>(() => NetAddress.Unspecified.Ipv4);
        Assert.Equal(IPAddress.Parse("2001:db8::1"), ipv6.ToIPAddress());
        Assert.Equal(ipv6, NetAddress.FromIPAddress(IPAddress.Parse("2001:db8::1")));
        Assert.Equal(ipv4, NetAddress.FromIPAddress(IPAddress.Parse("10.0.0.1").MapToIPv6()));
    }

    [Fact]
    public void Unspecified_is_the_default_and_no_ipv4_address()
    {
        Assert.True(default(NetAddress).IsUnspecified);
        Assert.False(NetAddress.Unspecified.IsIpv4);
        Assert.False(NetAddress.Unspecified.IsIpv6);
        Assert.NotEqual(NetAddress.FromIpv4(0), NetAddress.Unspecified);
    }

    [Fact]
    public void The_hash_key_of_an_ipv4_address_is_the_address_so_sampling_and_shards_choose_as_before()
    {
        Gen.UInt.Sample(a => ((NetAddress)a).HashKey == a, iter: 2_000);
    }

    [Fact]
    public void Every_address_round_trips_its_16_byte_wire_form_and_equal_addresses_hash_alike()
    {
        AnyAddress.Sample(address =>
        {
            Span<byte> wire = stackalloc byte[NetAddress.Length];
            address.Write(wire);
            var back = NetAddress.Read(wire);
            return back == address && back.GetHashCode() == address.GetHashCode() && back.CompareTo(address) == 0;
        }, iter: 2_000);
    }

    [Fact]
    public void Session_endpoints_of_either_family_round_trip_their_wire_form()
    {
        Gen.Select(AnyAddress, Gen.UShort, AnyAddress, Gen.UShort).Sample((client, clientPort, target, targetPort) =>
        {
            var endpoints = new SessionEndpoints(client, clientPort, target, targetPort);
            var wire = new byte[SessionEndpoints.EncodedSize];
            endpoints.Write(wire);
            return SessionEndpoints.Read(wire) == endpoints;
        }, iter: 2_000);

        Assert.Equal("[2001:db8:c::7]:40000 -> [2001:db8:2::2]:80",
            new SessionEndpoints(NetAddress.Parse("2001:db8:c::7"), 40000, NetAddress.Parse("2001:db8:2::2"), 80).ToString());
        Assert.Equal("10.200.0.7:40000 -> 10.0.2.2:80", new SessionEndpoints(0x0AC8_0007u, 40000, 0x0A00_0202u, 80).ToString());
    }
}
