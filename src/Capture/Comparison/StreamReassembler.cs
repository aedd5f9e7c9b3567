using ReplayCluster.Packets;

namespace ReplayCluster.Capture.Comparison;

/// <summary>
/// Puts one direction of a captured TCP stream back in order for the comparison engine: from the first byte after the
/// SYN on, in-order bytes pass through at once, retransmitted bytes are cut off, and a few out-of-order segments wait
/// for the gap before them (bounded: beyond <see cref="MaxHeldSegments"/> or <see cref="MaxHeldBytes"/> the stream
/// is broken, and its session is not compared rather than compared wrong). Not thread-safe.
/// </summary>
internal sealed class StreamReassembler
{
    /// <summary>Out-of-order segments held per direction; a capture loses order rarely and by a few segments.</summary>
    public const int MaxHeldSegments = 64;

    /// <summary>Out-of-order bytes held per direction.</summary>
    public const int MaxHeldBytes = 256 * 1024;

    private readonly SortedList<uint, byte[]> _held = new(Comparer<uint>.Create((a, b) => SeqNum.Before(a, b) ? -1 : a == b ? 0 : 1));
    private uint _next;
    private int _heldBytes;

    /// <summary>Whether the stream's start (its SYN) was seen.</summary>
    public bool Started { get; private set; }

    /// <summary>A gap that never filled within the bounds, or bytes before the start was known.</summary>
    public bool Broken { get; private set; }

    /// <summary>Bytes passed on.</summary>
    public long Delivered { get; private set; }

    /// <summary>The stream starts after the SYN whose sequence number is <paramref name="synSequence"/>.</summary>
    public void Start(uint synSequence)
    {
        if (!Started)
        {
            Started = true;
            _next = unchecked(synSequence + 1);
        }
    }

    /// <summary>Adds a segment; every run of bytes that became contiguous goes to <paramref name="deliver"/>, in order.</summary>
    public void Add(uint sequence, ReadOnlySpan<byte> payload, Action<ReadOnlyMemory<byte>> deliver)
    {
        if (payload.IsEmpty || Broken)
        {
            return;
        }

        if (!Started)
        {
            // Bytes of a stream whose start this capture missed: where they belong is unknown.
            Broken = true;
            return;
        }

        var end = unchecked(sequence + (uint)payload.Length);
        if (!SeqNum.After(end, _next))
        {
            return; // all retransmitted
        }

        if (SeqNum.After(sequence, _next))
        {
            if (_held.Count >= MaxHeldSegments || _heldBytes + payload.Length > MaxHeldBytes)
            {
                Broken = true;
                _held.Clear();
                return;
            }

            if (!_held.ContainsKey(sequence))
            {
                _held[sequence] = payload.ToArray();
                _heldBytes += payload.Length;
            }

            return;
        }

        Pass(sequence, payload.ToArray(), deliver);
        while (_held.Count > 0 && !SeqNum.After(_held.Keys[0], _next))
        {
            var (held, bytes) = (_held.Keys[0], _held.Values[0]);
            _held.RemoveAt(0);
            _heldBytes -= bytes.Length;
            if (SeqNum.After(unchecked(held + (uint)bytes.Length), _next))
            {
                Pass(held, bytes, deliver);
            }
        }
    }

    private void Pass(uint sequence, byte[] bytes, Action<ReadOnlyMemory<byte>> deliver)
    {
        var skip = (int)unchecked(_next - sequence);
        var fresh = bytes.AsMemory(skip);
        _next = unchecked(_next + (uint)fresh.Length);
        Delivered += fresh.Length;
        deliver(fresh);
    }
}
