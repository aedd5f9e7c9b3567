using System.Buffers.Binary;

namespace ReplayCluster.Packets;

/// <summary>Receives one packet produced by <see cref="SegmentSplitter"/>; the span is valid only during the call.</summary>
public delegate void SegmentSink(ReadOnlySpan<byte> ipPacket);

/// <summary>
/// Splits a captured TCP super-segment (GSO/TSO/GRO: one IP datagram of up to 64 KiB carrying many MSS worth of
/// payload) into the packets the wire would have carried, the way Linux <c>tcp_gso_segment()</c> does.
/// </summary>
/// <remarks>
/// Each piece copies the original IP and TCP headers, options included (timestamps stay as captured, like GSO),
/// then gets its own total length, IP ID (original + piece index), sequence number and flags, and fresh checksums.
/// Flags: SYN, CWR and URG (with its pointer) only on the first piece; FIN, PSH and RST only on the last; a SYN
/// occupies one sequence number, so the second piece starts at seq + 1 + first piece's payload.
/// Pieces are written one after another into the caller's scratch buffer: nothing is allocated per piece.
/// </remarks>
public static class SegmentSplitter
{
    /// <summary>Number of pieces a payload of <paramref name="payloadLength"/> bytes splits into (at least 1).</summary>
    public static int CountPieces(int payloadLength, int mss)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(mss, 1);
        return payloadLength <= 0 ? 1 : (payloadLength + mss - 1) / mss;
    }

    /// <summary>Scratch bytes needed to split <paramref name="packet"/> with this MSS: its headers plus one MSS.</summary>
    public static int GetScratchLength(in TcpPacket packet, int mss) =>
        packet.IpHeaderLength + packet.TcpHeaderLength + Math.Min(mss, packet.PayloadLength);

    /// <summary>
    /// Enumerates the pieces of <paramref name="packet"/> (parsed from <paramref name="frame"/>); each
    /// <see cref="SegmentPieces.Current"/> is a complete IPv4 packet in <paramref name="scratch"/>, valid until the
    /// next <see cref="SegmentPieces.MoveNext"/>. <paramref name="mss"/> is payload bytes per piece (like gso_size:
    /// options are not subtracted). A packet whose payload was cut by the snaplen yields no pieces: check
    /// <see cref="TcpPacket.Truncated"/> and count those.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// <paramref name="mss"/> is below 1, <paramref name="scratch"/> is shorter than <see cref="GetScratchLength"/>,
    /// or <paramref name="packet"/> does not describe <paramref name="frame"/> (caller mistakes, not traffic).
    /// </exception>
    public static SegmentPieces Pieces(ReadOnlySpan<byte> frame, in TcpPacket packet, int mss, Span<byte> scratch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(mss, 1);
        var headersLength = packet.IpHeaderLength + packet.TcpHeaderLength;
        if (packet.IpHeaderLength < 20 || packet.TcpHeaderLength < 20 || packet.PayloadOffset + packet.CapturedPayloadLength > frame.Length)
        {
            throw new ArgumentException("The packet's offsets do not fit the frame; pass the TcpPacket parsed from this frame.", nameof(packet));
        }

        if (packet.Truncated)
        {
            return default;
        }

        if (scratch.Length < GetScratchLength(packet, mss))
        {
            throw new ArgumentException($"Scratch holds {scratch.Length} bytes; splitting needs {GetScratchLength(packet, mss)}.", nameof(scratch));
        }

        return new SegmentPieces(frame.Slice(packet.IpOffset, headersLength + packet.PayloadLength), headersLength,
            packet.IpHeaderLength, mss, packet.Sequence, packet.IpId, packet.Flags, scratch);
    }

    /// <summary>
    /// Splits <paramref name="packet"/> and hands every piece to <paramref name="sink"/>; returns the number of pieces
    /// (0 for a truncated packet). See <see cref="Pieces"/> for the arguments.
    /// </summary>
    public static int Split(ReadOnlySpan<byte> frame, in TcpPacket packet, int mss, Span<byte> scratch, SegmentSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        var count = 0;
        foreach (var piece in Pieces(frame, packet, mss, scratch))
        {
            sink(piece);
            count++;
        }

        return count;
    }
}

/// <summary>Allocation-free enumerator over the pieces of a super-segment; see <see cref="SegmentSplitter.Pieces"/>.</summary>
public ref struct SegmentPieces
{
    private const TcpFlags LastOnly = TcpFlags.Fin | TcpFlags.Psh | TcpFlags.Rst;
    private const TcpFlags FirstOnly = TcpFlags.Syn | TcpFlags.Cwr | TcpFlags.Urg;

    private readonly ReadOnlySpan<byte> _original;
    private readonly Span<byte> _scratch;
    private readonly int _headersLength;
    private readonly int _ipHeaderLength;
    private readonly int _mss;
    private readonly uint _sequence;
    private readonly ushort _ipId;
    private readonly TcpFlags _flags;
    private int _index;
    private int _payloadDone;
    private int _currentLength;

    internal SegmentPieces(ReadOnlySpan<byte> original, int headersLength, int ipHeaderLength, int mss, uint sequence,
        ushort ipId, TcpFlags flags, Span<byte> scratch)
    {
        _original = original;
        _headersLength = headersLength;
        _ipHeaderLength = ipHeaderLength;
        _mss = mss;
        _sequence = sequence;
        _ipId = ipId;
        _flags = flags;
        _scratch = scratch;
        _index = -1;
    }

    /// <summary>The current piece: a complete IPv4+TCP packet with valid checksums.</summary>
    public readonly ReadOnlySpan<byte> Current => _scratch[.._currentLength];

    public readonly SegmentPieces GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_original.IsEmpty)
        {
            return false; // default instance: a truncated packet.
        }

        var payloadLength = _original.Length - _headersLength;
        if (_index >= 0 && _payloadDone >= payloadLength)
        {
            return false;
        }

        _index++;
        var offset = _payloadDone;
        var pieceLength = Math.Min(_mss, payloadLength - offset);
        _payloadDone += pieceLength;
        var first = _index == 0;
        var last = _payloadDone >= payloadLength;
        var flags = _flags;
        if (!first)
        {
            flags &= ~FirstOnly;
        }

        if (!last)
        {
            flags &= ~LastOnly;
        }

        // The SYN takes the first sequence number; the payload follows it.
        var synLength = (_flags & TcpFlags.Syn) != 0 && !first ? 1u : 0u;
        var totalLength = _headersLength + pieceLength;
        var piece = _scratch[..totalLength];
        _original[.._headersLength].CopyTo(piece);
        _original.Slice(_headersLength + offset, pieceLength).CopyTo(piece[_headersLength..]);

        BinaryPrimitives.WriteUInt16BigEndian(piece[2..], (ushort)totalLength);
        BinaryPrimitives.WriteUInt16BigEndian(piece[4..], unchecked((ushort)(_ipId + _index)));
        var tcp = piece[_ipHeaderLength..];
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], unchecked(_sequence + synLength + (uint)offset));
        tcp[13] = (byte)flags;
        if (!first)
        {
            BinaryPrimitives.WriteUInt16BigEndian(tcp[18..], 0); // Urgent pointer goes with URG on the first piece.
        }

        TcpPacketRewriter.FixChecksumsCore(piece, _ipHeaderLength);
        _currentLength = totalLength;
        return true;
    }
}
