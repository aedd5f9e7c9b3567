using Akka.Actor;

namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// The node's session shards and the bounded queue in front of each. The capture thread hands a packet to
/// the shard its online connection hashes to (so one connection always meets the same shard, in order);
/// a shard whose queue is full refuses the packet, counted, instead of letting memory grow without bound.
/// The capture thread stages a burst's packets per shard (<see cref="TryStage(CapturedPacket)"/>) and sends each shard its
/// part in one message when the burst ends (<see cref="Flush()"/>).
/// </summary>
internal sealed class SessionShards
{
    private readonly ShardQueue[] _queues;

    // Per shard, the packets of the current capture burst not yet sent: the capture thread's alone.
    private readonly List<CapturedPacket>?[] _staged;
    private IActorRef[] _shards = [];

    public SessionShards(int count, int queueLimit)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(queueLimit);
        QueueLimit = queueLimit;
        _queues = [.. Enumerable.Range(0, count).Select(_ => new ShardQueue())];
        _staged = new List<CapturedPacket>?[count];
    }

    /// <summary>Number of shards.</summary>
    public int Count => _queues.Length;

    /// <summary>Captured packets a shard may have queued before the capture thread refuses more.</summary>
    public int QueueLimit { get; }

    /// <summary>The shard actors, in index order.</summary>
    public IReadOnlyList<IActorRef> Refs => Volatile.Read(ref _shards);

    /// <summary>Captured packets handed to shards and not yet taken by them.</summary>
    public long QueuedPackets => _queues.Sum(q => q.Queued);

    /// <summary>Called once, when the shard actors exist.</summary>
    public void Attach(IActorRef[] shards)
    {
        ArgumentNullException.ThrowIfNull(shards);
        if (shards.Length != _queues.Length)
        {
            throw new ArgumentException($"expected {_queues.Length} shards, got {shards.Length}", nameof(shards));
        }

        Volatile.Write(ref _shards, shards);
    }

    /// <summary>The queue counter of shard <paramref name="index"/> (the shard decrements it per packet taken).</summary>
    public ShardQueue QueueOf(int index) => _queues[index];

    /// <summary>
    /// Keeps a captured packet for its shard until <see cref="Flush()"/>; false (and nothing kept) when that shard's
    /// queue is full. Capture thread only; every staged packet must be flushed before the thread waits again.
    /// </summary>
    public bool TryStage(CapturedPacket packet)
    {
        ArgumentNullException.ThrowIfNull(packet);
        return TryStage(packet, IndexOf(packet.Connection, _queues.Length));
    }

    /// <summary>
    /// <see cref="TryStage(CapturedPacket)"/> for shard <paramref name="index"/> chosen by the caller: the thread that
    /// captured the packet for that shard (<c>ShardCapture</c>: the kernel chose the shard, by connection). Each
    /// shard's staging belongs to one thread: the capture thread, or that shard's own reader.
    /// </summary>
    public bool TryStage(CapturedPacket packet, int index)
    {
        ArgumentNullException.ThrowIfNull(packet);
        if (!_queues[index].TryEnter(QueueLimit))
        {
            return false;
        }

        (_staged[index] ??= new List<CapturedPacket>(8)).Add(packet);
        return true;
    }

    /// <summary>Sends every shard the packets staged for it, as one <see cref="CapturedBurst"/> each. Capture thread only.</summary>
    public void Flush()
    {
        for (var i = 0; i < _staged.Length; i++)
        {
            Flush(i);
        }
    }

    /// <summary>Sends shard <paramref name="index"/> the packets staged for it, on the thread that staged them.</summary>
    public void Flush(int index)
    {
        if (_staged[index] is { Count: > 0 } packets)
        {
            _staged[index] = null;
            Volatile.Read(ref _shards)[index].Tell(new CapturedBurst(packets), ActorRefs.NoSender);
        }
    }

    public void TellAll(object message)
    {
        foreach (var shard in Volatile.Read(ref _shards))
        {
            shard.Tell(message, ActorRefs.NoSender);
        }
    }

    /// <summary>The shard of a connection: a mix of its 4-tuple, so neighbouring ports spread over shards.</summary>
    internal static int IndexOf(in OnlineConnection connection, int count)
    {
        var x = (connection.ClientAddress.HashKey << 32) ^ ((ulong)connection.ClientPort << 16) ^ connection.ServerPort ^ (connection.ServerAddress.HashKey * 0x9E3779B97F4A7C15UL);
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdUL;
        x ^= x >> 33;
        return (int)(x % (ulong)count);
    }

    /// <summary>Packets queued for one shard: the capture thread enters, the shard leaves.</summary>
    internal sealed class ShardQueue
    {
        private long _queued;

        public long Queued => Interlocked.Read(ref _queued);

        public bool TryEnter(int limit)
        {
            if (Interlocked.Increment(ref _queued) <= limit)
            {
                return true;
            }

            Interlocked.Decrement(ref _queued);
            return false;
        }

        public void Leave() => Interlocked.Decrement(ref _queued);
    }
}
