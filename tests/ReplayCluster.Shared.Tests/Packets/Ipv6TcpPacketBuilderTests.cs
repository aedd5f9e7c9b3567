using System.Buffers.Binary;
using CsCheck;
using ReplayCluster.Packets;
using Xunit;

namespace ReplayCluster.Tests.Packets;

public sealed class Ipv6TcpPacketBuilderTests
{
    internal static readonly Gen<Ipv6Address> GenAddress = Gen.Select(Gen.ULong, Gen.ULong, (u, l) => new Ipv6Address(u, l));

    [Fact]
    public void The_checksum_of_a_minimal_syn_between_loopbacks_matches_the_hand_computed_value()
    {
        // ::1 -> ::1, ports 1 -> 2, seq 0, ack 0, data offset 5, SYN, window 0. Pseudo-header words: 1 + 1 + 0x0014
        // (length) + 6 (next header); TCP words: 1 + 2 + 0x5002. Sum 0x5021, checksum ~0x5021 = 0xafde.
        var spec = new TcpSegmentSpec { SourcePort = 1, DestinationPort = 2, Flags = TcpFlags.Syn, Window = 0, Ttl = 64 };
        var packet = new byte[60];
        Assert.Equal(60, Ipv6TcpPacketBuilder.Write(spec, Ipv6Address.Loopback, Ipv6Address.Loopback, [], packet));
        Assert.Equal((ushort)0xAFDE, BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(40 + 16)));
        Assert.Equal((ushort)0xAFDE, Checksum.Tcp(Ipv6Address.Loopback, Ipv6Address.Loopback, packet.AsSpan(40)));
        Assert.True(Checksum.VerifyTcp(Ipv6Address.Loopback, Ipv6Address.Loopback, packet.AsSpan(40)));
        Assert.Equal(Convert.FromHexString("60000000001406400000000000000000000000000000000100000000000000000000000000000001"), packet[..40]);
    }

    [Fact]
    public void A_packet_built_by_packetdotnet_is_byte_for_byte_what_we_build()
    {
        Gen.Select(GenAddress, GenAddress, Gen.Byte.Array[0, 1500], Gen.Select(Gen.UShort, Gen.UShort, Gen.UInt, Gen.UInt, Gen.UShort, Gen.Byte[1, 255]))
            .Sample((source, destination, payload, tcpFields) =>
            {
                var (sourcePort, destinationPort, sequence, acknowledgment, window, hopLimit) = tcpFields;
                var tcp = new PacketDotNet.TcpPacket(sourcePort, destinationPort)
                {
                    SequenceNumber = sequence,
                    AcknowledgmentNumber = acknowledgment,
                    WindowSize = window,
                    Acknowledgment = true,
                    Push = true,
                    PayloadData = payload,
                };
                var ip = new PacketDotNet.IPv6Packet(source.ToIPAddress(), destination.ToIPAddress()) { HopLimit = hopLimit, PayloadPacket = tcp };
                ip.UpdateCalculatedValues();
                tcp.UpdateTcpChecksum();
                var expected = ip.Bytes;

                var spec = new TcpSegmentSpec
                {
                    SourcePort = sourcePort, DestinationPort = destinationPort, Sequence = sequence, Acknowledgment = acknowledgment,
                    Window = window, Flags = TcpFlags.Ack | TcpFlags.Psh, Ttl = hopLimit,
                };
                var built = new byte[Ipv6TcpPacketBuilder.GetPacketLength(spec, payload.Length)];
                Assert.Equal(built.Length, Ipv6TcpPacketBuilder.Write(spec, source, destination, payload, built));
                Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(built));
            }, iter: 300);
    }

    [Fact]
    public void Built_packets_carry_the_checksum_an_independent_computation_gives_and_parse_back_to_the_spec()
    {
        Gen.Select(TcpPacketBuilderTests.GenSpec, GenAddress, GenAddress, Gen.Byte.Array[0, 2000], Gen.UInt[0, 0xF_FFFF])
            .Sample((spec, source, destination, payload, flowLabel) =>
            {
                var packet = new byte[Ipv6TcpPacketBuilder.GetPacketLength(spec, payload.Length) + 7];
                var length = Ipv6TcpPacketBuilder.Write(spec, source, destination, payload, packet, flowLabel);
                Assert.Equal(packet.Length - 7, length);
                var segment = packet.AsSpan(40, length - 40);
                Assert.Equal(Ipv6Frames.ReferenceTcpChecksum(source, destination, segment), BinaryPrimitives.ReadUInt16BigEndian(segment[16..]));
                Assert.True(Checksum.VerifyTcp(source, destination, segment));

                Assert.Equal(ParseResult.Ok, PacketParser.TryParseIpv6Ip(packet.AsSpan(0, length), out var p));
                Assert.Equal(source, p.SourceAddress);
                Assert.Equal(destination, p.DestinationAddress);
                Assert.Equal(spec.SourcePort, p.SourcePort);
                Assert.Equal(spec.DestinationPort, p.DestinationPort);
                Assert.Equal(spec.Sequence, p.Sequence);
                Assert.Equal(spec.Acknowledgment, p.Acknowledgment);
                Assert.Equal(spec.Flags, p.Flags);
                Assert.Equal(spec.Window, p.Window);
                Assert.Equal(spec.Ttl, p.HopLimit);
                Assert.Equal(spec.Tos, p.TrafficClass);
                Assert.Equal(flowLabel, p.FlowLabel);
                Assert.Equal(spec.Mss ?? 0, p.Options.Mss);
                Assert.Equal(spec.WindowScale.HasValue, p.Options.HasWindowScale);
                Assert.Equal(spec.SackPermitted, p.Options.SackPermitted);
                Assert.Equal(spec.Timestamp?.TsVal ?? 0, p.Options.TsVal);
                Assert.Equal(spec.Timestamp?.TsEcr ?? 0, p.Options.TsEcr);
                Assert.Equal(payload, packet.AsSpan(p.PayloadOffset, p.PayloadLength).ToArray());

                var reference = PacketDotNet.Packet.ParsePacket(PacketDotNet.LinkLayers.Raw, packet.AsSpan(0, length).ToArray()).Extract<PacketDotNet.TcpPacket>();
                Assert.True(reference.ValidTcpChecksum);
            }, iter: 2_000);
    }

    [Fact]
    public void A_changed_byte_fails_verification()
    {
        var packet = Ipv6Frames.Build(Ipv6Frames.Data, 101);
        Assert.True(Checksum.VerifyTcp(Ipv6Frames.Client, Ipv6Frames.Server, packet.AsSpan(40)));
        for (var i = 40; i < packet.Length; i++)
        {
            packet[i] ^= 0x10;
            Assert.False(Checksum.VerifyTcp(Ipv6Frames.Client, Ipv6Frames.Server, packet.AsSpan(40)), $"byte {i}");
            packet[i] ^= 0x10;
        }

        // The pseudo-header counts: another address (here the client's last group + 1) fails too.
        Assert.False(Checksum.VerifyTcp(Ipv6Address.Parse("2001:db8:1::3"), Ipv6Frames.Server, packet.AsSpan(40)));
    }

    [Fact]
    public void An_incremental_address_update_equals_a_full_recompute()
    {
        Gen.Select(TcpPacketBuilderTests.GenSpec, GenAddress, GenAddress, Gen.Byte.Array[0, 300]).Sample((spec, oldSource, newSource, payload) =>
        {
            var packet = new byte[Ipv6TcpPacketBuilder.GetPacketLength(spec, payload.Length)];
            Ipv6TcpPacketBuilder.Write(spec, oldSource, Ipv6Frames.Server, payload, packet);
            var updated = Checksum.Update(BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(56)), oldSource, newSource);
            var full = Checksum.Tcp(newSource, Ipv6Frames.Server, packet.AsSpan(40));

            // One's complement has two zeros; both verify. Compare them as the same number.
            Assert.Equal(full == 0xFFFF ? 0 : full, updated == 0xFFFF ? 0 : updated);
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(56), updated);
            Assert.True(Checksum.VerifyTcp(newSource, Ipv6Frames.Server, packet.AsSpan(40)));
        }, iter: 5_000);
    }

    [Fact]
    public void Sizing_mistakes_are_exceptions()
    {
        var spec = Ipv6Frames.Data;
        Assert.Equal(40 + 32 + 10, Ipv6TcpPacketBuilder.GetPacketLength(spec, 10));
        Assert.Throws<ArgumentException>(() => Ipv6TcpPacketBuilder.Write(spec, Ipv6Frames.Client, Ipv6Frames.Server, new byte[10], new byte[81]));
        var tooLarge = new byte[ushort.MaxValue - 32 + 1];
        Assert.Throws<ArgumentException>(() => Ipv6TcpPacketBuilder.Write(spec, Ipv6Frames.Client, Ipv6Frames.Server, tooLarge, new byte[Ipv6TcpPacketBuilder.MaxPacketLength + 10]));
        var largest = new byte[ushort.MaxValue - 32];
        var buffer = new byte[Ipv6TcpPacketBuilder.MaxPacketLength];
        Assert.Equal(Ipv6TcpPacketBuilder.MaxPacketLength, Ipv6TcpPacketBuilder.Write(spec, Ipv6Frames.Client, Ipv6Frames.Server, largest, buffer));
        Assert.Equal(ParseResult.Ok, PacketParser.TryParseIpv6Ip(buffer, out var p));
        Assert.Equal(largest.Length, p.PayloadLength);
    }
}
