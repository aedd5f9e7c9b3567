using System.Buffers.Binary;
using ReplayCluster.Packets;
using Xunit;

namespace ReplayCluster.Tests.Packets;

public sealed class SegmentSplitterTests
{
    private static readonly TcpSegmentSpec DataSpec = new()
    {
        SourceAddress = 0x0A4D0002,
        DestinationAddress = 0x0A4D0001,
        SourcePort = 80,
        DestinationPort = 40000,
        Sequence = 0xFFFF_0000, // Pieces cross the sequence wrap.
        Acknowledgment = 555,
        Flags = TcpFlags.Ack | TcpFlags.Psh | TcpFlags.Fin,
        Window = 501,
        IpId = 0xFFF0, // And the IP ID wrap.
        Timestamp = new TcpTimestamp(1000, 2000),
    };

    [Fact]
    public void A_60_kb_super_segment_splits_into_mss_pieces_that_reassemble_to_the_original()
    {
        var payload = new byte[60_000];
        new Random(7).NextBytes(payload);
        var frame = new byte[TcpPacketBuilder.GetPacketLength(DataSpec, payload.Length)];
        TcpPacketBuilder.Write(DataSpec, payload, frame);
        Assert.Equal(ParseResult.Ok, PacketParser.TryParseIp(frame, out var packet));

        var pieces = SplitAll(frame, packet, 1460);

        Assert.Equal(42, pieces.Count); // ceil(60000 / 1460).
        Assert.Equal(SegmentSplitter.CountPieces(60_000, 1460), pieces.Count);
        var reassembled = new List<byte>();
        var expectedSeq = DataSpec.Sequence;
        for (var i = 0; i < pieces.Count; i++)
        {
            var bytes = pieces[i];
            Assert.Equal(ParseResult.Ok, PacketParser.TryParseIp(bytes, out var p));
            var last = i == pieces.Count - 1;
            Assert.Equal(last ? 60_000 - (41 * 1460) : 1460, p.PayloadLength);
            Assert.Equal(expectedSeq, p.Sequence);
            Assert.Equal(unchecked((ushort)(DataSpec.IpId + i)), p.IpId);
            Assert.Equal(last ? DataSpec.Flags : TcpFlags.Ack, p.Flags);
            Assert.Equal(DataSpec.Acknowledgment, p.Acknowledgment);
            Assert.Equal(2000u, p.Options.TsEcr);
            Assert.True(Checksum.VerifyIp(bytes.AsSpan(0, 20)));
            Assert.True(Checksum.VerifyTcp(p.SourceAddress, p.DestinationAddress, bytes.AsSpan(20)));
            reassembled.AddRange(bytes[p.PayloadOffset..]);
            expectedSeq = unchecked(expectedSeq + (uint)p.PayloadLength);
        }

        Assert.Equal(payload, reassembled.ToArray());
    }

    [Fact]
    public void The_real_veth_tso_frame_splits_into_45_valid_wire_packets()
    {
        var frame = RealFrames.VethSuperSegment();
        Assert.Equal(ParseResult.Ok, PacketParser.TryParse(frame, LinkType.Ethernet, out var packet));
        Assert.Equal(65160, packet.PayloadLength);
        Assert.Equal(2126778078u, packet.Sequence);
        Assert.Equal(165538640u, packet.Options.TsVal);

        // The sender's MSS was 1460 with timestamps on, so each wire segment carried 1448 bytes: 65160 = 45 * 1448.
        var pieces = SplitAll(frame, packet, 1448);

        Assert.Equal(45, pieces.Count);
        for (var i = 0; i < pieces.Count; i++)
        {
            var ip = PacketDotNet.Packet.ParsePacket(PacketDotNet.LinkLayers.Raw, pieces[i]).Extract<PacketDotNet.IPv4Packet>();
            var tcp = ip.Extract<PacketDotNet.TcpPacket>();
            Assert.True(ip.ValidIPChecksum);
            Assert.True(tcp.ValidTcpChecksum);
            Assert.Equal(unchecked(packet.Sequence + (uint)(i * 1448)), tcp.SequenceNumber);
            Assert.Equal(i == 44, tcp.Push);
            Assert.Equal(1448, tcp.PayloadData.Length);
        }
    }

    [Fact]
    public void A_syn_with_payload_keeps_syn_on_the_first_piece_and_shifts_later_sequences_by_one()
    {
        var spec = DataSpec with { Flags = TcpFlags.Syn | TcpFlags.Cwr | TcpFlags.Ece, Sequence = 100 };
        var frame = new byte[TcpPacketBuilder.GetPacketLength(spec, 2500)];
        TcpPacketBuilder.Write(spec, new byte[2500], frame);
        PacketParser.TryParseIp(frame, out var packet);
        Assert.Equal(2501u, packet.SequenceLength);

        var pieces = SplitAll(frame, packet, 1000);

        Assert.Equal(3, pieces.Count);
        PacketParser.TryParseIp(pieces[0], out var first);
        PacketParser.TryParseIp(pieces[1], out var second);
        PacketParser.TryParseIp(pieces[2], out var third);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Cwr | TcpFlags.Ece, first.Flags);
        Assert.Equal(TcpFlags.Ece, second.Flags);
        Assert.Equal(100u, first.Sequence);
        Assert.Equal(1101u, second.Sequence);
        Assert.Equal(2101u, third.Sequence);
        Assert.Equal(packet.EndSequence, third.EndSequence);
    }

    [Fact]
    public void A_segment_within_the_mss_comes_out_as_one_identical_packet_with_fixed_checksums()
    {
        var original = RealFrames.EthernetData;
        PacketParser.TryParse(original, LinkType.Ethernet, out var packet);

        var pieces = SplitAll(original, packet, 1460);

        Assert.Single(pieces);
        var expected = original[14..];
        TcpPacketRewriter.FixChecksums(expected);
        Assert.Equal(expected, pieces[0]);
    }

    [Fact]
    public void A_pure_ack_yields_one_piece()
    {
        PacketParser.TryParse(RealFrames.EthernetSyn, LinkType.Ethernet, out var packet);
        Assert.Single(SplitAll(RealFrames.EthernetSyn, packet, 1460));
    }

    [Fact]
    public void A_payload_cut_by_the_snaplen_cannot_be_split()
    {
        var cut = RealFrames.VethSuperSegment()[..9000];
        Assert.Equal(ParseResult.Ok, PacketParser.TryParse(cut, LinkType.Ethernet, out var packet));
        Assert.True(packet.Truncated);

        Assert.Equal(0, SegmentSplitter.Split(cut, packet, 1448, new byte[2000], _ => Assert.Fail("no piece expected")));
    }

    [Fact]
    public void Caller_mistakes_throw_argument_exceptions()
    {
        var frame = RealFrames.EthernetData;
        PacketParser.TryParse(frame, LinkType.Ethernet, out var packet);
        Assert.Throws<ArgumentOutOfRangeException>(() => SegmentSplitter.Split(frame, packet, 0, new byte[2000], _ => { }));
        Assert.Throws<ArgumentException>(() => SegmentSplitter.Split(frame, packet, 1460, new byte[50], _ => { }));
        Assert.Throws<ArgumentException>(() => SegmentSplitter.Split(frame[..40], packet, 1460, new byte[2000], _ => { }));
    }

    [Fact]
    public void Splitting_with_the_enumerator_allocates_nothing()
    {
        var frame = RealFrames.VethSuperSegment();
        PacketParser.TryParse(frame, LinkType.Ethernet, out var packet);
        var scratch = new byte[SegmentSplitter.GetScratchLength(packet, 1448)];
        var checksum = 0;
        foreach (var piece in SegmentSplitter.Pieces(frame, packet, 1448, scratch))
        {
            checksum += piece[36];
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        foreach (var piece in SegmentSplitter.Pieces(frame, packet, 1448, scratch))
        {
            checksum += BinaryPrimitives.ReadUInt16BigEndian(piece[36..]);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.NotEqual(0, checksum);
    }

    private static List<byte[]> SplitAll(byte[] frame, in TcpPacket packet, int mss)
    {
        var pieces = new List<byte[]>();
        var scratch = new byte[SegmentSplitter.GetScratchLength(packet, mss)];
        var count = SegmentSplitter.Split(frame, packet, mss, scratch, piece => pieces.Add(piece.ToArray()));
        Assert.Equal(pieces.Count, count);
        return pieces;
    }
}
