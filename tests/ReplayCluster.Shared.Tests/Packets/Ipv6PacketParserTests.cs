using System.Buffers.Binary;
using System.Net.Sockets;
using CsCheck;
using ReplayCluster.Packets;
using Xunit;

namespace ReplayCluster.Tests.Packets;

public sealed class Ipv6PacketParserTests
{
    [Fact]
    public void A_built_syn_parses_with_every_field_and_option()
    {
        var ip = Ipv6Frames.Build(Ipv6Frames.Syn with { Ttl = 57 }, 0, flowLabel: 0xABCDE);
        Assert.Equal(ParseResult.Ok, PacketParser.TryParseIpv6Ip(ip, out var p));

        Assert.Equal(0, p.IpOffset);
        Assert.Equal(40, p.IpHeaderLength);
        Assert.Equal(0, p.ExtensionHeadersLength);
        Assert.Equal(40 + 40, p.TotalLength);
        Assert.Equal(40, p.TcpOffset);
        Assert.Equal(40, p.TcpHeaderLength);
        Assert.Equal(0, p.PayloadLength);
        Assert.False(p.Truncated);
        Assert.Equal(Ipv6Frames.Client, p.SourceAddress);
        Assert.Equal(Ipv6Frames.Server, p.DestinationAddress);
        Assert.Equal((ushort)40_000, p.SourcePort);
        Assert.Equal((ushort)80, p.DestinationPort);
        Assert.Equal(1000u, p.Sequence);
        Assert.Equal(TcpFlags.Syn, p.Flags);
        Assert.Equal((ushort)64_800, p.Window);
        Assert.Equal((byte)57, p.HopLimit);
        Assert.Equal((byte)0x28, p.TrafficClass);
        Assert.Equal(0xABCDEu, p.FlowLabel);
        Assert.Equal(1u, p.SequenceLength);
        Assert.Equal((ushort)1440, p.Options.Mss);
        Assert.True(p.Options.SackPermitted);
        Assert.Equal(7u, p.Options.TsVal);
        Assert.Equal((byte)7, p.Options.WindowScale);
        Assert.Equal("[2001:db8:1::2]:40000 > [2001:db8:2::3]:80 [Syn] seq 1000 ack 0 win 64800 len 0 " + p.Options, p.ToString());
    }

    [Fact]
    public void Every_link_framing_finds_the_ipv6_header()
    {
        var ip = Ipv6Frames.Build(Ipv6Frames.Data, 100);
        (byte[] Frame, LinkType Link, int Offset)[] framings =
        [
            (ip, LinkType.Raw, 0),
            (ip, LinkType.Ipv6, 0),
            (Ipv6Frames.Ethernet(ip), LinkType.Ethernet, 14),
            (Ipv6Frames.Ethernet(ip, PacketParser.EtherTypeIpv6, PacketParser.EtherTypeVlan), LinkType.Ethernet, 18),
            (Ipv6Frames.Ethernet(ip, PacketParser.EtherTypeIpv6, PacketParser.EtherTypeQinQ, PacketParser.EtherTypeVlan), LinkType.Ethernet, 22),
            (Ipv6Frames.Sll(ip), LinkType.LinuxSll, 16),
            (Ipv6Frames.Sll2(ip), LinkType.LinuxSll2, 20),
        ];
        foreach (var (frame, link, offset) in framings)
        {
            Assert.Equal(ParseResult.Ok, PacketParser.TryParseIpv6(frame, link, out var p));
            Assert.Equal(offset, p.IpOffset);
            Assert.Equal(100, p.PayloadLength);
            Assert.Equal(Ipv6Frames.Payload(100), frame.AsSpan(p.PayloadOffset, p.PayloadLength).ToArray());

            Assert.Equal(ParseResult.Ok, PacketParser.TryParseDualStack(frame, link, out var v4, out var v6, out var family));
            Assert.Equal(AddressFamily.InterNetworkV6, family);
            Assert.Equal(default, v4);
            Assert.Equal(p, v6);
        }
    }

    [Fact]
    public void Ipv4_only_callers_see_ipv6_frames_as_before()
    {
        var ip = Ipv6Frames.Build(Ipv6Frames.Data, 10);
        Assert.Equal(ParseResult.UnsupportedEtherType, PacketParser.TryParse(Ipv6Frames.Ethernet(ip), LinkType.Ethernet, out _));
        Assert.Equal(ParseResult.UnsupportedEtherType, PacketParser.TryParse(Ipv6Frames.Sll(ip), LinkType.LinuxSll, out _));
        Assert.Equal(ParseResult.UnsupportedEtherType, PacketParser.TryParse(Ipv6Frames.Sll2(ip), LinkType.LinuxSll2, out _));
        Assert.Equal(ParseResult.NotIpv4, PacketParser.TryParse(ip, LinkType.Raw, out _));
        Assert.Equal(ParseResult.UnsupportedLinkType, PacketParser.TryParse(ip, LinkType.Ipv6, out _));
        Assert.False(LinkTypes.IsSupported(LinkType.Ipv6));

        // And the IPv6 parse refuses IPv4 frames by name.
        Assert.Equal(ParseResult.UnsupportedEtherType, PacketParser.TryParseIpv6(RealFrames.EthernetSyn, LinkType.Ethernet, out _));
        Assert.Equal(ParseResult.NotIpv6, PacketParser.TryParseIpv6(RealFrames.EthernetSyn.AsSpan(14), LinkType.Raw, out _));
        Assert.Equal(ParseResult.NotIpv6, PacketParser.TryParseIpv6(RealFrames.EthernetSyn.AsSpan(14), LinkType.Ipv6, out _));
    }

    [Fact]
    public void The_dual_stack_parse_gives_ipv4_frames_exactly_what_the_ipv4_parse_gives()
    {
        foreach (var (frame, link) in new[] { (RealFrames.EthernetSyn, LinkType.Ethernet), (RealFrames.EthernetData, LinkType.Ethernet), (RealFrames.SllSyn, LinkType.LinuxSll) })
        {
            Assert.Equal(ParseResult.Ok, PacketParser.TryParse(frame, link, out var expected));
            Assert.Equal(ParseResult.Ok, PacketParser.TryParseDualStack(frame, link, out var v4, out var v6, out var family));
            Assert.Equal(AddressFamily.InterNetwork, family);
            Assert.Equal(expected, v4);
            Assert.Equal(default, v6);
        }
    }

    [Fact]
    public void The_captures_parse_gives_either_family_in_one_shape()
    {
        Assert.Equal(ParseResult.Ok, PacketParser.TryParse(RealFrames.EthernetData, LinkType.Ethernet, out var v4));
        Assert.Equal(ParseResult.Ok, PacketParser.TryParseAny(RealFrames.EthernetData, LinkType.Ethernet, out var any4));
        Assert.Equal((NetAddress)v4.SourceAddress, any4.SourceAddress);
        Assert.Equal((NetAddress)v4.DestinationAddress, any4.DestinationAddress);
        Assert.Equal((v4.SourcePort, v4.DestinationPort, v4.Sequence, v4.Acknowledgment, v4.Flags, v4.Window, v4.PayloadOffset, v4.PayloadLength, v4.Truncated),
            (any4.SourcePort, any4.DestinationPort, any4.Sequence, any4.Acknowledgment, any4.Flags, any4.Window, any4.PayloadOffset, any4.PayloadLength, any4.Truncated));

        var frame6 = Ipv6Frames.Ethernet(Ipv6Frames.Build(Ipv6Frames.Data, 100));
        Assert.Equal(ParseResult.Ok, PacketParser.TryParseIpv6(frame6, LinkType.Ethernet, out var v6));
        Assert.Equal(ParseResult.Ok, PacketParser.TryParseAny(frame6, LinkType.Ethernet, out var any6));
        Assert.Equal((NetAddress)Ipv6Frames.Client, any6.SourceAddress);
        Assert.Equal((NetAddress)Ipv6Frames.Server, any6.DestinationAddress);
        Assert.Equal((v6.SourcePort, v6.DestinationPort, v6.Sequence, v6.Flags, v6.Options.TsVal, 14 + 40 + v6.TcpHeaderLength, 100),
            (any6.SourcePort, any6.DestinationPort, any6.Sequence, any6.Flags, any6.Options.TsVal, any6.PayloadOffset, any6.PayloadLength));

        // A refusal keeps its reason and leaves nothing behind.
        Assert.Equal(ParseResult.UnsupportedLinkType, PacketParser.TryParseAny(frame6, (LinkType)999, out var none));
        Assert.Equal(default(NetAddress), none.SourceAddress);
    }

    [Fact]
    public void Hop_by_hop_routing_destination_options_and_atomic_fragment_headers_are_walked()
    {
        var ip = Ipv6Frames.Build(Ipv6Frames.Data, 33);
        var chains = new (string Name, (byte, byte[])[] Headers)[]
        {
            ("hop-by-hop", [Ipv6Frames.Options(Ipv6Frames.HopByHop)]),
            ("hop-by-hop 24 bytes", [Ipv6Frames.Options(Ipv6Frames.HopByHop, 3)]),
            ("destination options", [Ipv6Frames.Options(Ipv6Frames.DestinationOptions)]),
            ("routing, segments left 0", [Ipv6Frames.RoutingHeader(0)]),
            ("atomic fragment", [Ipv6Frames.FragmentHeader(0, more: false)]),
            ("all, in RFC 8200 order", [
                Ipv6Frames.Options(Ipv6Frames.HopByHop), Ipv6Frames.Options(Ipv6Frames.DestinationOptions, 2), Ipv6Frames.RoutingHeader(0),
                Ipv6Frames.FragmentHeader(0, more: false), Ipv6Frames.Options(Ipv6Frames.DestinationOptions)]),
        };
        foreach (var (name, headers) in chains)
        {
            var packet = Ipv6Frames.WithExtensionHeaders(ip, headers);
            var extra = headers.Sum(h => h.Item2.Length);
            Assert.True(ParseResult.Ok == PacketParser.TryParseIpv6Ip(packet, out var p), name);
            Assert.Equal(40 + extra, p.IpHeaderLength);
            Assert.Equal(extra, p.ExtensionHeadersLength);
            Assert.Equal(packet.Length, p.TotalLength);
            Assert.Equal(33, p.PayloadLength);
            Assert.Equal(1001u, p.Sequence);
            Assert.Equal(9u, p.Options.TsEcr);
            Assert.Equal(Ipv6Frames.Payload(33), packet.AsSpan(p.PayloadOffset).ToArray());
            Assert.True(Checksum.VerifyTcp(p.SourceAddress, p.DestinationAddress, packet.AsSpan(p.TcpOffset)), name);
        }
    }

    [Theory]
    [InlineData("first fragment (M set)", 0, true, ParseResult.Ipv6Fragment)]
    [InlineData("middle fragment", 185, true, ParseResult.Ipv6Fragment)]
    [InlineData("last fragment", 185, false, ParseResult.Ipv6Fragment)]
    [InlineData("atomic fragment", 0, false, ParseResult.Ok)]
    public void Fragments_are_rejected_and_counted_except_atomic_ones(string name, ushort offset, bool more, ParseResult expected)
    {
        var counters = new ParseRejectCounters();
        var packet = Ipv6Frames.WithExtensionHeaders(Ipv6Frames.Build(Ipv6Frames.Data, 20), Ipv6Frames.Options(Ipv6Frames.HopByHop), Ipv6Frames.FragmentHeader(offset, more));
        var result = PacketParser.TryParseIpv6(Ipv6Frames.Ethernet(packet), LinkType.Ethernet, out var p);
        counters.Count(result);
        Assert.True(expected == result, name);
        Assert.Equal(1, counters.Get(expected));
        if (expected != ParseResult.Ok)
        {
            Assert.Equal(default, p);
        }
    }

    [Fact]
    public void Ipsec_no_next_header_routing_in_transit_and_other_protocols_have_their_own_reasons()
    {
        var ip = Ipv6Frames.Build(Ipv6Frames.Data, 20);
        Assert.Equal(ParseResult.IpsecEncapsulatedPayload, PacketParser.TryParseIpv6Ip(WithNextHeader(ip, 50), out _));
        Assert.Equal(ParseResult.IpsecAuthenticationHeader, PacketParser.TryParseIpv6Ip(WithNextHeader(ip, 51), out _));
        Assert.Equal(ParseResult.Ipv6NoNextHeader, PacketParser.TryParseIpv6Ip(WithNextHeader(ip, 59), out _));
        Assert.Equal(ParseResult.NotTcp, PacketParser.TryParseIpv6Ip(WithNextHeader(ip, 17), out _)); // UDP
        Assert.Equal(ParseResult.NotTcp, PacketParser.TryParseIpv6Ip(WithNextHeader(ip, 58), out _)); // ICMPv6
        Assert.Equal(ParseResult.NotTcp, PacketParser.TryParseIpv6Ip(WithNextHeader(ip, 135), out _)); // Mobility

        // The same reasons behind extension headers: AH after hop-by-hop, ESP after destination options.
        var afterHopByHop = Ipv6Frames.WithExtensionHeaders(ip, Ipv6Frames.Options(Ipv6Frames.HopByHop));
        afterHopByHop[40] = 51;
        Assert.Equal(ParseResult.IpsecAuthenticationHeader, PacketParser.TryParseIpv6Ip(afterHopByHop, out _));
        var afterOptions = Ipv6Frames.WithExtensionHeaders(ip, Ipv6Frames.Options(Ipv6Frames.DestinationOptions));
        afterOptions[40] = 50;
        Assert.Equal(ParseResult.IpsecEncapsulatedPayload, PacketParser.TryParseIpv6Ip(afterOptions, out _));
        afterOptions[40] = 59;
        Assert.Equal(ParseResult.Ipv6NoNextHeader, PacketParser.TryParseIpv6Ip(afterOptions, out _));

        Assert.Equal(ParseResult.Ipv6RoutingInTransit, PacketParser.TryParseIpv6Ip(Ipv6Frames.WithExtensionHeaders(ip, Ipv6Frames.RoutingHeader(1)), out _));
    }

    [Fact]
    public void Random_extension_header_chains_get_the_result_the_rfc_8200_rules_predict()
    {
        // Kinds: 0 hop-by-hop, 1 destination options (8-24 bytes), 2 routing with no segments left, 3 routing in
        // transit, 4 atomic fragment, 5 real fragment. Then what follows the chain: TCP, AH, ESP, no next header, UDP.
        byte[] terminals = [6, 51, 50, 59, 17];
        Gen.Select(Gen.Int[0, 5].Array[0, 11], Gen.Int[0, 4], Gen.Int[1, 3]).Sample((kinds, terminal, optionWords) =>
        {
            var headers = kinds.Select(kind => kind switch
            {
                0 => Ipv6Frames.Options(Ipv6Frames.HopByHop),
                1 => Ipv6Frames.Options(Ipv6Frames.DestinationOptions, optionWords),
                2 => Ipv6Frames.RoutingHeader(0),
                3 => Ipv6Frames.RoutingHeader(2),
                4 => Ipv6Frames.FragmentHeader(0, more: false),
                _ => Ipv6Frames.FragmentHeader(8, more: true),
            }).ToArray();
            var packet = Ipv6Frames.WithExtensionHeaders(Ipv6Frames.Build(Ipv6Frames.Data, 20), headers);
            var lastNextHeader = headers.Length == 0 ? 6 : 40 + headers[..^1].Sum(h => h.Body.Length);
            packet[lastNextHeader] = terminals[terminal];

            var expected = ParseResult.Ok;
            for (var h = 0; h < kinds.Length && expected == ParseResult.Ok; h++)
            {
                expected = h == PacketParser.MaxIpv6ExtensionHeaders || (kinds[h] == 0 && h != 0) ? ParseResult.BadIpv6ExtensionHeader
                    : kinds[h] == 3 ? ParseResult.Ipv6RoutingInTransit
                    : kinds[h] == 5 ? ParseResult.Ipv6Fragment
                    : ParseResult.Ok;
            }

            if (expected == ParseResult.Ok)
            {
                expected = terminal switch
                {
                    0 => ParseResult.Ok,
                    1 => ParseResult.IpsecAuthenticationHeader,
                    2 => ParseResult.IpsecEncapsulatedPayload,
                    3 => ParseResult.Ipv6NoNextHeader,
                    _ => ParseResult.NotTcp,
                };
            }

            var result = PacketParser.TryParseIpv6Ip(packet, out var p);
            Assert.True(expected == result, $"kinds [{string.Join(",", kinds)}] then {terminals[terminal]}: expected {expected}, got {result}");
            if (result == ParseResult.Ok)
            {
                Assert.Equal(40 + headers.Sum(h => h.Body.Length), p.IpHeaderLength);
                Assert.Equal(Ipv6Frames.Payload(20), packet.AsSpan(p.PayloadOffset).ToArray());
            }
        }, iter: 5_000);
    }

    [Fact]
    public void Malformed_chains_and_lengths_are_rejected_by_name()
    {
        var ip = Ipv6Frames.Build(Ipv6Frames.Data, 20);

        // Hop-by-hop anywhere but first.
        var late = Ipv6Frames.WithExtensionHeaders(ip, Ipv6Frames.Options(Ipv6Frames.DestinationOptions), Ipv6Frames.Options(Ipv6Frames.HopByHop));
        Assert.Equal(ParseResult.BadIpv6ExtensionHeader, PacketParser.TryParseIpv6Ip(late, out _));

        // Eight headers are walked, a ninth is not.
        var eight = Enumerable.Repeat(Ipv6Frames.Options(Ipv6Frames.DestinationOptions), PacketParser.MaxIpv6ExtensionHeaders).ToArray();
        Assert.Equal(ParseResult.Ok, PacketParser.TryParseIpv6Ip(Ipv6Frames.WithExtensionHeaders(ip, eight), out _));
        Assert.Equal(ParseResult.BadIpv6ExtensionHeader, PacketParser.TryParseIpv6Ip(Ipv6Frames.WithExtensionHeaders(ip, [.. eight, Ipv6Frames.Options(Ipv6Frames.DestinationOptions)]), out _));

        // A header whose length runs past the payload length (but not past the captured bytes).
        var overlong = Ipv6Frames.WithExtensionHeaders(ip, Ipv6Frames.Options(Ipv6Frames.DestinationOptions));
        overlong[41] = 200;
        Assert.Equal(ParseResult.BadIpv6ExtensionHeader, PacketParser.TryParseIpv6Ip(overlong, out _));

        // Payload length: 0 (jumbogram), too small for TCP, too small for the headers plus TCP, larger than the TCP header allows.
        Assert.Equal(ParseResult.BadIpv6PayloadLength, PacketParser.TryParseIpv6Ip(WithPayloadLength(ip, 0), out _));
        Assert.Equal(ParseResult.BadIpv6PayloadLength, PacketParser.TryParseIpv6Ip(WithPayloadLength(ip, 19), out _));
        var withOptions = Ipv6Frames.WithExtensionHeaders(ip, Ipv6Frames.Options(Ipv6Frames.DestinationOptions));
        Assert.Equal(ParseResult.BadIpv6PayloadLength, PacketParser.TryParseIpv6Ip(WithPayloadLength(withOptions, 8 + 19), out _));
        var wideOptions = Ipv6Frames.WithExtensionHeaders(ip, Ipv6Frames.Options(Ipv6Frames.DestinationOptions, 3));
        Assert.Equal(ParseResult.BadIpv6ExtensionHeader, PacketParser.TryParseIpv6Ip(WithPayloadLength(wideOptions, 20), out _));
        Assert.Equal(ParseResult.BadTcpHeaderLength, PacketParser.TryParseIpv6Ip(WithPayloadLength(ip, 20 + 12 - 1), out _));

        // TCP data offset below 5, and a bad option length.
        var badOffset = ip.ToArray();
        badOffset[40 + 12] = 0x40;
        Assert.Equal(ParseResult.BadTcpHeaderLength, PacketParser.TryParseIpv6Ip(badOffset, out _));
        var badOption = ip.ToArray();
        badOption[40 + 20] = 8;
        badOption[40 + 21] = 1; // timestamp option of length 1
        Assert.Equal(ParseResult.BadTcpOptions, PacketParser.TryParseIpv6Ip(badOption, out _));

        // Version nibble and unknown link types.
        var v5 = ip.ToArray();
        v5[0] = 0x50;
        Assert.Equal(ParseResult.NotIpv6, PacketParser.TryParseIpv6Ip(v5, out _));
        Assert.Equal(ParseResult.NotIpv4, PacketParser.TryParseDualStack(v5, LinkType.Raw, out _, out _, out var family));
        Assert.Equal(AddressFamily.InterNetwork, family);
        Assert.Equal(ParseResult.UnsupportedLinkType, PacketParser.TryParseIpv6(ip, (LinkType)999, out _));
        Assert.Equal(ParseResult.UnsupportedLinkType, PacketParser.TryParseDualStack(ip, (LinkType)999, out _, out _, out family));
        Assert.Equal(AddressFamily.Unspecified, family);
        Assert.Equal(ParseResult.UnsupportedEtherType, PacketParser.TryParseIpv6(Ipv6Frames.Ethernet(ip, 0x0806), LinkType.Ethernet, out _));
        Assert.Equal(ParseResult.UnsupportedEtherType, PacketParser.TryParseIpv6(
            Ipv6Frames.Ethernet(ip, PacketParser.EtherTypeIpv6, PacketParser.EtherTypeVlan, PacketParser.EtherTypeVlan, PacketParser.EtherTypeVlan), LinkType.Ethernet, out _));
    }

    [Fact]
    public void Ethernet_padding_and_snaplen_cuts_of_the_payload_are_told_apart()
    {
        var ip = Ipv6Frames.Build(Ipv6Frames.Data with { Timestamp = null }, 0); // 60 bytes
        var padded = Ipv6Frames.Ethernet(ip).Concat(new byte[10]).ToArray();
        Assert.Equal(ParseResult.Ok, PacketParser.TryParseIpv6(padded, LinkType.Ethernet, out var p));
        Assert.Equal(0, p.PayloadLength);
        Assert.False(p.Truncated);

        var data = Ipv6Frames.Ethernet(Ipv6Frames.Build(Ipv6Frames.Data, 1000));
        Assert.Equal(ParseResult.Ok, PacketParser.TryParseIpv6(data.AsSpan(0, 256), LinkType.Ethernet, out var cut));
        Assert.True(cut.Truncated);
        Assert.Equal(1000, cut.PayloadLength);
        Assert.Equal(256 - cut.PayloadOffset, cut.CapturedPayloadLength);
    }

    [Fact]
    public void A_frame_cut_at_every_byte_is_a_counted_rejection_inside_the_headers_and_truncated_after()
    {
        // Every header kind, and a chain whose last header before TCP is longer than 8 bytes.
        var everyKind = Ipv6Frames.WithExtensionHeaders(Ipv6Frames.Build(Ipv6Frames.Syn, 50),
            Ipv6Frames.Options(Ipv6Frames.HopByHop), Ipv6Frames.Options(Ipv6Frames.DestinationOptions, 2), Ipv6Frames.RoutingHeader(0),
            Ipv6Frames.FragmentHeader(0, more: false), Ipv6Frames.Options(Ipv6Frames.DestinationOptions));
        var longLast = Ipv6Frames.WithExtensionHeaders(Ipv6Frames.Build(Ipv6Frames.Syn, 50), Ipv6Frames.Options(Ipv6Frames.HopByHop, 3));
        foreach (var (frame, link) in new[]
        {
            (everyKind, LinkType.Raw), (Ipv6Frames.Ethernet(everyKind, PacketParser.EtherTypeIpv6, PacketParser.EtherTypeVlan), LinkType.Ethernet),
            (Ipv6Frames.Sll2(everyKind), LinkType.LinuxSll2), (longLast, LinkType.Ipv6), (Ipv6Frames.Sll(longLast), LinkType.LinuxSll),
        })
        {
            Assert.Equal(ParseResult.Ok, PacketParser.TryParseIpv6(frame, link, out var whole));
            var headersEnd = whole.PayloadOffset;
            var counters = new ParseRejectCounters();
            for (var length = 0; length <= frame.Length; length++)
            {
                // An exact-size copy, so a read past the cut would throw instead of reading the rest of the array.
                var cut = frame.AsSpan(0, length).ToArray();
                var result = PacketParser.TryParseIpv6(cut, link, out var p);
                var dual = PacketParser.TryParseDualStack(cut, link, out _, out var p6, out _);
                counters.Count(result);
                Assert.Equal(result, dual);
                Assert.Equal(p, p6);
                if (length < headersEnd)
                {
                    Assert.True(result is ParseResult.TooShortForLink or ParseResult.TooShortForIp or ParseResult.TooShortForTcp, $"{link} cut at {length}: {result}");
                    Assert.Equal(default, p);
                }
                else
                {
                    Assert.Equal(ParseResult.Ok, result);
                    Assert.Equal(length < frame.Length, p.Truncated);
                    Assert.Equal(length - headersEnd, p.CapturedPayloadLength);
                }
            }

            Assert.Equal(frame.Length + 1, counters.Total);
            Assert.Equal(headersEnd, counters.Rejected);
            Assert.Equal(whole.IpHeaderLength, counters.Get(ParseResult.TooShortForIp));
            Assert.Equal(20 + 20, counters.Get(ParseResult.TooShortForTcp)); // 40-byte TCP header of a SYN with options
        }
    }

    private static byte[] WithNextHeader(byte[] ip, byte nextHeader)
    {
        var copy = ip.ToArray();
        copy[6] = nextHeader;
        return copy;
    }

    private static byte[] WithPayloadLength(byte[] ip, ushort payloadLength)
    {
        var copy = ip.ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(copy.AsSpan(4), payloadLength);
        return copy;
    }
}
