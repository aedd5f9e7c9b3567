using ReplayCluster.PacketIO;

namespace ReplayCluster.Tests.PacketIO;

/// <summary>Issue 10, finding 7: a pcap file's timestamps cannot crash an offline replay.</summary>
public sealed class PcapReplayClockTests
{
    private const long Second = 1_000_000_000L;

    [Fact]
    public void Records_are_due_at_their_recorded_gaps_divided_by_the_speed()
    {
        var clock = new PcapReplayClock(speed: 2);
        Assert.True(clock.TryNext(1_700_000_000 * Second, out var first, out _));
        Assert.True(clock.TryNext((1_700_000_000 * Second) + (3 * Second), out var second, out _));
        Assert.True(clock.TryNext((1_700_000_000 * Second) + (4 * Second), out var third, out _));
        Assert.Equal([0, 1.5, 2.0], [first, second, third]);
    }

    [Fact]
    public void A_record_stamped_before_its_predecessor_is_due_at_once_and_counted()
    {
        var clock = new PcapReplayClock(speed: 1);
        clock.TryNext(10 * Second, out _, out _);
        Assert.True(clock.TryNext(5 * Second, out var due, out var refusal));
        Assert.Null(refusal);
        Assert.Equal(0, due);
        Assert.Equal(1, clock.OutOfOrder);
        Assert.True(clock.TryNext(6 * Second, out due, out _));
        Assert.Equal(1, due); // the gap from the previous record, not from the first
    }

    [Theory]
    [InlineData(25.0, 1.0, false)] // over Thread.Sleep's 24.86 days: the crash of issue 10
    [InlineData(24.0, 1.0, true)]
    [InlineData(40.0, 2.0, true)] // twice as fast: 20 days
    [InlineData(24.0, 0.5, false)] // half as fast: 48 days
    public void A_gap_longer_than_a_replay_can_wait_is_refused_with_the_reason(double days, double speed, bool accepted)
    {
        var clock = new PcapReplayClock(speed);
        clock.TryNext(0, out _, out _);
        var ok = clock.TryNext((long)(days * 86_400 * Second), out _, out var refusal);
        Assert.Equal(accepted, ok);
        Assert.Equal(accepted, refusal is null);
        if (!accepted)
        {
            Assert.Contains("days", refusal, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Extreme_timestamps_neither_overflow_nor_throw()
    {
        var clock = new PcapReplayClock(speed: 1000);
        Assert.True(clock.TryNext(long.MinValue, out _, out _));
        Assert.False(clock.TryNext(long.MaxValue, out _, out var refusal)); // 584 years, even at 1000x
        Assert.NotNull(refusal);
        Assert.True(clock.TryNext(long.MinValue, out _, out _)); // backwards: at once
    }
}
