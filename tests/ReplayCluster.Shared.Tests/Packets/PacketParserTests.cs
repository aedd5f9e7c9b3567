using System.Buffers.Binary;
using ReplayCluster.Packets;
using Xunit;

namespace ReplayCluster.Tests.Packets;

public sealed class PacketParserTests
{
    private static readonly uint Loopback = Ipv4Address.Parse("127.0.0.1");

    [Fact]
    public void An_ethernet_syn_from_loopback_parses_with_all_its_options()
    {
        Assert.Equal(ParseResult.Ok, PacketParser.TryParse(RealFrames.EthernetSyn, LinkType.Ethernet, out var p));

        Assert.Equal(14, p.IpOffset);
        Assert.Equal(20, p.IpHeaderLength);
        Assert.Equal(60, p.TotalLength);
        Assert.Equal(34, p.TcpOffset);
        Assert.Equal(40, p.TcpHeaderLength);
        Assert.Equal(74, p.PayloadOffset);
        Assert.Equal(0, p.PayloadLength);
        Assert.False(p.Truncated);
        Assert.Equal(Loopback, p.SourceAddress);
        Assert.Equal(0x7F000001u, p.DestinationAddress);
        Assert.Equal((ushort)43644, p.SourcePort);
        Assert.Equal((ushort)18123, p.DestinationPort);
        Assert.Equal(1268530466u, p.Sequence);
        Assert.Equal(0u, p.Acknowledgment);
        Assert.Equal(TcpFlags.Syn, p.Flags);
        Assert.Equal((ushort)65495, p.Window);
        Assert.Equal((ushort)0x1DFF, p.IpId);
        Assert.Equal((byte)64, p.Ttl);
        Assert.Equal((byte)0, p.Tos);
        Assert.True(p.DontFragment);
        Assert.False(p.IsFragment);
        Assert.Equal(1u, p.SequenceLength);

        var o = p.Options;
        Assert.True(o.HasMss);
        Assert.Equal((ushort)65495, o.Mss);
        Assert.True(o.SackPermitted);
        Assert.True(o.HasTimestamp);
        Assert.Equal(922476703u, o.TsVal);
        Assert.Equal(0u, o.TsEcr);
        Assert.True(o.HasWindowScale);
        Assert.Equal((byte)10, o.WindowScale);
        Assert.Equal((byte)0, o.SackBlockCount);
        Assert.Equal((byte)26, o.TimestampOffset);
    }

    [Fact]
    public void An_ethernet_data_segment_exposes_its_payload_and_timestamps()
    {
        Assert.Equal(ParseResult.Ok, PacketParser.TryParse(RealFrames.EthernetData, LinkType.Ethernet, out var p));

        Assert.Equal(TcpFlags.Psh | TcpFlags.Ack, p.Flags);
        Assert.Equal(1268530467u, p.Sequence);
        Assert.Equal(396879970u, p.Acknowledgment);
        Assert.Equal((ushort)64, p.Window);
        Assert.Equal(32, p.TcpHeaderLength);
        Assert.Equal(79, p.PayloadLength);
        Assert.Equal(79, p.CapturedPayloadLength);
        Assert.False(p.Options.HasMss);
        Assert.False(p.Options.HasWindowScale);
        Assert.Equal(922476703u, p.Options.TsVal);
        Assert.Equal(583197716u, p.Options.TsEcr);
        Assert.StartsWith("GET / HTTP/1.1\r\n", System.Text.Encoding.ASCII.GetString(RealFrames.EthernetData, p.PayloadOffset, p.PayloadLength), StringComparison.Ordinal);
    }

    [Fact]
    public void A_linux_cooked_v1_frame_parses_with_ip_at_offset_16()
    {
        Assert.Equal(ParseResult.Ok, PacketParser.TryParse(RealFrames.SllSyn, LinkType.LinuxSll, out var syn));
        Assert.Equal(16, syn.IpOffset);
        Assert.Equal(2507601995u, syn.Sequence);
        Assert.Equal(1887798781u, syn.Options.TsVal);

        Assert.Equal(ParseResult.Ok, PacketParser.TryParse(RealFrames.SllData, LinkType.LinuxSll, out var data));
        Assert.Equal(2507601996u, data.Sequence);
        Assert.Equal(4171116704u, data.Acknowledgment);
        Assert.Equal(79, data.PayloadLength);
    }

    [Fact]
    public void A_linux_cooked_v2_frame_parses_to_the_same_packet_as_its_ethernet_twin()
    {
        Assert.Equal(ParseResult.Ok, PacketParser.TryParse(RealFrames.Sll2Syn, LinkType.LinuxSll2, out var sll2));
        Assert.Equal(ParseResult.Ok, PacketParser.TryParse(RealFrames.EthernetSyn, LinkType.Ethernet, out var ethernet));

        Assert.Equal(20, sll2.IpOffset);
        Assert.Equal(ethernet.Sequence, sll2.Sequence);
        Assert.Equal(ethernet.Options, sll2.Options);
        Assert.Equal(ethernet.SourcePort, sll2.SourcePort);
    }

    [Fact]
    public void A_vlan_tagged_frame_parses_with_ip_after_the_tag()
    {
        Assert.Equal(ParseResult.Ok, PacketParser.TryParse(RealFrames.VlanSyn, LinkType.Ethernet, out var p));
        Assert.Equal(18, p.IpOffset);
        Assert.Equal(1268530466u, p.Sequence);
        Assert.Equal((ushort)65495, p.Options.Mss);
    }

    [Fact]
    public void A_qinq_frame_with_two_tags_parses_with_ip_after_both_tags()
    {
        Assert.Equal(ParseResult.Ok, PacketParser.TryParse(RealFrames.QinQData, LinkType.Ethernet, out var p));
        Assert.Equal(22, p.IpOffset);
        Assert.Equal(79, p.PayloadLength);
        Assert.Equal(p.PayloadOffset + p.PayloadLength, RealFrames.QinQData.Length);
    }

    [Fact]
    public void Three_stacked_vlan_tags_are_rejected_as_unsupported()
    {
        var frame = RealFrames.QinQData.ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(20), 0x8100); // Inner type becomes a third tag.
        Assert.Equal(ParseResult.UnsupportedEtherType, PacketParser.TryParse(frame, LinkType.Ethernet, out _));
    }

    [Fact]
    public void A_raw_ip_frame_parses_under_every_raw_link_type_number()
    {
        foreach (var number in new[] { 12, 14, 101, 228 })
        {
            var linkType = LinkTypes.FromPcap(number);
            Assert.True(LinkTypes.IsSupported(linkType));
            Assert.Equal(ParseResult.Ok, PacketParser.TryParse(RealFrames.RawSynAck, linkType, out var p));
            Assert.Equal(0, p.IpOffset);
            Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, p.Flags);
            Assert.Equal(396879969u, p.Sequence);
            Assert.Equal(1268530467u, p.Acknowledgment);
            Assert.Equal(922476703u, p.Options.TsEcr);
        }
    }

    [Fact]
    public void Pcap_link_type_numbers_map_to_link_types_and_unknown_ones_are_rejected_by_the_parser()
    {
        Assert.Equal(LinkType.Ethernet, LinkTypes.FromPcap(1));
        Assert.Equal(LinkType.LinuxSll, LinkTypes.FromPcap(113));
        Assert.Equal(LinkType.LinuxSll2, LinkTypes.FromPcap(276));
        Assert.Equal(LinkType.Ipv4, LinkTypes.FromPcap(228));
        Assert.False(LinkTypes.IsSupported(LinkTypes.FromPcap(127))); // 802.11 radiotap.
        Assert.Equal(ParseResult.UnsupportedLinkType, PacketParser.TryParse(RealFrames.RawSynAck, LinkTypes.FromPcap(127), out _));
    }

    [Fact]
    public void Ethernet_padding_beyond_the_ip_total_length_is_ignored()
    {
        var padded = new byte[RealFrames.EthernetSyn.Length + 6];
        RealFrames.EthernetSyn.CopyTo(padded, 0);
        padded.AsSpan(RealFrames.EthernetSyn.Length).Fill(0xEE);

        Assert.Equal(ParseResult.Ok, PacketParser.TryParse(padded, LinkType.Ethernet, out var p));
        Assert.Equal(0, p.PayloadLength);
        Assert.Equal(0, p.CapturedPayloadLength);
    }

    [Fact]
    public void A_payload_cut_by_the_snaplen_is_reported_as_truncated_not_rejected()
    {
        var cut = RealFrames.EthernetData[..100];

        Assert.Equal(ParseResult.Ok, PacketParser.TryParse(cut, LinkType.Ethernet, out var p));
        Assert.Equal(79, p.PayloadLength);
        Assert.Equal(100 - 66, p.CapturedPayloadLength);
        Assert.True(p.Truncated);
    }

    [Fact]
    public void A_capture_that_ends_inside_the_tcp_options_is_rejected()
    {
        Assert.Equal(ParseResult.TooShortForTcp, PacketParser.TryParse(RealFrames.EthernetSyn[..60], LinkType.Ethernet, out var p));
        Assert.Equal(default, p.Sequence);
    }

    [Fact]
    public void Every_rejection_reason_is_reachable()
    {
        var syn = RealFrames.EthernetSyn;
        Assert.Equal(ParseResult.TooShortForLink, PacketParser.TryParse(syn[..13], LinkType.Ethernet, out _));
        Assert.Equal(ParseResult.TooShortForLink, PacketParser.TryParse(RealFrames.VlanSyn[..15], LinkType.Ethernet, out _));
        Assert.Equal(ParseResult.TooShortForLink, PacketParser.TryParse(RealFrames.SllSyn[..15], LinkType.LinuxSll, out _));
        Assert.Equal(ParseResult.TooShortForLink, PacketParser.TryParse(RealFrames.Sll2Syn[..19], LinkType.LinuxSll2, out _));
        Assert.Equal(ParseResult.UnsupportedEtherType, PacketParser.TryParse(With(syn, 12, 0x86, 0xDD), LinkType.Ethernet, out _));
        Assert.Equal(ParseResult.UnsupportedEtherType, PacketParser.TryParse(With(RealFrames.SllSyn, 14, 0x08, 0x06), LinkType.LinuxSll, out _));
        Assert.Equal(ParseResult.UnsupportedEtherType, PacketParser.TryParse(With(RealFrames.Sll2Syn, 0, 0x86, 0xDD), LinkType.LinuxSll2, out _));
        Assert.Equal(ParseResult.TooShortForIp, PacketParser.TryParse(syn[..33], LinkType.Ethernet, out _));
        Assert.Equal(ParseResult.NotIpv4, PacketParser.TryParse(With(syn, 14, 0x65), LinkType.Ethernet, out _));
        Assert.Equal(ParseResult.BadIpHeaderLength, PacketParser.TryParse(With(syn, 14, 0x44), LinkType.Ethernet, out _));
        Assert.Equal(ParseResult.BadIpTotalLength, PacketParser.TryParse(With(syn, 16, 0x00, 39), LinkType.Ethernet, out _));
        Assert.Equal(ParseResult.TooShortForIp, PacketParser.TryParse(With(syn, 14, 0x46)[..36], LinkType.Ethernet, out _));
        Assert.Equal(ParseResult.IpFragment, PacketParser.TryParse(With(syn, 20, 0x20, 0x00), LinkType.Ethernet, out _));
        Assert.Equal(ParseResult.IpFragment, PacketParser.TryParse(With(syn, 20, 0x40, 0x01), LinkType.Ethernet, out _));
        Assert.Equal(ParseResult.NotTcp, PacketParser.TryParse(With(syn, 23, 17), LinkType.Ethernet, out _));
        Assert.Equal(ParseResult.TooShortForTcp, PacketParser.TryParse(syn[..50], LinkType.Ethernet, out _));
        Assert.Equal(ParseResult.BadTcpHeaderLength, PacketParser.TryParse(With(syn, 46, 0x40), LinkType.Ethernet, out _));
        Assert.Equal(ParseResult.BadTcpHeaderLength, PacketParser.TryParse(With(syn, 46, 0xB0), LinkType.Ethernet, out _));
        Assert.Equal(ParseResult.BadTcpOptions, PacketParser.TryParse(With(syn, 55, 3), LinkType.Ethernet, out _));
        Assert.Equal(ParseResult.UnsupportedLinkType, PacketParser.TryParse(syn, (LinkType)999, out _));
    }

    [Fact]
    public void A_rejected_frame_leaves_the_packet_at_its_default()
    {
        Assert.Equal(ParseResult.NotTcp, PacketParser.TryParse(With(RealFrames.EthernetData, 23, 17), LinkType.Ethernet, out var p));
        Assert.Equal(0, p.IpOffset);
        Assert.Equal(0u, p.SourceAddress);
    }

    [Fact]
    public void Ip_options_move_the_tcp_header_back()
    {
        // Rebuild the raw SYN-ACK with 4 bytes of IP options (a NOP and an EOL word): IHL 6, total length + 4.
        var raw = RealFrames.RawSynAck;
        var withOptions = new byte[raw.Length + 4];
        raw.AsSpan(0, 20).CopyTo(withOptions);
        withOptions[0] = 0x46;
        BinaryPrimitives.WriteUInt16BigEndian(withOptions.AsSpan(2), (ushort)(raw.Length + 4));
        withOptions[20] = 1;
        raw.AsSpan(20).CopyTo(withOptions.AsSpan(24));

        Assert.Equal(ParseResult.Ok, PacketParser.TryParseIp(withOptions, out var p));
        Assert.Equal(24, p.IpHeaderLength);
        Assert.Equal(24, p.TcpOffset);
        Assert.Equal(396879969u, p.Sequence);
    }

    [Fact]
    public void Addresses_convert_between_host_order_and_ip_address()
    {
        Assert.Equal(0x0A4D0002u, Ipv4Address.Parse("10.77.0.2"));
        Assert.Equal("10.77.0.2", Ipv4Address.Format(0x0A4D0002));
        Assert.Equal(System.Net.IPAddress.Parse("10.77.0.2"), Ipv4Address.ToIPAddress(0x0A4D0002));
        Assert.Equal(0x7F000001u, Ipv4Address.FromIPAddress(System.Net.IPAddress.Parse("::ffff:127.0.0.1")));
        Assert.Throws<ArgumentException>(() => Ipv4Address.FromIPAddress(System.Net.IPAddress.IPv6Loopback));

        PacketParser.TryParse(RealFrames.EthernetSyn, LinkType.Ethernet, out var p);
        Assert.Equal(System.Net.IPAddress.Loopback, p.GetSourceIPAddress());
        Assert.Equal(System.Net.IPAddress.Loopback, p.GetDestinationIPAddress());
    }

    [Fact]
    public void Our_parse_agrees_with_packet_dot_net_on_every_real_frame()
    {
        foreach (var (name, frame, linkType) in RealFrames.All)
        {
            Assert.Equal(ParseResult.Ok, PacketParser.TryParse(frame, linkType, out var p));
            var reference = PacketDotNet.Packet.ParsePacket(PacketDotNet.LinkLayers.Raw, frame[p.IpOffset..]).Extract<PacketDotNet.TcpPacket>();
            Assert.NotNull(reference);
            Assert.True(reference.SequenceNumber == p.Sequence, name);
            Assert.Equal(reference.AcknowledgmentNumber, p.Acknowledgment);
            Assert.Equal(reference.SourcePort, p.SourcePort);
            Assert.Equal(reference.DestinationPort, p.DestinationPort);
            Assert.Equal(reference.WindowSize, p.Window);
            Assert.Equal(reference.PayloadData?.Length ?? 0, p.PayloadLength);
        }
    }

    [Fact]
    public void Parsing_ten_thousand_frames_allocates_nothing()
    {
        var frames = RealFrames.All;
        var sink = 0L;
        foreach (var (_, frame, linkType) in frames)
        {
            PacketParser.TryParse(frame, linkType, out var warm); // JIT and static initialisation first.
            sink += warm.Sequence;
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            var (_, frame, linkType) = frames[i % frames.Length];
            if (PacketParser.TryParse(frame, linkType, out var p) == ParseResult.Ok)
            {
                sink += p.Sequence + p.Options.TsVal;
            }
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.NotEqual(0, sink);
    }

    private static byte[] With(byte[] frame, int offset, params byte[] bytes)
    {
        var copy = frame.ToArray();
        bytes.CopyTo(copy, offset);
        return copy;
    }
}
