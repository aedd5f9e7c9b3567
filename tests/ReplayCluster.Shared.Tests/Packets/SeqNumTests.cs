using CsCheck;
using ReplayCluster.Packets;
using Xunit;

namespace ReplayCluster.Tests.Packets;

public sealed class SeqNumTests
{
    [Fact]
    public void Order_holds_across_the_wrap_from_uint_max_to_zero()
    {
        Assert.True(SeqNum.Before(uint.MaxValue, 0));
        Assert.True(SeqNum.After(0, uint.MaxValue));
        Assert.True(SeqNum.Before(0xFFFF_FF00, 0x0000_0100));
        Assert.False(SeqNum.Before(5, 5));
        Assert.True(SeqNum.BeforeOrEqual(5, 5));
        Assert.True(SeqNum.AfterOrEqual(5, 5));
        Assert.False(SeqNum.After(5, 5));
    }

    [Fact]
    public void Diff_is_the_signed_distance_from_the_first_to_the_second_argument()
    {
        Assert.Equal(1, SeqNum.Diff(uint.MaxValue, 0));
        Assert.Equal(-1, SeqNum.Diff(0, uint.MaxValue));
        Assert.Equal(0x200, SeqNum.Diff(0xFFFF_FF00, 0x0000_0100));
        Assert.Equal(int.MinValue, SeqNum.Diff(0, 0x8000_0000));
    }

    [Fact]
    public void Max_and_min_pick_by_sequence_order_not_numeric_order()
    {
        Assert.Equal(3u, SeqNum.Max(uint.MaxValue - 2, 3));
        Assert.Equal(uint.MaxValue - 2, SeqNum.Min(uint.MaxValue - 2, 3));
        Assert.Equal(7u, SeqNum.Max(7, 7));
    }

    [Fact]
    public void In_window_is_half_open_and_wraps()
    {
        Assert.True(SeqNum.InWindow(uint.MaxValue, uint.MaxValue - 1, 4));
        Assert.True(SeqNum.InWindow(1, uint.MaxValue - 1, 4));
        Assert.False(SeqNum.InWindow(2, uint.MaxValue - 1, 4));
        Assert.False(SeqNum.InWindow(uint.MaxValue - 2, uint.MaxValue - 1, 4));
        Assert.False(SeqNum.InWindow(10, 10, 0));
    }

    [Fact]
    public void Antipodal_numbers_are_before_each_other_as_in_linux()
    {
        Assert.True(SeqNum.Before(0, 0x8000_0000));
        Assert.True(SeqNum.Before(0x8000_0000, 0));
    }

    [Fact]
    public void Adding_a_positive_distance_below_two_to_the_31_always_moves_after()
    {
        Gen.Select(Gen.UInt, Gen.UInt[1, int.MaxValue]).Sample((a, d) =>
        {
            var b = unchecked(a + d);
            return SeqNum.After(b, a) && SeqNum.Before(a, b) && SeqNum.Diff(a, b) == (int)d
                && SeqNum.Max(a, b) == b && SeqNum.Min(a, b) == a && SeqNum.InWindow(unchecked(b - 1), a, d)
                && !SeqNum.InWindow(b, a, d);
        }, iter: 10_000);
    }

    [Fact]
    public void Order_is_antisymmetric_and_diff_round_trips_for_all_non_antipodal_pairs()
    {
        Gen.Select(Gen.UInt, Gen.UInt).Where((a, b) => unchecked(a - b) != 0x8000_0000).Sample((a, b) =>
        {
            var exactlyOne = (SeqNum.Before(a, b) ? 1 : 0) + (SeqNum.After(a, b) ? 1 : 0) + (a == b ? 1 : 0);
            return exactlyOne == 1 && unchecked(a + (uint)SeqNum.Diff(a, b)) == b
                && SeqNum.BeforeOrEqual(a, b) == !SeqNum.After(a, b);
        }, iter: 10_000);
    }
}
