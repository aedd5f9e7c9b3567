using System.Buffers.Binary;
using CsCheck;
using ReplayCluster.Packets;
using Xunit;

namespace ReplayCluster.Tests.Packets;

public sealed class Ipv6TcpPacketRewriterTests
{
    private static readonly Ipv6Address Target = Ipv6Address.Parse("2001:db8:99::1:2");
    private static readonly Ipv6Address FakeClient = Ipv6Address.Parse("2001:db8:abcd:7::1e");

    [Fact]
    public void A_captured_segment_behind_extension_headers_rewritten_for_the_target_has_the_new_fields_and_a_valid_checksum()
    {
        var ip = Ipv6Frames.WithExtensionHeaders(Ipv6Frames.Build(Ipv6Frames.Data, 517), Ipv6Frames.Options(Ipv6Frames.HopByHop), Ipv6Frames.Options(Ipv6Frames.DestinationOptions));
        var frame = Ipv6Frames.Ethernet(ip, PacketParser.EtherTypeIpv6, PacketParser.EtherTypeVlan);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(18 + ip.Length - 517 - 32 + 16), 0xBAD0); // as offload leaves it: wrong
        Assert.Equal(ParseResult.Ok, PacketParser.TryParseIpv6(frame, LinkType.Ethernet, out var p));

        Ipv6TcpPacketRewriter.SetDestination(frame, p, Target, 8080);
        Ipv6TcpPacketRewriter.SetSource(frame, p, FakeClient, 40001);
        Ipv6TcpPacketRewriter.SetSequence(frame, p, 77);
        Ipv6TcpPacketRewriter.SetAcknowledgment(frame, p, 0xFFFF_FFF0);
        Ipv6TcpPacketRewriter.SetWindow(frame, p, 333);
        Ipv6TcpPacketRewriter.SetHopLimit(frame, p, 63);
        Assert.True(Ipv6TcpPacketRewriter.TrySetTimestampEcr(frame, p, 123_456));
        Assert.True(Ipv6TcpPacketRewriter.FixChecksum(frame, p));

        Assert.Equal(ParseResult.Ok, PacketParser.TryParseIpv6(frame, LinkType.Ethernet, out var q));
        Assert.Equal(FakeClient, q.SourceAddress);
        Assert.Equal((ushort)40001, q.SourcePort);
        Assert.Equal(Target, q.DestinationAddress);
        Assert.Equal((ushort)8080, q.DestinationPort);
        Assert.Equal(77u, q.Sequence);
        Assert.Equal(0xFFFF_FFF0u, q.Acknowledgment);
        Assert.Equal((ushort)333, q.Window);
        Assert.Equal((byte)63, q.HopLimit);
        Assert.Equal(123_456u, q.Options.TsEcr);
        Assert.Equal(p.Options.TsVal, q.Options.TsVal);
        Assert.Equal(p.ExtensionHeadersLength, q.ExtensionHeadersLength);
        Assert.Equal(Ipv6Frames.Payload(517), frame.AsSpan(q.PayloadOffset, q.PayloadLength).ToArray());
        var segment = frame.AsSpan(q.TcpOffset, q.TotalLength - q.IpHeaderLength);
        Assert.True(Checksum.VerifyTcp(FakeClient, Target, segment));
        Assert.Equal(Ipv6Frames.ReferenceTcpChecksum(FakeClient, Target, segment), BinaryPrimitives.ReadUInt16BigEndian(segment[16..]));
    }

    [Fact]
    public void The_incremental_endpoint_rewrite_equals_a_full_recompute_when_the_captured_checksum_was_right()
    {
        Gen.Select(TcpPacketBuilderTests.GenSpec, Ipv6TcpPacketBuilderTests.GenAddress, Ipv6TcpPacketBuilderTests.GenAddress, Gen.Byte.Array[0, 1500], Gen.UShort, Gen.UShort)
            .Sample((spec, client, server, payload, newSourcePort, newDestinationPort) =>
            {
                var packet = new byte[Ipv6TcpPacketBuilder.GetPacketLength(spec, payload.Length)];
                Ipv6TcpPacketBuilder.Write(spec, client, server, payload, packet);
                Assert.Equal(ParseResult.Ok, PacketParser.TryParseIpv6Ip(packet, out var p));
                var full = packet.ToArray();

                Ipv6TcpPacketRewriter.RewriteEndpoints(packet, p, FakeClient, newSourcePort, Target, newDestinationPort);
                Ipv6TcpPacketRewriter.SetSource(full, p, FakeClient, newSourcePort);
                Ipv6TcpPacketRewriter.SetDestination(full, p, Target, newDestinationPort);
                Assert.True(Ipv6TcpPacketRewriter.FixChecksum(full));

                Assert.True(Checksum.VerifyTcp(FakeClient, Target, packet.AsSpan(40)));
                var incremental = BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(56));
                var recomputed = BinaryPrimitives.ReadUInt16BigEndian(full.AsSpan(56));
                Assert.Equal(recomputed == 0xFFFF ? 0 : recomputed, incremental == 0xFFFF ? 0 : incremental); // one's complement: two zeros
                packet[56] = full[56];
                packet[57] = full[57];
                Assert.Equal(full, packet);
            }, iter: 3_000);
    }

    [Fact]
    public void The_incremental_rewrite_works_on_a_payload_the_snaplen_cut_where_a_full_recompute_cannot()
    {
        var whole = Ipv6Frames.Ethernet(Ipv6Frames.Build(Ipv6Frames.Data, 1200));
        var cut = whole[..256];
        Assert.Equal(ParseResult.Ok, PacketParser.TryParseIpv6(cut, LinkType.Ethernet, out var p));
        Assert.True(p.Truncated);
        var before = cut.ToArray();
        Assert.False(Ipv6TcpPacketRewriter.FixChecksum(cut, p));
        Assert.Equal(before, cut);

        Ipv6TcpPacketRewriter.RewriteEndpoints(cut, p, FakeClient, 40001, Target, 8080);

        // The checksum now fits the whole segment with the new addresses, as the sender's payload would be sent on.
        Ipv6TcpPacketRewriter.SetSource(whole, p, FakeClient, 40001);
        Ipv6TcpPacketRewriter.SetDestination(whole, p, Target, 8080);
        cut.AsSpan(p.TcpOffset + 16, 2).CopyTo(whole.AsSpan(p.TcpOffset + 16));
        Assert.True(Checksum.VerifyTcp(FakeClient, Target, whole.AsSpan(p.TcpOffset)));
    }

    [Fact]
    public void An_offloaded_wrong_checksum_stays_wrong_incrementally_and_is_repaired_by_a_full_recompute()
    {
        var packet = Ipv6Frames.Build(Ipv6Frames.Data, 64);
        packet[56] ^= 0x5A;
        Assert.Equal(ParseResult.Ok, PacketParser.TryParseIpv6Ip(packet, out var p));
        Ipv6TcpPacketRewriter.RewriteEndpoints(packet, p, FakeClient, 1, Target, 2);
        Assert.False(Checksum.VerifyTcp(FakeClient, Target, packet.AsSpan(40)));
        Assert.True(Ipv6TcpPacketRewriter.FixChecksum(packet, p));
        Assert.True(Checksum.VerifyTcp(FakeClient, Target, packet.AsSpan(40)));
    }

    [Fact]
    public void Raw_fixes_refuse_what_is_not_a_whole_ipv6_tcp_packet_and_timestamps_need_the_option()
    {
        Assert.False(Ipv6TcpPacketRewriter.FixChecksum(new byte[10]));
        Assert.False(Ipv6TcpPacketRewriter.FixChecksum(RealFrames.EthernetSyn.AsSpan(14).ToArray()));
        var cut = Ipv6Frames.Build(Ipv6Frames.Data, 100)[..120];
        var before = cut.ToArray();
        Assert.False(Ipv6TcpPacketRewriter.FixChecksum(cut));
        Assert.Equal(before, cut);

        var plain = Ipv6Frames.Build(Ipv6Frames.Data with { Timestamp = null }, 0);
        Assert.Equal(ParseResult.Ok, PacketParser.TryParseIpv6Ip(plain, out var p));
        var untouched = plain.ToArray();
        Assert.False(Ipv6TcpPacketRewriter.TrySetTimestampEcr(plain, p, 5));
        Assert.Equal(untouched, plain);
    }
}
