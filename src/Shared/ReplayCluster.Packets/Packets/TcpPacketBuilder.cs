using System.Buffers.Binary;

namespace ReplayCluster.Packets;

/// <summary>
/// Writes complete IPv4+TCP packets (no link header, ready for a raw socket with IP_HDRINCL) into caller-provided
/// buffers, with both checksums computed. No allocation.
/// </summary>
public static class TcpPacketBuilder
{
    /// <summary>Largest IPv4 datagram: the total length field is 16 bits.</summary>
    public const int MaxPacketLength = ushort.MaxValue;

    private const int IpHeaderLength = 20;
    private const int TcpFixedHeaderLength = 20;

    /// <summary>Bytes <see cref="Write"/> needs for this spec and payload length.</summary>
    public static int GetPacketLength(in TcpSegmentSpec spec, int payloadLength) => spec.HeadersLength + payloadLength;

    /// <summary>
    /// Writes the packet for <paramref name="spec"/> carrying <paramref name="payload"/> at the start of
    /// <paramref name="destination"/> and returns its length. Options are written in the order Linux uses
    /// (MSS; SACK-permitted and timestamp sharing a word, or NOP-padded; NOP + window scale), so every option area
    /// is a multiple of 4 bytes without trailing padding.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// <paramref name="destination"/> is shorter than <see cref="GetPacketLength"/>, or the packet would exceed
    /// 65535 bytes. Both are sizing mistakes by the caller, not conditions of the traffic, hence exceptions.
    /// </exception>
    public static int Write(in TcpSegmentSpec spec, ReadOnlySpan<byte> payload, Span<byte> destination)
    {
        var optionsLength = spec.OptionsLength;
        var tcpHeaderLength = TcpFixedHeaderLength + optionsLength;
        var totalLength = IpHeaderLength + tcpHeaderLength + payload.Length;
        if (totalLength > MaxPacketLength)
        {
            throw new ArgumentException($"A {payload.Length}-byte payload makes a {totalLength}-byte packet; IPv4 allows {MaxPacketLength}.", nameof(payload));
        }

        if (destination.Length < totalLength)
        {
            throw new ArgumentException($"The destination holds {destination.Length} bytes; the packet needs {totalLength}.", nameof(destination));
        }

        if (!spec.SourceAddress.IsIpv4 || !spec.DestinationAddress.IsIpv4)
        {
            throw new ArgumentException($"{spec.SourceAddress} > {spec.DestinationAddress} is no IPv4 segment; IPv6 ones are written by {nameof(Ipv6TcpPacketBuilder)}.", nameof(spec));
        }

        var (source, target) = (spec.SourceAddress.Ipv4, spec.DestinationAddress.Ipv4);
        var packet = destination[..totalLength];
        var ip = packet[..IpHeaderLength];
        ip[0] = 0x45; // Version 4, IHL 5: we never write IP options.
        ip[1] = spec.Tos;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)totalLength);
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], spec.IpId);
        BinaryPrimitives.WriteUInt16BigEndian(ip[6..], spec.DontFragment ? (ushort)0x4000 : (ushort)0);
        ip[8] = spec.Ttl;
        ip[9] = 6;
        BinaryPrimitives.WriteUInt32BigEndian(ip[12..], source);
        BinaryPrimitives.WriteUInt32BigEndian(ip[16..], target);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], Checksum.IpHeader(ip));

        var tcp = packet[IpHeaderLength..];
        WriteSegment(spec, tcp, tcpHeaderLength, payload);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], Checksum.Tcp(source, target, tcp));
        return totalLength;
    }

    /// <summary>
    /// Writes the TCP header (checksum zero: the caller fills it over its own pseudo-header), options and payload of
    /// <paramref name="spec"/> into <paramref name="tcp"/>; shared by the IPv4 and IPv6 builders.
    /// </summary>
    internal static void WriteSegment(in TcpSegmentSpec spec, Span<byte> tcp, int tcpHeaderLength, ReadOnlySpan<byte> payload)
    {
        BinaryPrimitives.WriteUInt16BigEndian(tcp, spec.SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], spec.DestinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], spec.Sequence);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], spec.Acknowledgment);
        tcp[12] = (byte)(tcpHeaderLength / 4 << 4);
        tcp[13] = (byte)spec.Flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], spec.Window);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[16..], 0); // Checksum (the caller fills it) and urgent pointer.
        WriteOptions(spec, tcp[TcpFixedHeaderLength..tcpHeaderLength]);
        payload.CopyTo(tcp[tcpHeaderLength..]);
    }

    // Mirrors Linux tcp_options_write(): the same bytes a Linux peer would send, so replayed handshakes look native.
    internal static void WriteOptions(in TcpSegmentSpec spec, Span<byte> area)
    {
        var i = 0;
        if (spec.Mss is { } mss)
        {
            area[i] = 2;
            area[i + 1] = 4;
            BinaryPrimitives.WriteUInt16BigEndian(area[(i + 2)..], mss);
            i += 4;
        }

        if (spec.Timestamp is { } ts)
        {
            if (spec.SackPermitted)
            {
                area[i] = 4;
                area[i + 1] = 2;
            }
            else
            {
                area[i] = 1;
                area[i + 1] = 1;
            }

            area[i + 2] = 8;
            area[i + 3] = 10;
            BinaryPrimitives.WriteUInt32BigEndian(area[(i + 4)..], ts.TsVal);
            BinaryPrimitives.WriteUInt32BigEndian(area[(i + 8)..], ts.TsEcr);
            i += 12;
        }
        else if (spec.SackPermitted)
        {
            area[i] = 1;
            area[i + 1] = 1;
            area[i + 2] = 4;
            area[i + 3] = 2;
            i += 4;
        }

        if (spec.WindowScale is { } ws)
        {
            area[i] = 1;
            area[i + 1] = 3;
            area[i + 2] = 3;
            area[i + 3] = ws;
        }
    }
}
