using ReplayCluster.Intercept.Routing;
using ReplayCluster.Replay;

namespace ReplayCluster.Intercept.Tests.Routing;

public sealed class ReplyQueueTests
{
    private static readonly SessionEndpoints Session = new(0x0AC80001, 40000, 0x0A000202, 80);

    [Fact]
    public void Records_come_out_in_order_across_the_ring_s_end_and_a_full_ring_refuses()
    {
        var queue = new ReplyQueue(4);
        uint next = 0;
        uint expected = 0;
        for (var round = 0; round < 5; round++)
        {
            while (queue.TryEnqueue(TestReplies.For(Session, next)))
            {
                next++;
            }

            Assert.Equal(4, queue.Count);
            for (var i = 0; i < 3; i++)
            {
                Assert.True(queue.TryDequeue(out var record));
                Assert.Equal(expected++, record.Sequence);
            }
        }

        while (queue.TryDequeue(out var record))
        {
            Assert.Equal(expected++, record.Sequence);
        }

        Assert.Equal(next, expected);
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public void Only_the_first_record_of_a_burst_wakes_the_router()
    {
        var queue = new ReplyQueue(16);
        Assert.True(queue.TryEnqueue(TestReplies.For(Session, 1)));
        Assert.True(queue.NeedsWake());
        Assert.True(queue.TryEnqueue(TestReplies.For(Session, 2)));
        Assert.False(queue.NeedsWake());

        // The router drains, re-arms on empty and goes idle: the next record wakes it again.
        Assert.True(queue.TryDequeue(out _));
        Assert.True(queue.TryDequeue(out _));
        Assert.False(queue.Rearm());
        Assert.True(queue.TryEnqueue(TestReplies.For(Session, 3)));
        Assert.True(queue.NeedsWake());
    }

    [Fact]
    public void A_record_that_slips_in_before_the_re_arm_keeps_the_router_draining()
    {
        var queue = new ReplyQueue(16);
        Assert.True(queue.TryEnqueue(TestReplies.For(Session, 1)));
        Assert.True(queue.NeedsWake());
        Assert.True(queue.TryDequeue(out _));

        // Enqueued while the router still owns the wake-up: the producer sends nothing...
        Assert.True(queue.TryEnqueue(TestReplies.For(Session, 2)));
        Assert.False(queue.NeedsWake());

        // ...so the re-arm must tell the router to go on.
        Assert.True(queue.Rearm());
        Assert.True(queue.TryDequeue(out var record));
        Assert.Equal(2u, record.Sequence);
        Assert.False(queue.Rearm());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(12)]
    public void Capacity_must_be_a_power_of_two(int capacity) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new ReplyQueue(capacity));
}
