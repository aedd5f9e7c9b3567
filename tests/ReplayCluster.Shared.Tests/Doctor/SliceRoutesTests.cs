using System.Net;
using ReplayCluster.Doctor;

namespace ReplayCluster.Tests.Doctor;

public sealed class SliceRoutesTests
{
    private static readonly IPNetwork Fake = IPNetwork.Parse("10.200.0.0/16");

    private const string Links = """
        default via 10.251.0.1 dev eth0
        10.251.3.0/24 dev veth-t proto kernel scope link src 10.251.3.1
        10.251.5.0/24 dev veth-s proto kernel scope link src 10.251.5.1
        """;

    [Fact]
    public void One_route_for_the_whole_range_routes_every_slice()
    {
        var result = Assess(Links + "\n10.200.0.0/16 via 10.251.5.2 dev veth-s\n");
        Assert.Equal(256, result.Slices);
        Assert.Empty(result.Bad);
        Assert.Equal(["via 10.251.5.2 dev veth-s"], result.NextHops);
    }

    [Fact]
    public void A_route_for_the_first_slice_only_leaves_the_others_on_the_default_route()
    {
        var result = Assess(Links + "\n10.200.0.0/24 via 10.251.5.2 dev veth-s\n");
        Assert.Equal(255, result.Bad.Count);
        Assert.Equal(("10.200.1.0/24", "the default route (via 10.251.0.1 dev eth0)"), result.Bad[0]);
    }

    [Fact]
    public void A_hole_inside_one_slice_is_found_although_its_first_and_last_address_are_routed()
    {
        var routes = "10.200.0.0/16 via 10.251.5.2 dev veth-s\nblackhole 10.200.9.64/26\n";
        var result = Assess(routes);
        Assert.Equal([("10.200.9.0/24", "a blackhole route (26)")], result.Bad);
    }

    [Fact]
    public void Without_a_default_route_unrouted_slices_have_no_route()
    {
        var result = Assess("10.200.0.0/17 dev ifb0\n");
        Assert.Equal(128, result.Bad.Count);
        Assert.All(result.Bad, b => Assert.Equal("no route", b.Reason));
        Assert.Equal(["dev ifb0"], result.NextHops);
    }

    [Fact]
    public void Multipath_routes_and_a_range_narrower_than_a_slice_are_read()
    {
        var table = "10.200.0.0/16 proto static\n\tnexthop via 10.251.5.2 dev veth-s weight 1\n\tnexthop via 10.251.6.2 dev veth-u weight 1\n";
        var result = SliceRoutes.Assess(IPNetwork.Parse("10.200.3.0/26"), 24, SliceRoutes.Parse(table));
        Assert.Equal(1, result.Slices);
        Assert.Empty(result.Bad);
        Assert.Equal(["via 10.251.5.2 dev veth-s via 10.251.6.2 dev veth-u"], result.NextHops);
    }

    private static SliceRoutes.Assessment Assess(string table) => SliceRoutes.Assess(Fake, 24, SliceRoutes.Parse(table));

    private static readonly IPNetwork Fake6 = IPNetwork.Parse("fd00:c8::/48");

    // What `ip -6 route show table main` prints on a dual-stack target (iproute2 6.1).
    private const string Links6 = """
        fd00:251:3::/64 dev veth-t proto kernel metric 256 pref medium
        fd00:251:5::/64 dev veth-s proto kernel metric 256 pref medium
        fe80::/64 dev veth-t proto kernel metric 256 pref medium
        default via fd00:251:3::fe dev veth-t metric 1024 pref medium
        """;

    [Fact]
    public void An_ipv6_range_is_assessed_per_64_against_the_ipv6_table()
    {
        var whole = SliceRoutes.Assess(Fake6, 64, SliceRoutes.Parse(Links6 + "\nfd00:c8::/48 via fd00:251:5::2 dev veth-s metric 1024 pref medium\n", ipv6: true));
        Assert.Equal(65536, whole.Slices);
        Assert.Empty(whole.Bad);
        Assert.Equal(["via fd00:251:5::2 dev veth-s"], whole.NextHops);

        var first = SliceRoutes.Assess(Fake6, 64, SliceRoutes.Parse(Links6 + "\nfd00:c8::/64 via fd00:251:5::2 dev veth-s\n", ipv6: true));
        Assert.Equal(65535, first.Bad.Count);
        Assert.Equal(("fd00:c8:0:1::/64", "the default route (via fd00:251:3::fe dev veth-t)"), first.Bad[0]);

        // A hole in one /64 (a host route elsewhere) is found; an IPv4 route never routes an IPv6 slice.
        var hole = SliceRoutes.Assess(Fake6, 64, SliceRoutes.Parse("fd00:c8::/48 via fd00:251:5::2 dev veth-s\nblackhole fd00:c8:0:9::77\n", ipv6: true));
        Assert.Equal([("fd00:c8:0:9::/64", "a blackhole route (128)")], hole.Bad);
        Assert.Equal(65536, SliceRoutes.Assess(Fake6, 64, SliceRoutes.Parse("0.0.0.0/0 dev eth0\n10.200.0.0/16 dev ifb0\n")).Bad.Count);
    }
}
