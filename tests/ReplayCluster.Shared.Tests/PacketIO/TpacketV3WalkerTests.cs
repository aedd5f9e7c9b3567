using System.Buffers.Binary;
using ReplayCluster.PacketIO;
using Xunit;

namespace ReplayCluster.Tests.PacketIO;

/// <summary>The TPACKET_V3 block walker on blocks laid out in memory as the kernel lays them out.</summary>
public sealed class TpacketV3WalkerTests
{
    private const int MacOffset = 86; // what the kernel puts for Ethernet with PACKET_RESERVE 4 (TPACKET_ALIGN(68 + 16) + 4 - 14)

    private sealed record Captured(byte[] Bytes, FrameInfo Info);

    /// <summary>Builds a block of <paramref name="size"/> bytes holding <paramref name="frames"/> chained as the kernel chains them.</summary>
    private static byte[] Block(int size, params (byte[] Data, int OriginalLength, uint Seconds, uint Nanos)[] frames)
    {
        var block = new byte[size];
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(0), 3); // version
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(8), TpacketV3Walker.StatusUser);
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(12), (uint)frames.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(16), TpacketV3Walker.BlockHeaderSize);
        var offset = TpacketV3Walker.BlockHeaderSize;
        for (var i = 0; i < frames.Length; i++)
        {
            var (data, original, seconds, nanos) = frames[i];
            var length = (MacOffset + data.Length + 15) & ~15;
            var header = block.AsSpan(offset);
            BinaryPrimitives.WriteUInt32LittleEndian(header, i == frames.Length - 1 ? 0u : (uint)length);
            BinaryPrimitives.WriteUInt32LittleEndian(header[4..], seconds);
            BinaryPrimitives.WriteUInt32LittleEndian(header[8..], nanos);
            BinaryPrimitives.WriteUInt32LittleEndian(header[12..], (uint)data.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(header[16..], (uint)original);
            BinaryPrimitives.WriteUInt32LittleEndian(header[20..], 1); // TP_STATUS_USER
            BinaryPrimitives.WriteUInt16LittleEndian(header[24..], MacOffset);
            data.CopyTo(block.AsSpan(offset + MacOffset));
            offset += length;
        }

        return block;
    }

    private static byte[] Frame(int length, byte fill)
    {
        var frame = new byte[length];
        frame.AsSpan().Fill(fill);
        return frame;
    }

    private static (bool Finished, List<Captured> Frames) Walk(TpacketV3Walker walker, byte[] block, int snapLength = 262144)
    {
        var frames = new List<Captured>();
        var finished = walker.Walk(block, (ReadOnlySpan<byte> frame, in FrameInfo info) => frames.Add(new Captured(frame.ToArray(), info)), snapLength, 1);
        return (finished, frames);
    }

    [Fact]
    public void Every_frame_of_a_block_is_delivered_in_order_with_its_timestamp_and_lengths()
    {
        var block = Block(8192, (Frame(60, 1), 60, 10, 5), (Frame(1514, 2), 1514, 10, 999_999_999), (Frame(42, 3), 42, 11, 0));
        var walker = new TpacketV3Walker();
        var (finished, frames) = Walk(walker, block);

        Assert.True(finished);
        Assert.Equal(3, frames.Count);
        Assert.Equal(Frame(60, 1), frames[0].Bytes);
        Assert.Equal(new FrameInfo(10_000_000_005, 60, 60, 1), frames[0].Info);
        Assert.Equal(new FrameInfo(10_999_999_999, 1514, 1514, 1), frames[1].Info);
        Assert.Equal(Frame(1514, 2), frames[1].Bytes);
        Assert.Equal(new FrameInfo(11_000_000_000, 42, 42, 1), frames[2].Info);
        Assert.Equal(3, walker.Delivered);
        Assert.Equal(0, walker.MalformedBlocks);
    }

    [Fact]
    public void A_truncated_frame_keeps_its_wire_length_and_the_snap_length_caps_what_is_delivered()
    {
        // The kernel cut the frame to 100 of 9000 bytes (tp_snaplen < tp_len): delivered as libpcap delivers it.
        var block = Block(4096, (Frame(100, 7), 9000, 1, 0), (Frame(300, 8), 300, 1, 1));
        var (_, frames) = Walk(new TpacketV3Walker(), block, snapLength: 200);

        Assert.Equal(new FrameInfo(1_000_000_000, 100, 9000, 1), frames[0].Info);
        Assert.Equal(100, frames[0].Bytes.Length);
        Assert.Equal(new FrameInfo(1_000_000_001, 200, 300, 1), frames[1].Info);
        Assert.Equal(Frame(200, 8), frames[1].Bytes);
    }

    [Fact]
    public void An_empty_block_delivers_nothing_and_is_given_back()
    {
        var (finished, frames) = Walk(new TpacketV3Walker(), Block(4096));
        Assert.True(finished);
        Assert.Empty(frames);
    }

    [Theory]
    [InlineData(4096)] // next offset past the block's end
    [InlineData(0)] // a zero next offset before the last frame would deliver the same frame forever
    [InlineData(10)] // an offset that does not move past the frame header
    public void A_block_whose_chain_points_outside_it_is_refused_and_counted(int badNext)
    {
        var block = Block(4096, (Frame(60, 1), 60, 1, 0), (Frame(60, 2), 60, 1, 0), (Frame(60, 3), 60, 1, 0));
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(TpacketV3Walker.BlockHeaderSize), (uint)badNext);
        var walker = new TpacketV3Walker();
        var (finished, frames) = Walk(walker, block);

        Assert.True(finished); // given back to the kernel, not walked again
        Assert.Single(frames); // the first frame is sound; nothing after the bad link is read
        Assert.Equal(1, walker.MalformedBlocks);

        // The walker starts afresh on the next block.
        var (_, next) = Walk(walker, Block(4096, (Frame(60, 9), 60, 2, 0)));
        Assert.Equal(Frame(60, 9), Assert.Single(next).Bytes);
    }

    [Theory]
    [InlineData(16, 100_000u)] // frame length past the block's end
    [InlineData(24, 4090u)] // tp_mac puts the frame past the end
    [InlineData(24, 4u)] // tp_mac inside the frame header
    public void A_frame_whose_lengths_point_outside_the_block_is_refused(int field, uint value)
    {
        var block = Block(4096, (Frame(60, 1), 60, 1, 0));
        if (field == 16)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(TpacketV3Walker.BlockHeaderSize + 12), value); // tp_snaplen
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(block.AsSpan(TpacketV3Walker.BlockHeaderSize + field), (ushort)value);
        }

        var walker = new TpacketV3Walker();
        var (finished, frames) = Walk(walker, block);
        Assert.True(finished);
        Assert.Empty(frames);
        Assert.Equal(1, walker.MalformedBlocks);
    }

    [Fact]
    public void A_block_header_with_a_first_offset_past_the_block_is_refused()
    {
        var block = Block(4096, (Frame(60, 1), 60, 1, 0));
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(16), 5000);
        var walker = new TpacketV3Walker();
        Assert.Empty(Walk(walker, block).Frames);
        Assert.Equal(1, walker.MalformedBlocks);
    }

    [Fact]
    public void A_stop_between_frames_resumes_at_the_next_frame_of_the_same_block()
    {
        var block = Block(8192, (Frame(60, 1), 60, 1, 0), (Frame(60, 2), 60, 1, 0), (Frame(60, 3), 60, 1, 0));
        var walker = new TpacketV3Walker();
        var seen = new List<byte>();
        FrameHandler stopAfterFirst = (ReadOnlySpan<byte> frame, in FrameInfo _) =>
        {
            seen.Add(frame[0]);
            walker.StopRequested = true;
        };

        Assert.False(walker.Walk(block, stopAfterFirst, 262144, 1));
        walker.StopRequested = false;
        Assert.True(walker.Walk(block, (ReadOnlySpan<byte> frame, in FrameInfo _) => seen.Add(frame[0]), 262144, 1));
        Assert.Equal([1, 2, 3], seen);
    }

    [Fact]
    public void A_handler_that_throws_leaves_the_walker_past_that_frame()
    {
        var block = Block(8192, (Frame(60, 1), 60, 1, 0), (Frame(60, 2), 60, 1, 0));
        var walker = new TpacketV3Walker();
        Assert.Throws<InvalidOperationException>(() => walker.Walk(block, (ReadOnlySpan<byte> _, in FrameInfo _) => throw new InvalidOperationException("broke"), 262144, 1));
        var (finished, frames) = Walk(walker, block);
        Assert.True(finished);
        Assert.Equal(Frame(60, 2), Assert.Single(frames).Bytes);
    }

    [Fact]
    public void A_vlan_tag_the_kernel_stripped_is_put_back_before_the_ethertype()
    {
        var ethernet = Frame(60, 0);
        ethernet.AsSpan(0, 12).Fill(0xaa);
        ethernet[12] = 0x08; // IPv4
        var block = Block(4096, (ethernet, 60, 1, 0));
        var header = block.AsSpan(TpacketV3Walker.BlockHeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(header[20..], TpacketV3Walker.StatusUser | TpacketV3Walker.StatusVlanValid);
        BinaryPrimitives.WriteUInt32LittleEndian(header[32..], 42); // tp_vlan_tci
        var (_, frames) = Walk(new TpacketV3Walker(), block);

        var frame = Assert.Single(frames);
        Assert.Equal(64, frame.Bytes.Length);
        Assert.Equal(new FrameInfo(1_000_000_000, 64, 64, 1), frame.Info);
        Assert.True(frame.Bytes.AsSpan(0, 12).ToArray().All(b => b == 0xaa));
        Assert.Equal(0x8100, BinaryPrimitives.ReadUInt16BigEndian(frame.Bytes.AsSpan(12)));
        Assert.Equal(42, BinaryPrimitives.ReadUInt16BigEndian(frame.Bytes.AsSpan(14)));
        Assert.Equal(0x0800, BinaryPrimitives.ReadUInt16BigEndian(frame.Bytes.AsSpan(16)));
    }

    [Fact]
    public void A_userland_filter_skips_the_frames_it_rejects()
    {
        var block = Block(8192, (Frame(60, 1), 60, 1, 0), (Frame(60, 2), 60, 1, 0), (Frame(60, 3), 60, 1, 0));
        var walker = new TpacketV3Walker { Filter = (frame, _) => frame[0] != 2 };
        var (_, frames) = Walk(walker, block);
        Assert.Equal([1, 3], frames.Select(f => f.Bytes[0]));
        Assert.Equal(1, walker.FilteredInUserland);
    }
}
