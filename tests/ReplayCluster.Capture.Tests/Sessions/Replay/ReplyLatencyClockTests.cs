using ReplayCluster.Capture.Sessions;
using ReplayCluster.Statistics;

namespace ReplayCluster.Capture.Tests.Sessions.Replay;

public sealed class ReplyLatencyClockTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.UnixEpoch;

    [Fact]
    public void A_request_is_timed_from_its_last_byte_to_the_first_response_byte()
    {
        var histogram = new ReplyLatencyHistogram();
        var clock = new ReplyLatencyClock(histogram);
        clock.OnRequestBytesFirstSent(startsRequest: true, T0);
        clock.OnRequestBytesFirstSent(startsRequest: false, T0 + TimeSpan.FromMilliseconds(2));
        clock.OnResponseBytes(T0 + TimeSpan.FromMilliseconds(7));
        clock.OnResponseBytes(T0 + TimeSpan.FromMilliseconds(9));

        var counters = new Dictionary<string, long>();
        histogram.WriteCounters(counters);
        Assert.Equal(1, counters[ReplyLatencyHistogram.CountCounter]);
        Assert.Equal(5000, counters[ReplyLatencyHistogram.SumCounter]);
        Assert.False(clock.Awaiting);
    }

    [Fact]
    public void A_pipelined_request_keeps_the_older_ones_clock_and_forget_drops_it()
    {
        var clock = new ReplyLatencyClock(histogram: null);
        clock.OnRequestBytesFirstSent(startsRequest: true, T0);
        clock.OnRequestBytesFirstSent(startsRequest: true, T0 + TimeSpan.FromMilliseconds(1));
        Assert.True(clock.Awaiting);
        clock.Forget();
        Assert.False(clock.Awaiting);
        clock.OnRequestBytesFirstSent(startsRequest: false, T0);
        Assert.False(clock.Awaiting);
    }
}
