using ReplayCluster.Replay;

namespace ReplayCluster.Intercept.Routing;

/// <summary>
/// The hand-over from the capture thread to the <see cref="ReplyRouter"/>: a bounded single-producer,
/// single-consumer ring of records plus a wake-up flag, so the capture thread sends the router one
/// message per burst instead of one per reply, and the router takes the whole burst in one turn.
/// </summary>
/// <remarks>
/// <para>
/// Protocol: the producer <see cref="TryEnqueue"/>s, then calls <see cref="NeedsWake"/> and, when it
/// answers true, sends the router one <see cref="DrainReplies"/>. The router dequeues until empty and
/// then calls <see cref="Rearm"/>: false means it may go idle (the next record wakes it), true means
/// records slipped in meanwhile and it still owns the wake-up, so it keeps draining.
/// </para>
/// <para>
/// Both sides pass a full fence between publishing and looking (an interlocked flag operation after the
/// producer's tail store; an interlocked clear before the consumer's tail load), so a record is never
/// left behind with the router idle.
/// </para>
/// </remarks>
internal sealed class ReplyQueue
{
    /// <summary>Default capacity: about a second of replies at 60k/s; a router that far behind has bigger problems.</summary>
    public const int DefaultCapacity = 1 << 16;

    private readonly ResponseRecord[] _ring;
    private readonly long _mask;

    // Written by the consumer only.
    private long _head;

    // Written by the producer only.
    private long _tail;

    // 1 while a DrainReplies is on its way or the router is draining; 0 while the router is idle.
    private int _wakePending;

    public ReplyQueue(int capacity = DefaultCapacity)
    {
        if (capacity < 2 || (capacity & (capacity - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "must be a power of two, at least 2");
        }

        _ring = new ResponseRecord[capacity];
        _mask = capacity - 1;
    }

    /// <summary>Records waiting (approximate while the other side runs).</summary>
    public int Count => (int)(Volatile.Read(ref _tail) - Volatile.Read(ref _head));

    /// <summary>Producer: adds a record; false (record not taken) when the ring is full.</summary>
    public bool TryEnqueue(in ResponseRecord record)
    {
        var tail = _tail;
        if (tail - Volatile.Read(ref _head) >= _ring.Length)
        {
            return false;
        }

        _ring[tail & _mask] = record;
        Volatile.Write(ref _tail, tail + 1);
        return true;
    }

    /// <summary>Producer, after enqueueing: true when the router is idle and must be sent a <see cref="DrainReplies"/>.</summary>
    public bool NeedsWake() => Interlocked.CompareExchange(ref _wakePending, 1, 0) == 0;

    /// <summary>Consumer: takes the oldest record, if any.</summary>
    public bool TryDequeue(out ResponseRecord record)
    {
        var head = _head;
        if (head == Volatile.Read(ref _tail))
        {
            record = default;
            return false;
        }

        record = _ring[head & _mask];
        Volatile.Write(ref _head, head + 1);
        return true;
    }

    /// <summary>
    /// Consumer, once it found the queue empty: re-arms the wake-up. True when records arrived after all
    /// and the consumer still owns the wake-up (drain again); false when it may go idle.
    /// </summary>
    public bool Rearm()
    {
        Interlocked.Exchange(ref _wakePending, 0);
        return _head != Volatile.Read(ref _tail) && Interlocked.CompareExchange(ref _wakePending, 1, 0) == 0;
    }
}

/// <summary>Tells the <see cref="ReplyRouter"/> that its <see cref="ReplyQueue"/> has records.</summary>
internal sealed class DrainReplies
{
    public static readonly DrainReplies Instance = new();
}
