using ReplayCluster.Packets;
using Xunit;

namespace ReplayCluster.Tests.Packets;

public sealed class TcpPacketRewriterTests
{
    [Fact]
    public void A_captured_data_segment_rewritten_for_the_target_has_the_new_fields_and_valid_checksums()
    {
        var frame = RealFrames.EthernetData.ToArray();
        Assert.Equal(ParseResult.Ok, PacketParser.TryParse(frame, LinkType.Ethernet, out var p));
        var target = Ipv4Address.Parse("10.99.1.2");
        var client = Ipv4Address.Parse("10.98.0.7");

        TcpPacketRewriter.SetDestination(frame, p, target, 8080);
        TcpPacketRewriter.SetSource(frame, p, client, 40001);
        TcpPacketRewriter.SetAcknowledgment(frame, p, 0xFFFF_FFF0);
        TcpPacketRewriter.SetSequence(frame, p, 77);
        TcpPacketRewriter.SetWindow(frame, p, 502);
        TcpPacketRewriter.SetIpId(frame, p, 9);
        Assert.True(TcpPacketRewriter.TrySetTimestampEcr(frame, p, 123456));
        Assert.True(TcpPacketRewriter.FixChecksums(frame, p));

        Assert.Equal(ParseResult.Ok, PacketParser.TryParse(frame, LinkType.Ethernet, out var q));
        Assert.Equal(target, q.DestinationAddress);
        Assert.Equal((ushort)8080, q.DestinationPort);
        Assert.Equal(client, q.SourceAddress);
        Assert.Equal((ushort)40001, q.SourcePort);
        Assert.Equal(0xFFFF_FFF0u, q.Acknowledgment);
        Assert.Equal(77u, q.Sequence);
        Assert.Equal((ushort)502, q.Window);
        Assert.Equal((ushort)9, q.IpId);
        Assert.Equal(123456u, q.Options.TsEcr);
        Assert.Equal(p.Options.TsVal, q.Options.TsVal);
        Assert.Equal(RealFrames.EthernetData[p.PayloadOffset..], frame[q.PayloadOffset..]);
        Assert.True(Checksum.VerifyIp(frame.AsSpan(q.IpOffset, q.IpHeaderLength)));
        Assert.True(Checksum.VerifyTcp(client, target, frame.AsSpan(q.TcpOffset)));

        var reference = PacketDotNet.Packet.ParsePacket(PacketDotNet.LinkLayers.Ethernet, frame).Extract<PacketDotNet.TcpPacket>();
        Assert.True(reference.ValidTcpChecksum);
    }

    [Fact]
    public void Timestamp_echo_cannot_be_set_on_a_packet_without_timestamps()
    {
        var buffer = new byte[40];
        TcpPacketBuilder.Write(new TcpSegmentSpec { Flags = TcpFlags.Ack }, [], buffer);
        PacketParser.TryParseIp(buffer, out var p);
        var before = buffer.ToArray();

        Assert.False(TcpPacketRewriter.TrySetTimestampEcr(buffer, p, 1));
        Assert.Equal(before, buffer);
    }

    [Fact]
    public void Fix_checksums_on_a_raw_ip_packet_repairs_offloaded_checksums()
    {
        var packet = RealFrames.RawSynAck.ToArray();
        Assert.Equal(ParseResult.Ok, PacketParser.TryParseIp(packet, out var p));
        Assert.False(Checksum.VerifyTcp(p.SourceAddress, p.DestinationAddress, packet.AsSpan(20))); // Loopback offload.

        Assert.True(TcpPacketRewriter.FixChecksums(packet));

        Assert.True(Checksum.VerifyTcp(p.SourceAddress, p.DestinationAddress, packet.AsSpan(20)));
        Assert.True(Checksum.VerifyIp(packet.AsSpan(0, 20)));
    }

    [Fact]
    public void Fix_checksums_refuses_garbage_and_truncated_packets_without_throwing_or_writing()
    {
        var garbage = new byte[] { 1, 2, 3 };
        Assert.False(TcpPacketRewriter.FixChecksums(garbage));
        Assert.Equal(new byte[] { 1, 2, 3 }, garbage);

        var cut = RealFrames.EthernetData[14..100];
        var copy = cut.ToArray();
        Assert.False(TcpPacketRewriter.FixChecksums(cut));
        Assert.Equal(copy, cut);
        PacketParser.TryParseIp(cut, out var p);
        Assert.False(TcpPacketRewriter.FixChecksums(cut, p));
    }
}
