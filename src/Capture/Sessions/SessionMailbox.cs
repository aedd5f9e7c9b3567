using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Dispatch.MessageQueues;

namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// The session actors' mailbox: unbounded like Akka's default, but its queue (<see cref="SessionMessageQueue"/>)
/// holds nothing while empty. Akka's default queue is a <see cref="System.Collections.Concurrent.ConcurrentQueue{T}"/>
/// that starts with a 32-slot segment (~1.1 KB per actor, measured at 100,000 live sessions), kept for the life of
/// an actor that mostly sits idle. Defined in hocon/capture.hocon at <see cref="ConfigPath"/>.
/// </summary>
internal sealed class SessionMailbox(Settings settings, Config config) : MailboxType(settings, config), IProducesMessageQueue<SessionMessageQueue>
{
    /// <summary>Where the mailbox is defined (the id given to <see cref="Props.WithMailbox"/>).</summary>
    public const string ConfigPath = "replaycluster.capture.session-mailbox";

    public override IMessageQueue Create(IActorRef owner, ActorSystem system) => new SessionMessageQueue();
}

/// <summary>A message waiting in a <see cref="SessionMessageQueue"/>.</summary>
internal class SessionMessageNode
{
    internal Envelope Envelope;
    internal SessionMessageNode? Next;
}

/// <summary>
/// Unbounded multi-producer single-consumer queue (Dmitry Vyukov's intrusive MPSC node queue): an enqueue is one
/// allocation and one atomic exchange, a dequeue no atomic at all. The queue object itself is the stub node, and
/// the consumer puts it back as the stub whenever it empties the queue, so an empty queue is one object of
/// 56 bytes and keeps no node alive.
/// </summary>
/// <remarks>
/// Akka's mailbox contract: any thread enqueues, one thread at a time dequeues (the mailbox's run; runs are
/// ordered by the mailbox's status), <see cref="HasMessages"/> may be read from any thread and must not say
/// false while an enqueue has begun that its consumer has not taken: the run that ends re-checks it to decide
/// whether to schedule itself again. Here it compares the producers' end with the consumer's, so it is true
/// from a producer's exchange on, also in the instant before the producer links its node (when
/// <see cref="TryDequeue"/> still sees nothing, and the mailbox simply runs again).
/// </remarks>
internal sealed class SessionMessageQueue : SessionMessageNode, IMessageQueue, IUnboundedMessageQueueSemantics
{
    // The node enqueued last (producers swap themselves in here).
    private SessionMessageNode _last;

    // The node before the next message (consumer only writes it): this queue, or the message dequeued last.
    private SessionMessageNode _first;

    public SessionMessageQueue()
    {
        _last = this;
        _first = this;
    }

    public bool HasMessages => Volatile.Read(ref _last) != Volatile.Read(ref _first);

    /// <summary>
    /// Messages waiting: exact when read by the consumer or while no dequeue runs; a walk, for diagnostics
    /// (Akka reads it only to describe a mailbox and in routers this actor does not use).
    /// </summary>
    public int Count
    {
        get
        {
            var count = 0;
            for (var node = Volatile.Read(ref Volatile.Read(ref _first).Next); node is not null && count < int.MaxValue; node = Volatile.Read(ref node.Next))
            {
                count++;
            }

            return count;
        }
    }

    public void Enqueue(IActorRef receiver, Envelope envelope)
    {
        var node = new SessionMessageNode { Envelope = envelope };
        var previous = Interlocked.Exchange(ref _last, node);

        // Until this write the consumer cannot reach the node (HasMessages already says true).
        Volatile.Write(ref previous.Next, node);
    }

    public bool TryDequeue(out Envelope envelope)
    {
        var first = _first;
        var next = Volatile.Read(ref first.Next);
        if (next is null)
        {
            envelope = default;
            return false;
        }

        envelope = next.Envelope;
        next.Envelope = default;
        Volatile.Write(ref _first, next);
        if (ReferenceEquals(first, this))
        {
            // No producer links to the stub again until it is put back (its successor is linked already):
            // unlink it, or the stub would keep every node dequeued since reachable.
            Next = null;
        }

        if (Volatile.Read(ref next.Next) is null)
        {
            PutBackStub(next);
        }

        return true;
    }

    public void CleanUp(IActorRef owner, IMessageQueue deadletters)
    {
        ArgumentNullException.ThrowIfNull(deadletters);
        while (TryDequeue(out var envelope))
        {
            deadletters.Enqueue(owner, envelope);
        }
    }

    /// <summary>
    /// The queue looks empty after <paramref name="consumed"/>: make this object the stub again, so the
    /// consumed node is not kept until the next message. Only if no producer has swapped itself in since;
    /// otherwise the queue is not empty and the next dequeue goes on from <paramref name="consumed"/>.
    /// </summary>
    private void PutBackStub(SessionMessageNode consumed)
    {
        // Before the exchange makes the stub visible to producers as their predecessor.
        Next = null;
        if (Interlocked.CompareExchange(ref _last, this, consumed) == consumed)
        {
            // A producer may have linked itself behind the stub already; the next dequeue starts there.
            Volatile.Write(ref _first, this);
        }
    }
}
