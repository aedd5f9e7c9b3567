using System.Net;
using ReplayCluster.Coordinator.Identities;

namespace ReplayCluster.Coordinator.Tests.Identities;

public sealed class SliceTableTests
{
    private static readonly IPNetwork Range = IPNetwork.Parse("10.200.0.0/16");

    [Fact]
    public void Owners_get_disjoint_slices_lowest_first_and_keep_theirs_when_asking_again()
    {
        var table = new SliceTable<string>(Range, 24);
        Assert.Equal(256, table.Capacity);

        Assert.Equal(IPNetwork.Parse("10.200.0.0/24"), table.Grant("capture-a"));
        Assert.Equal(IPNetwork.Parse("10.200.1.0/24"), table.Grant("capture-b"));
        Assert.Equal(IPNetwork.Parse("10.200.0.0/24"), table.Grant("capture-a"));
        Assert.Equal(2, table.Granted);
    }

    [Fact]
    public void A_released_slice_is_handed_out_again()
    {
        var table = new SliceTable<string>(Range, 24);
        table.Grant("capture-a");
        table.Grant("capture-b");

        Assert.Equal([IPNetwork.Parse("10.200.0.0/24")], table.Release("capture-a"));
        Assert.Equal(IPNetwork.Parse("10.200.0.0/24"), table.Grant("capture-c"));
        Assert.Empty(table.Release("capture-a"));
    }

    [Fact]
    public void A_node_that_held_a_slice_before_a_coordinator_restart_gets_it_back_when_free()
    {
        var table = new SliceTable<string>(Range, 24);
        table.Grant("capture-a");

        Assert.Equal(IPNetwork.Parse("10.200.7.0/24"), table.Grant("capture-b", IPNetwork.Parse("10.200.7.0/24")));
        Assert.Equal(IPNetwork.Parse("10.200.1.0/24"), table.Grant("capture-c", IPNetwork.Parse("10.200.7.0/24")));
        Assert.Equal(IPNetwork.Parse("10.200.2.0/24"), table.Grant("capture-d", IPNetwork.Parse("10.201.0.0/24")));
        Assert.Equal(IPNetwork.Parse("10.200.3.0/24"), table.Grant("capture-e", IPNetwork.Parse("10.200.9.0/25")));
    }

    [Theory]
    [InlineData("10.199.255.0/24")] // below the range: an unsigned difference would wrap around into it
    [InlineData("0.0.0.0/24")]
    [InlineData("255.255.255.0/24")]
    public void A_preferred_slice_outside_the_range_is_not_granted(string preferred)
    {
        var table = new SliceTable<string>(Range, 24);

        Assert.Equal(IPNetwork.Parse("10.200.0.0/24"), table.Grant("capture-a", IPNetwork.Parse(preferred)));
    }

    [Fact]
    public void The_last_slice_at_the_top_of_the_address_space_is_computed_without_overflow()
    {
        var table = new SliceTable<int>(IPNetwork.Parse("255.255.254.0/23"), 24);

        Assert.Equal(IPNetwork.Parse("255.255.255.0/24"), table.Grant(1, IPNetwork.Parse("255.255.255.0/24")));
        Assert.Equal(IPNetwork.Parse("255.255.254.0/24"), table.Grant(2));
        Assert.Null(table.Grant(3));
    }

    [Fact]
    public void An_exhausted_range_grants_nothing()
    {
        var table = new SliceTable<int>(IPNetwork.Parse("10.200.0.0/23"), 24);
        Assert.NotNull(table.Grant(1));
        Assert.NotNull(table.Grant(2));
        Assert.Null(table.Grant(3));
    }

    [Fact]
    public void Many_owners_never_share_an_address()
    {
        var table = new SliceTable<int>(Range, 28);
        var slices = Enumerable.Range(0, table.Capacity).Select(i => table.Grant(i)!.Value).ToList();
        var addresses = slices.SelectMany(s => Enumerable.Range(0, 16).Select(k => s.BaseAddress.GetAddressBytes()[3] + k + (s.BaseAddress.GetAddressBytes()[2] << 8))).ToList();
        Assert.Equal(addresses.Count, addresses.Distinct().Count());
        Assert.All(slices, s => Assert.True(Range.Contains(s.BaseAddress)));
    }
}
