using System.Buffers.Binary;

namespace ReplayCluster.PacketIO;

/// <summary>
/// Walks the frames of one TPACKET_V3 block (<c>struct tpacket_block_desc</c> followed by <c>struct tpacket3_hdr</c>
/// entries chained by <c>tp_next_offset</c>) and hands each to a <see cref="FrameHandler"/>, like libpcap's
/// <c>pcap_read_linux_mmap_v3</c> does: same lengths (captured length capped at the snap length), VLAN tags the kernel
/// stripped put back into the frame, and a userland filter for blocks filled before a filter change.
/// </summary>
/// <remarks>
/// Every offset read from the block is checked against the block's size before it is used: a block whose chain points
/// outside it (a kernel and user-space layout mismatch, or memory we do not own) is refused and counted in
/// <see cref="MalformedBlocks"/>, never read past. The walker keeps its place in a block, so a stop between two frames
/// (or a handler that threw) resumes at the next frame of the same block.
/// </remarks>
internal sealed class TpacketV3Walker
{
    /// <summary><c>sizeof(struct tpacket_block_desc)</c>: version, offset_to_priv, then <c>tpacket_hdr_v1</c>.</summary>
    public const int BlockHeaderSize = 48;

    /// <summary><c>sizeof(struct tpacket3_hdr)</c>.</summary>
    public const int FrameHeaderSize = 48;

    public const uint StatusKernel = 0;
    public const uint StatusUser = 1;
    public const uint StatusVlanValid = 0x10;
    public const uint StatusVlanTpidValid = 0x40;
    private const int VlanTagLength = 4;
    private const int MacAddressesLength = 12;

    private int _packetsLeft = -1; // -1: the current block was not started
    private int _offset;

    /// <summary>Checked before every frame: true ends the walk early, keeping the place in the block.</summary>
    public volatile bool StopRequested;

    /// <summary>Blocks refused because an offset or length in them pointed outside the block.</summary>
    public long MalformedBlocks { get; private set; }

    /// <summary>Frames a userland filter (<see cref="Filter"/>) rejected.</summary>
    public long FilteredInUserland { get; private set; }

    /// <summary>Frames handed to the handler.</summary>
    public long Delivered { get; private set; }

    /// <summary>
    /// Applied to every frame while set (returns false to skip it): the new filter, for blocks the kernel may have
    /// filled with the old one. The owner clears it when those blocks were walked.
    /// </summary>
    public FrameFilter? Filter { get; set; }

    /// <summary>
    /// Delivers the frames of <paramref name="block"/> from where the last call stopped.
    /// </summary>
    /// <returns>True when the block is finished (or refused) and goes back to the kernel; false when stopped within it.</returns>
    public bool Walk(Span<byte> block, FrameHandler handler, int snapLength, int linkType)
    {
        if (_packetsLeft < 0)
        {
            if (block.Length < BlockHeaderSize)
            {
                return Refuse();
            }

            var count = BinaryPrimitives.ReadUInt32LittleEndian(block[12..]);
            var first = BinaryPrimitives.ReadUInt32LittleEndian(block[16..]);
            if (count > int.MaxValue || (count > 0 && (first < BlockHeaderSize || first > (uint)block.Length)))
            {
                return Refuse();
            }

            _packetsLeft = (int)count;
            _offset = (int)first;
        }

        while (_packetsLeft > 0)
        {
            if (StopRequested)
            {
                return false;
            }

            var offset = _offset;
            if ((uint)offset > (uint)(block.Length - FrameHeaderSize))
            {
                return Refuse();
            }

            var header = block.Slice(offset, FrameHeaderSize);
            var next = BinaryPrimitives.ReadUInt32LittleEndian(header);
            var seconds = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
            var nanos = BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
            var captured = BinaryPrimitives.ReadUInt32LittleEndian(header[12..]);
            var length = BinaryPrimitives.ReadUInt32LittleEndian(header[16..]);
            var status = BinaryPrimitives.ReadUInt32LittleEndian(header[20..]);
            var mac = BinaryPrimitives.ReadUInt16LittleEndian(header[24..]);
            var start = (long)offset + mac;
            if (mac < FrameHeaderSize || captured > int.MaxValue || start + captured > block.Length || length > int.MaxValue)
            {
                return Refuse();
            }

            // The chain must move forward inside the block; the last frame's next offset is 0 and is not followed.
            // A bad link still lets this (sound) frame through; the block is refused after it, nothing past it is read.
            _packetsLeft--;
            if (_packetsLeft > 0 && (next < FrameHeaderSize || offset + (long)next > block.Length - FrameHeaderSize))
            {
                _packetsLeft = 0;
                MalformedBlocks++;
            }

            _offset = offset + (int)next;
            var frame = block.Slice((int)start, (int)captured);
            var originalLength = (int)length;

            // As libpcap: a tag the kernel took out of the frame (hardware VLAN stripping) goes back in, in the room
            // before the frame (PACKET_RESERVE), when the MAC addresses were captured. With no room, the frame stays untagged.
            if ((status & StatusVlanValid) != 0 && captured >= MacAddressesLength && mac >= FrameHeaderSize + VlanTagLength)
            {
                var tagged = block.Slice((int)start - VlanTagLength, (int)captured + VlanTagLength);
                frame[..MacAddressesLength].CopyTo(tagged);
                var tpid = (status & StatusVlanTpidValid) != 0 ? BinaryPrimitives.ReadUInt16LittleEndian(header[36..]) : (ushort)0x8100;
                var tci = (ushort)BinaryPrimitives.ReadUInt32LittleEndian(header[32..]);
                BinaryPrimitives.WriteUInt16BigEndian(tagged[MacAddressesLength..], tpid);
                BinaryPrimitives.WriteUInt16BigEndian(tagged[(MacAddressesLength + 2)..], tci);
                frame = tagged;
                originalLength += VlanTagLength;
            }

            if (Filter is { } filter && !filter(frame, originalLength))
            {
                FilteredInUserland++;
                continue;
            }

            // libpcap caps the captured length at the snap length (the kernel may hand over more).
            if (frame.Length > snapLength)
            {
                frame = frame[..snapLength];
            }

            var info = new FrameInfo(((long)seconds * 1_000_000_000L) + nanos, frame.Length, originalLength, linkType);
            Delivered++;
            handler(frame, in info);
        }

        _packetsLeft = -1;
        return true;
    }

    private bool Refuse()
    {
        MalformedBlocks++;
        _packetsLeft = -1;
        return true;
    }
}

/// <summary>A userland frame filter: true keeps the frame.</summary>
internal delegate bool FrameFilter(ReadOnlySpan<byte> frame, int originalLength);
