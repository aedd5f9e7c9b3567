using ReplayCluster.Memory;

namespace ReplayCluster.Tests.Memory;

public sealed class MemoryTrimPolicyTests
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(30);

    [Fact]
    public void It_polls_readiness_until_ready_then_trims_once_after_the_settle_and_stops_ticking()
    {
        var policy = new MemoryTrimPolicy(Settle);
        var ready = false;
        var asked = 0;
        var since = TimeSpan.Zero;
        bool Ready()
        {
            asked++;
            return ready;
        }

        for (var i = 0; i < 4; i++)
        {
            Assert.Equal((false, MemoryTrimPolicy.ReadyPoll), policy.OnTick(since, Ready));
            since += MemoryTrimPolicy.ReadyPoll;
        }

        ready = true;
        Assert.Equal((false, Settle), policy.OnTick(since, Ready));
        Assert.Equal((true, (TimeSpan?)null), policy.OnTick(since + Settle, Ready));
        Assert.Equal((false, (TimeSpan?)null), policy.OnTick(since + Settle + Settle, Ready));
        Assert.Equal(5, asked);
    }

    [Fact]
    public void A_node_that_is_never_ready_trims_after_the_wait_limit_and_the_settle()
    {
        var policy = new MemoryTrimPolicy(Settle);

        Assert.Equal((false, MemoryTrimPolicy.ReadyPoll), policy.OnTick(MemoryTrimPolicy.ReadyWaitLimit - TimeSpan.FromMilliseconds(1), () => false));
        Assert.Equal((false, Settle), policy.OnTick(MemoryTrimPolicy.ReadyWaitLimit, () => false));
        Assert.True(policy.OnTick(MemoryTrimPolicy.ReadyWaitLimit + Settle, () => false).Trim);
    }

    [Fact]
    public void A_settle_of_zero_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryTrimPolicy(TimeSpan.Zero));
    }
}
