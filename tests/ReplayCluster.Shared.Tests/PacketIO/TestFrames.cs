using System.Buffers.Binary;
using System.Net;

namespace ReplayCluster.Tests.PacketIO;

/// <summary>Hand-built frames with correct checksums, so these tests need no packet codec.</summary>
internal static class TestFrames
{
    public const int EthernetHeaderLength = 14;

    /// <summary>An IPv4/UDP packet (no link header) with valid IP and UDP checksums.</summary>
    public static byte[] Ipv4Udp(IPAddress source, IPAddress destination, ushort sourcePort, ushort destinationPort, ReadOnlySpan<byte> payload)
    {
        var packet = new byte[20 + 8 + payload.Length];
        WriteIpv4Udp(packet, source, destination, sourcePort, destinationPort, payload);
        return packet;
    }

    /// <summary>An Ethernet II frame carrying <see cref="Ipv4Udp"/>.</summary>
    public static byte[] EthernetIpv4Udp(IPAddress source, IPAddress destination, ushort sourcePort, ushort destinationPort, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[EthernetHeaderLength + 20 + 8 + payload.Length];
        ReadOnlySpan<byte> dstMac = [0x02, 0, 0, 0, 0, 0x02];
        ReadOnlySpan<byte> srcMac = [0x02, 0, 0, 0, 0, 0x01];
        dstMac.CopyTo(frame);
        srcMac.CopyTo(frame.AsSpan(6));
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x0800);
        WriteIpv4Udp(frame.AsSpan(EthernetHeaderLength), source, destination, sourcePort, destinationPort, payload);
        return frame;
    }

    private static void WriteIpv4Udp(Span<byte> packet, IPAddress source, IPAddress destination, ushort sourcePort, ushort destinationPort, ReadOnlySpan<byte> payload)
    {
        var ip = packet[..20];
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(20 + 8 + payload.Length));
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], 0x1234);
        ip[8] = 64;
        ip[9] = 17;
        source.TryWriteBytes(ip[12..], out _);
        destination.TryWriteBytes(ip[16..], out _);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], Checksum(ip, 0));

        var udp = packet[20..];
        BinaryPrimitives.WriteUInt16BigEndian(udp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)(8 + payload.Length));
        payload.CopyTo(udp[8..]);

        // Pseudo header: source, destination, zero, protocol, UDP length.
        uint pseudo = 0;
        for (var i = 12; i < 20; i += 2)
        {
            pseudo += BinaryPrimitives.ReadUInt16BigEndian(ip[i..]);
        }

        pseudo += 17u + (uint)(8 + payload.Length);
        var sum = Checksum(udp[..(8 + payload.Length)], pseudo);
        BinaryPrimitives.WriteUInt16BigEndian(udp[6..], sum == 0 ? (ushort)0xFFFF : sum);
    }

    /// <summary>RFC 1071 Internet checksum over <paramref name="data"/> plus a pre-summed value.</summary>
    public static ushort Checksum(ReadOnlySpan<byte> data, uint initial)
    {
        var sum = initial;
        var i = 0;
        for (; i + 1 < data.Length; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        }

        if (i < data.Length)
        {
            sum += (uint)(data[i] << 8);
        }

        while ((sum >> 16) != 0)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }

        return (ushort)~sum;
    }
}
