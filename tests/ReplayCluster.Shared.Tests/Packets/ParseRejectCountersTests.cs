using ReplayCluster.Packets;
using Xunit;

namespace ReplayCluster.Tests.Packets;

public sealed class ParseRejectCountersTests
{
    [Fact]
    public void Concurrent_counts_add_up_per_reason_and_in_total()
    {
        var counters = new ParseRejectCounters();
        var reasons = Enum.GetValues<ParseResult>();

        Parallel.For(0, 100_000, i => counters.Count(reasons[i % reasons.Length]));

        Assert.Equal(100_000, counters.Total);
        Assert.Equal(100_000 - counters.Get(ParseResult.Ok), counters.Rejected);
        var snapshot = counters.Snapshot();
        Assert.Equal(reasons.Length, snapshot.Count);
        Assert.Equal(100_000, snapshot.Values.Sum());
        foreach (var reason in reasons)
        {
            Assert.Equal(counters.Get(reason), snapshot[reason]);
        }
    }

    [Fact]
    public void An_undefined_result_is_a_caller_error()
    {
        var counters = new ParseRejectCounters();
        Assert.Throws<ArgumentOutOfRangeException>(() => counters.Count((ParseResult)200));
        Assert.Equal(0, counters.Get((ParseResult)200));
    }
}
