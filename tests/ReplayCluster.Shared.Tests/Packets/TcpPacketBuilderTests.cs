using CsCheck;
using ReplayCluster.Packets;
using Xunit;

namespace ReplayCluster.Tests.Packets;

public sealed class TcpPacketBuilderTests
{
    /// <summary>Random but valid segment specs, options included.</summary>
    internal static readonly Gen<TcpSegmentSpec> GenSpec =
        from addresses in Gen.Select(Gen.UInt, Gen.UInt, Gen.UShort, Gen.UShort)
        from numbers in Gen.Select(Gen.UInt, Gen.UInt, Gen.Byte, Gen.UShort, Gen.UShort)
        from ip in Gen.Select(Gen.Byte[1, 255], Gen.Byte, Gen.Bool)
        from mss in Gen.UShort[1, ushort.MaxValue].Nullable()
        from ws in Gen.Byte[0, 14].Nullable()
        from sackPermitted in Gen.Bool
        from ts in Gen.Select(Gen.UInt, Gen.UInt, (v, e) => new TcpTimestamp(v, e)).Nullable()
        select new TcpSegmentSpec
        {
            SourceAddress = addresses.Item1,
            DestinationAddress = addresses.Item2,
            SourcePort = addresses.Item3,
            DestinationPort = addresses.Item4,
            Sequence = numbers.Item1,
            Acknowledgment = numbers.Item2,
            Flags = (TcpFlags)numbers.Item3,
            Window = numbers.Item4,
            IpId = numbers.Item5,
            Ttl = ip.Item1,
            Tos = ip.Item2,
            DontFragment = ip.Item3,
            Mss = mss,
            WindowScale = ws,
            SackPermitted = sackPermitted,
            Timestamp = ts,
        };

    [Fact]
    public void A_syn_built_like_linux_equals_the_captured_syn_except_the_offloaded_tcp_checksum()
    {
        var spec = new TcpSegmentSpec
        {
            SourceAddress = 0x7F000001,
            DestinationAddress = 0x7F000001,
            SourcePort = 43644,
            DestinationPort = 18123,
            Sequence = 1268530466,
            Flags = TcpFlags.Syn,
            Window = 65495,
            IpId = 0x1DFF,
            Mss = 65495,
            SackPermitted = true,
            Timestamp = new TcpTimestamp(922476703, 0),
            WindowScale = 10,
        };
        var buffer = new byte[100];

        var written = TcpPacketBuilder.Write(spec, [], buffer);

        var captured = RealFrames.EthernetSyn.AsSpan(14);
        Assert.Equal(captured.Length, written);
        Assert.Equal(captured[..36].ToArray(), buffer[..36]); // IP header (checksum 1ebb included) and TCP up to the checksum.
        Assert.Equal(captured[38..].ToArray(), buffer[38..written]); // Urgent pointer and the option bytes, in Linux order.
        Assert.True(Checksum.VerifyTcp(spec.SourceAddress.Ipv4, spec.DestinationAddress.Ipv4, buffer.AsSpan(20, written - 20)));
    }

    [Fact]
    public void Option_layouts_without_timestamps_are_nop_padded_to_words()
    {
        var spec = new TcpSegmentSpec { SackPermitted = true, WindowScale = 7 };
        var buffer = new byte[48];
        Assert.Equal(48, TcpPacketBuilder.Write(spec, [], buffer));
        Assert.Equal(Convert.FromHexString("0101040201030307"), buffer[40..48]);

        var tsOnly = new TcpSegmentSpec { Timestamp = new TcpTimestamp(1, 2) };
        var tsBuffer = new byte[52];
        Assert.Equal(52, TcpPacketBuilder.Write(tsOnly, [], tsBuffer));
        Assert.Equal(Convert.FromHexString("0101080a0000000100000002"), tsBuffer[40..52]);
    }

    [Fact]
    public void Defaults_are_ttl_64_and_dont_fragment()
    {
        var buffer = new byte[40];
        TcpPacketBuilder.Write(new TcpSegmentSpec(), [], buffer);
        Assert.Equal(ParseResult.Ok, PacketParser.TryParseIp(buffer, out var p));
        Assert.Equal((byte)64, p.Ttl);
        Assert.True(p.DontFragment);
    }

    [Fact]
    public void Any_valid_spec_round_trips_through_the_parser_with_valid_checksums()
    {
        Gen.Select(GenSpec, Gen.Byte.Array[0, 2000]).Sample((spec, payload) =>
        {
            var buffer = new byte[TcpPacketBuilder.GetPacketLength(spec, payload.Length)];
            var written = TcpPacketBuilder.Write(spec, payload, buffer);
            Assert.Equal(buffer.Length, written);
            Assert.Equal(ParseResult.Ok, PacketParser.TryParse(buffer, LinkType.Raw, out var p));
            Assert.Equal(spec.SourceAddress, p.SourceAddress);
            Assert.Equal(spec.DestinationAddress, p.DestinationAddress);
            Assert.Equal(spec.SourcePort, p.SourcePort);
            Assert.Equal(spec.DestinationPort, p.DestinationPort);
            Assert.Equal(spec.Sequence, p.Sequence);
            Assert.Equal(spec.Acknowledgment, p.Acknowledgment);
            Assert.Equal(spec.Flags, p.Flags);
            Assert.Equal(spec.Window, p.Window);
            Assert.Equal(spec.IpId, p.IpId);
            Assert.Equal(spec.Ttl, p.Ttl);
            Assert.Equal(spec.Tos, p.Tos);
            Assert.Equal(spec.DontFragment, p.DontFragment);
            Assert.Equal(spec.Mss ?? 0, p.Options.Mss);
            Assert.Equal(spec.WindowScale.HasValue, p.Options.HasWindowScale);
            Assert.Equal(spec.WindowScale ?? 0, p.Options.WindowScale);
            Assert.Equal(spec.SackPermitted, p.Options.SackPermitted);
            Assert.Equal(spec.Timestamp.HasValue, p.Options.HasTimestamp);
            Assert.Equal(spec.Timestamp?.TsVal ?? 0, p.Options.TsVal);
            Assert.Equal(spec.Timestamp?.TsEcr ?? 0, p.Options.TsEcr);
            Assert.Equal(payload, buffer[p.PayloadOffset..]);
            Assert.True(Checksum.VerifyIp(buffer.AsSpan(0, 20)));
            Assert.True(Checksum.VerifyTcp(p.SourceAddress, p.DestinationAddress, buffer.AsSpan(20)));
        }, iter: 2_000);
    }

    [Fact]
    public void Packet_dot_net_accepts_the_checksums_of_built_packets()
    {
        Gen.Select(GenSpec, Gen.Byte.Array[0, 1500]).Sample((spec, payload) =>
        {
            var buffer = new byte[TcpPacketBuilder.GetPacketLength(spec, payload.Length)];
            TcpPacketBuilder.Write(spec, payload, buffer);
            var ip = PacketDotNet.Packet.ParsePacket(PacketDotNet.LinkLayers.Raw, buffer).Extract<PacketDotNet.IPv4Packet>();
            var tcp = ip.Extract<PacketDotNet.TcpPacket>();
            return ip.ValidIPChecksum && tcp.ValidTcpChecksum && tcp.SequenceNumber == spec.Sequence;
        }, iter: 1_000);
    }

    [Fact]
    public void A_too_small_destination_is_a_caller_error()
    {
        var spec = new TcpSegmentSpec { Mss = 1460 };
        Assert.Equal(1044, TcpPacketBuilder.GetPacketLength(spec, 1000));
        Assert.Throws<ArgumentException>(() => TcpPacketBuilder.Write(spec, new byte[1000], new byte[1043]));
        Assert.Throws<ArgumentException>(() => TcpPacketBuilder.Write(spec, new byte[65500], new byte[70000]));
    }

    [Fact]
    public void Building_a_data_segment_allocates_nothing()
    {
        var spec = new TcpSegmentSpec { Flags = TcpFlags.Ack | TcpFlags.Psh, Timestamp = new TcpTimestamp(1, 2) };
        var payload = new byte[1448];
        var buffer = new byte[1500];
        TcpPacketBuilder.Write(spec, payload, buffer);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            TcpPacketBuilder.Write(spec with { Sequence = (uint)i }, payload, buffer);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
