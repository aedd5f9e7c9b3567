using Akka.Actor;
using Akka.Dispatch.MessageQueues;
using ReplayCluster.Capture.Sessions;

namespace ReplayCluster.Capture.Tests.Sessions;

public sealed class SessionMessageQueueTests
{
    [Fact]
    public void An_empty_queue_has_nothing_and_dequeues_nothing()
    {
        var queue = new SessionMessageQueue();

        Assert.False(queue.HasMessages);
        Assert.Equal(0, queue.Count);
        Assert.False(queue.TryDequeue(out _));
    }

    [Fact]
    public void Messages_come_out_in_order_and_count_and_has_messages_follow_them_over_several_fill_and_drain_rounds()
    {
        var queue = new SessionMessageQueue();
        for (var round = 0; round < 3; round++)
        {
            for (var i = 0; i < 5; i++)
            {
                queue.Enqueue(ActorRefs.Nobody, new Envelope(i, ActorRefs.NoSender));
                Assert.True(queue.HasMessages);
                Assert.Equal(i + 1, queue.Count);
            }

            for (var i = 0; i < 5; i++)
            {
                Assert.True(queue.TryDequeue(out var envelope));
                Assert.Equal(i, envelope.Message);
                Assert.Equal(4 - i, queue.Count);
                Assert.Equal(i < 4, queue.HasMessages);
            }

            Assert.False(queue.TryDequeue(out _));
        }
    }

    [Fact]
    public void One_message_in_and_out_at_a_time_keeps_working_across_the_stub_being_put_back()
    {
        var queue = new SessionMessageQueue();
        for (var i = 0; i < 1000; i++)
        {
            queue.Enqueue(ActorRefs.Nobody, new Envelope(i, ActorRefs.NoSender));
            Assert.True(queue.TryDequeue(out var envelope));
            Assert.Equal(i, envelope.Message);
            Assert.False(queue.HasMessages);
            Assert.False(queue.TryDequeue(out _));
        }
    }

    [Fact]
    public void A_drained_queue_keeps_no_message_alive()
    {
        var queue = new SessionMessageQueue();
        var weak = EnqueueAndDrain(queue, 3);

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        // The envelopes are cleared as they leave and the last node is let go when the queue empties.
        Assert.All(weak, w => Assert.False(w.IsAlive));
        GC.KeepAlive(queue);
    }

    [Fact]
    public void Concurrent_producers_lose_nothing_and_each_producers_messages_keep_their_order()
    {
        const int producers = 4;
        const int perProducer = 50_000;
        var queue = new SessionMessageQueue();
        var start = new Barrier(producers + 1);
        var threads = Enumerable.Range(0, producers).Select(p => new Thread(() =>
        {
            start.SignalAndWait(TestContext.Current.CancellationToken);
            for (var i = 0; i < perProducer; i++)
            {
                queue.Enqueue(ActorRefs.Nobody, new Envelope(new Item(p, i), ActorRefs.NoSender));
                if (i % 64 == 0)
                {
                    // Let the consumer catch up and empty the queue now and then: the stub is put back
                    // while producers keep swapping themselves in.
                    Thread.Yield();
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        start.SignalAndWait(TestContext.Current.CancellationToken);

        var next = new int[producers];
        var received = 0;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (received < producers * perProducer)
        {
            Assert.True(DateTime.UtcNow < deadline, $"only {received} messages arrived");
            if (!queue.TryDequeue(out var envelope))
            {
                continue;
            }

            var item = (Item)envelope.Message;
            Assert.Equal(next[item.Producer], item.Sequence);
            next[item.Producer]++;
            received++;
        }

        threads.ForEach(t => t.Join());
        Assert.All(next, n => Assert.Equal(perProducer, n));
        Assert.False(queue.HasMessages);
        Assert.Equal(0, queue.Count);
        Assert.False(queue.TryDequeue(out _));
    }

    [Fact]
    public void Clean_up_hands_every_waiting_message_to_the_dead_letters_in_order()
    {
        var queue = new SessionMessageQueue();
        var deadLetters = new UnboundedMessageQueue();
        for (var i = 0; i < 3; i++)
        {
            queue.Enqueue(ActorRefs.Nobody, new Envelope(i, ActorRefs.NoSender));
        }

        queue.CleanUp(ActorRefs.Nobody, deadLetters);

        Assert.False(queue.HasMessages);
        Assert.Equal(3, deadLetters.Count);
        for (var i = 0; i < 3; i++)
        {
            Assert.True(deadLetters.TryDequeue(out var envelope));
            Assert.Equal(i, envelope.Message);
        }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static List<WeakReference> EnqueueAndDrain(SessionMessageQueue queue, int count)
    {
        var weak = new List<WeakReference>();
        for (var i = 0; i < count; i++)
        {
            var message = new Item(0, i);
            weak.Add(new WeakReference(message));
            queue.Enqueue(ActorRefs.Nobody, new Envelope(message, ActorRefs.NoSender));
        }

        while (queue.TryDequeue(out _))
        {
        }

        return weak;
    }

    private sealed record Item(int Producer, int Sequence);
}
