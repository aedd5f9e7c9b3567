using System.Buffers.Binary;
using ReplayCluster.Packets;

namespace ReplayCluster.Tests.Packets;

/// <summary>IPv6 test frames: packets from <see cref="Ipv6TcpPacketBuilder"/>, extension headers spliced in, link framings.</summary>
internal static class Ipv6Frames
{
    public const byte HopByHop = 0;
    public const byte Routing = 43;
    public const byte Fragment = 44;
    public const byte DestinationOptions = 60;

    public static readonly Ipv6Address Client = Ipv6Address.Parse("2001:db8:1::2");
    public static readonly Ipv6Address Server = Ipv6Address.Parse("2001:db8:2::3");

    public static readonly TcpSegmentSpec Syn = new()
    {
        SourcePort = 40_000, DestinationPort = 80, Sequence = 1000, Flags = TcpFlags.Syn, Window = 64_800, Mss = 1440,
        SackPermitted = true, Timestamp = new TcpTimestamp(7, 0), WindowScale = 7, Tos = 0x28,
    };

    public static readonly TcpSegmentSpec Data = new()
    {
        SourcePort = 40_000, DestinationPort = 80, Sequence = 1001, Acknowledgment = 5001, Flags = TcpFlags.Ack | TcpFlags.Psh,
        Window = 502, Timestamp = new TcpTimestamp(8, 9),
    };

    public static byte[] Build(in TcpSegmentSpec spec, int payloadLength, Ipv6Address? source = null, Ipv6Address? destination = null, uint flowLabel = 0)
    {
        var packet = new byte[Ipv6TcpPacketBuilder.GetPacketLength(spec, payloadLength)];
        Ipv6TcpPacketBuilder.Write(spec, source ?? Client, destination ?? Server, Payload(payloadLength), packet, flowLabel);
        return packet;
    }

    public static byte[] Payload(int length)
    {
        var payload = new byte[length];
        for (var i = 0; i < payload.Length; i++)
        {
            payload[i] = (byte)('a' + (i % 26));
        }

        return payload;
    }

    /// <summary>An 8-byte hop-by-hop or destination options header body: one PadN option of 4 bytes.</summary>
    public static (byte Type, byte[] Body) Options(byte type, int words = 1)
    {
        var body = new byte[words * 8];
        body[1] = (byte)(words - 1);
        body[2] = 1; // PadN
        body[3] = (byte)(body.Length - 4);
        return (type, body);
    }

    /// <summary>A type 2 routing header (RFC 6275: one home address) with the given segments left.</summary>
    public static (byte Type, byte[] Body) RoutingHeader(byte segmentsLeft)
    {
        var body = new byte[24];
        body[1] = 2; // (24 / 8) - 1
        body[2] = 2; // routing type 2
        body[3] = segmentsLeft;
        Ipv6Address.Parse("2001:db8:ffff::1").Write(body.AsSpan(8));
        return (Routing, body);
    }

    /// <summary>A fragment header: offset in 8-byte units, the M flag, an identification.</summary>
    public static (byte Type, byte[] Body) FragmentHeader(ushort offset, bool more)
    {
        var body = new byte[8];
        BinaryPrimitives.WriteUInt16BigEndian(body.AsSpan(2), (ushort)((offset << 3) | (more ? 1 : 0)));
        BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(4), 0xC0FFEE);
        return (Fragment, body);
    }

    /// <summary>
    /// The IPv6 packet with <paramref name="headers"/> inserted between the fixed header and what followed it, the
    /// next-header chain and payload length fixed up. The TCP checksum stays valid: it does not cover them.
    /// </summary>
    public static byte[] WithExtensionHeaders(byte[] ipv6Packet, params (byte Type, byte[] Body)[] headers)
    {
        var extra = headers.Sum(h => h.Body.Length);
        var result = new byte[ipv6Packet.Length + extra];
        ipv6Packet.AsSpan(0, 40).CopyTo(result);
        var inner = ipv6Packet[6];
        var offset = 40;
        for (var i = 0; i < headers.Length; i++)
        {
            headers[i].Body.CopyTo(result.AsSpan(offset));
            result[offset] = i + 1 < headers.Length ? headers[i + 1].Type : inner; // this header's next header
            offset += headers[i].Body.Length;
        }

        if (headers.Length > 0)
        {
            result[6] = headers[0].Type;
        }

        ipv6Packet.AsSpan(40).CopyTo(result.AsSpan(offset));
        BinaryPrimitives.WriteUInt16BigEndian(result.AsSpan(4), (ushort)(result.Length - 40));
        return result;
    }

    public static byte[] Ethernet(byte[] ip, ushort etherType = PacketParser.EtherTypeIpv6, params ushort[] tags)
    {
        var header = 14 + (tags.Length * 4);
        var frame = new byte[Math.Max(header + ip.Length, 60)];
        var offset = 12;
        foreach (var tag in tags)
        {
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(offset), tag);
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(offset + 2), 100);
            offset += 4;
        }

        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(offset), etherType);
        ip.CopyTo(frame.AsSpan(header));
        return frame;
    }

    public static byte[] Sll(byte[] ip)
    {
        var frame = new byte[16 + ip.Length];
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(14), PacketParser.EtherTypeIpv6);
        ip.CopyTo(frame.AsSpan(16));
        return frame;
    }

    public static byte[] Sll2(byte[] ip)
    {
        var frame = new byte[20 + ip.Length];
        BinaryPrimitives.WriteUInt16BigEndian(frame, PacketParser.EtherTypeIpv6);
        ip.CopyTo(frame.AsSpan(20));
        return frame;
    }

    /// <summary>
    /// The TCP checksum computed the slow, obvious way, independently of <see cref="Checksum"/>: the RFC 8200 section
    /// 8.1 pseudo-header laid out as bytes, then every 16-bit big-endian word added with end-around carry.
    /// </summary>
    public static ushort ReferenceTcpChecksum(Ipv6Address source, Ipv6Address destination, ReadOnlySpan<byte> segment)
    {
        var bytes = new byte[40 + segment.Length + 1];
        source.Write(bytes);
        destination.Write(bytes.AsSpan(16));
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(32), (uint)segment.Length);
        bytes[39] = 6;
        segment.CopyTo(bytes.AsSpan(40));
        bytes[40 + 16] = 0;
        bytes[40 + 17] = 0;
        long sum = 0;
        for (var i = 0; i + 1 < bytes.Length; i += 2)
        {
            sum += (bytes[i] << 8) | bytes[i + 1];
            sum = (sum & 0xFFFF) + (sum >> 16);
        }

        return (ushort)~sum;
    }
}
