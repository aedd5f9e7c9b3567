using ReplayCluster.Packets;

namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// The captured client bytes a session still owes the target, in sequence order and without overlaps:
/// send queue, retransmission buffer and reorder buffer at once (nothing is released until the target
/// acknowledged it). Client retransmissions and overlaps are trimmed on the way in; a sequence number
/// far beyond the stream is another connection's and is refused.
/// </summary>
/// <remarks>
/// Bytes are held by reference, not copied: a captured segment's payload is a private array that no one
/// writes, shared by every copy (session) of the connection, so a chunk is a slice of it. A chunk is
/// dropped (and its bytes given back to the node's budget) once the target acknowledged all of it.
/// </remarks>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Auto)]
internal struct CapturedStream(BufferBudget? budget)
{
    // Far beyond anything the connection could have sent: another connection sharing the client port
    // (tcpcopy calls this a seq hop).
    private const int MaxSequenceJump = 256 * 1024 * 1024;
    // Released chunks at the front before the list is compacted (when they are also half of it). Each compaction
    // moves at most as many chunks as were released since the last one, so any threshold keeps the cost one move per
    // chunk at most; a small one keeps a busy keep-alive session's list small: with 256 its list grew to 512 slots
    // (40 bytes each: ~20 KB per session, for its life) whenever its next request was captured before the target's
    // acknowledgment of the last one came back (bench/README.md, "Allocations on the capture path").
    private const int CompactThreshold = 16;

    // Created by the first insert and let go by Trim once empty (an idle session holds none).
    private List<CapturedChunk>? _chunks;
    private int _head;
    private bool _anyData;
    private uint _lastInsertedAck;

    /// <summary>End of the contiguous run of captured bytes: where the first gap (or the end) is.</summary>
    public uint ContiguousEnd { get; private set; }

    /// <summary>Bytes held.</summary>
    public long BufferedBytes { get; private set; }

    /// <summary>Chunks held.</summary>
    public int Count => Held - _head;

    /// <summary>Slots of the chunk list (0 when it was let go): what the stream keeps allocated, held or not.</summary>
    internal int Capacity => _chunks?.Capacity ?? 0;

    public bool IsEmpty => _head == Held;

    // Chunks in the list, the released ones before _head included.
    private int Held => _chunks?.Count ?? 0;

    /// <summary>Forgets everything; the stream starts (again) at <paramref name="next"/>.</summary>
    public void Reset(uint next)
    {
        Clear();
        _anyData = false;
        ContiguousEnd = next;
    }

    /// <summary>Drops every byte held and gives it back to the node's budget.</summary>
    public void Clear()
    {
        budget?.Give(BufferedBytes);
        BufferedBytes = 0;
        _chunks?.Clear();
        _head = 0;
    }

    /// <summary>
    /// Adds captured bytes at <paramref name="start"/>, keeping only what is new: bytes before
    /// <paramref name="floor"/> (already acknowledged) and bytes already held are counted as duplicates.
    /// </summary>
    public void Insert(uint start, ReadOnlyMemory<byte> payload, uint capturedAck, uint floor, SessionCounters counters,
        long capturedAtNanos = 0)
    {
        counters.BytesCaptured += payload.Length;
        var end = start + (uint)payload.Length;
        if (SeqNum.BeforeOrEqual(end, floor))
        {
            counters.ClientDuplicateBytes += payload.Length;
            return;
        }

        if (SeqNum.Before(start, floor))
        {
            counters.ClientDuplicateBytes += SeqNum.Diff(start, floor);
            payload = payload[SeqNum.Diff(start, floor)..];
            start = floor;
        }

        if (SeqNum.Diff(ContiguousEnd, start) > MaxSequenceJump)
        {
            counters.LatePacketsAbsorbed++;
            return;
        }

        var chunks = _chunks ??= [];
        var index = FirstEndingAfter(start);
        var cursor = start;
        while (index < chunks.Count && SeqNum.Before(chunks[index].Seq, end))
        {
            var chunk = chunks[index];
            if (SeqNum.Before(cursor, chunk.Seq))
            {
                chunks.Insert(index, NewChunk(cursor, payload.Slice(SeqNum.Diff(start, cursor), SeqNum.Diff(cursor, chunk.Seq)), capturedAck, capturedAtNanos, counters));
                index++;
            }

            counters.ClientDuplicateBytes += Math.Max(0, SeqNum.Diff(SeqNum.Max(cursor, chunk.Seq), SeqNum.Min(chunk.End, end)));
            cursor = SeqNum.Max(cursor, chunk.End);
            index++;
        }

        if (SeqNum.Before(cursor, end))
        {
            chunks.Insert(index, NewChunk(cursor, payload[SeqNum.Diff(start, cursor)..], capturedAck, capturedAtNanos, counters));
        }

        AdvanceContiguousEnd();
    }

    /// <summary>The chunk holding byte <paramref name="sequence"/>; false when it is in a gap or past the end.</summary>
    public bool TryGetChunkAt(uint sequence, out CapturedChunk chunk)
    {
        var index = FirstEndingAfter(sequence);
        if (index < Held && SeqNum.BeforeOrEqual(_chunks![index].Seq, sequence))
        {
            chunk = _chunks![index];
            return true;
        }

        chunk = default;
        return false;
    }

    /// <summary>The first chunk ending after <paramref name="sequence"/>, wherever it starts.</summary>
    public bool TryGetFirstEndingAfter(uint sequence, out CapturedChunk chunk)
    {
        var index = FirstEndingAfter(sequence);
        chunk = index < Held ? _chunks![index] : default;
        return index < Held;
    }

    /// <summary>True when bytes were captured beyond a gap that starts at <paramref name="sequence"/>.</summary>
    public bool IsStalledAtGap(uint sequence) =>
        sequence == ContiguousEnd && TryGetFirstEndingAfter(sequence, out _);

    /// <summary>Releases every chunk the target acknowledged up to <paramref name="acknowledged"/>.</summary>
    public void ReleaseUpTo(uint acknowledged, SessionCounters counters)
    {
        while (_head < Held && SeqNum.BeforeOrEqual(_chunks![_head].End, acknowledged))
        {
            var chunk = _chunks![_head];
            BufferedBytes -= chunk.Data.Length;
            budget?.Give(chunk.Data.Length);
            if (chunk.StartsRequest)
            {
                counters.RequestsDelivered++;
            }

            // The slice goes: once every copy of the connection let go, the captured array is collected.
            _chunks![_head] = default;
            _head++;
        }

        if (_head > 0 && _head == Held)
        {
            // All acknowledged: start over at the front of the same list, nothing to move.
            _chunks!.Clear();
            _head = 0;
            return;
        }

        // Acknowledged chunks leave from the front: compact now and then, not per chunk (a 20 MB upload is
        // 14,000 chunks; removing one at a time would move them all each time).
        if (_head >= CompactThreshold && _head * 2 >= Held)
        {
            _chunks!.RemoveRange(0, _head);
            _head = 0;
        }
    }

    /// <summary>Lets go of the chunk list while nothing is held (a session gone idle keeps no buffer).</summary>
    public void TrimIfEmpty()
    {
        if (IsEmpty)
        {
            _chunks = null;
            _head = 0;
        }
    }

    /// <summary>Gives up on the bytes before <paramref name="sequence"/> that were never captured.</summary>
    public void SkipTo(uint sequence)
    {
        ContiguousEnd = sequence;
        AdvanceContiguousEnd();
    }

    private CapturedChunk NewChunk(uint sequence, ReadOnlyMemory<byte> data, uint capturedAck, long capturedAtNanos, SessionCounters counters)
    {
        BufferedBytes += data.Length;
        budget?.Take(data.Length);

        // A client's new request acknowledges more of the server's data than its previous one did
        // (the online server answered in between); pipelined requests share an ack and count as one.
        var chunk = new CapturedChunk(sequence, data, capturedAck, capturedAtNanos)
        {
            StartsRequest = !_anyData || capturedAck != _lastInsertedAck,
        };
        if (chunk.StartsRequest)
        {
            counters.RequestsCaptured++;
        }

        _anyData = true;
        _lastInsertedAck = capturedAck;
        return chunk;
    }

    private void AdvanceContiguousEnd()
    {
        for (var i = FirstEndingAfter(ContiguousEnd); i < Held; i++)
        {
            var chunk = _chunks![i];
            if (SeqNum.After(chunk.Seq, ContiguousEnd))
            {
                break;
            }

            ContiguousEnd = SeqNum.Max(ContiguousEnd, chunk.End);
        }
    }

    /// <summary>Index of the first live chunk whose end is after <paramref name="sequence"/> (binary search).</summary>
    private int FirstEndingAfter(uint sequence)
    {
        int lo = _head, hi = Held;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (SeqNum.After(_chunks![mid].End, sequence))
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }

        return lo;
    }
}

/// <summary>
/// Captured bytes of one client segment (or the new part of it, a slice of the captured payload), with
/// the ack the client had sent and when the capture saw them.
/// </summary>
internal readonly record struct CapturedChunk(uint Seq, ReadOnlyMemory<byte> Data, uint CapturedAck, long CapturedAtNanos)
{
    public uint End => Seq + (uint)Data.Length;

    /// <summary>These bytes begin a request (counted as captured; delivered when acknowledged).</summary>
    public bool StartsRequest { get; init; }
}
