using System.Buffers.Binary;

namespace ReplayCluster.Tests.PacketIO;

/// <summary>Hand-crafts pcapng blocks in either byte order, independently of the reader under test.</summary>
internal sealed class PcapNgBuilder(bool bigEndian)
{
    private readonly MemoryStream _output = new();

    public long Length => _output.Length;

    public PcapNgBuilder SectionHeader()
    {
        var body = new byte[16];
        U32(body, 0, 0x1A2B3C4D);
        U16(body, 4, 1);
        U16(body, 6, 0);
        I64(body, 8, -1);
        return Block(0x0A0D0D0A, body);
    }

    /// <summary>Interface description; <paramref name="tsResolution"/> null means no if_tsresol option (microseconds).</summary>
    public PcapNgBuilder Interface(int linkType, uint snapLength, byte? tsResolution, long? tsOffsetSeconds = null)
    {
        var body = new List<byte>();
        var fixedPart = new byte[8];
        U16(fixedPart, 0, (ushort)linkType);
        U32(fixedPart, 4, snapLength);
        body.AddRange(fixedPart);
        body.AddRange(Option(2, "eth0"u8.ToArray())); // if_name, to exercise option skipping
        if (tsResolution is { } resolution)
        {
            body.AddRange(Option(9, [resolution]));
        }

        if (tsOffsetSeconds is { } offset)
        {
            var value = new byte[8];
            I64(value, 0, offset);
            body.AddRange(Option(14, value));
        }

        body.AddRange(new byte[4]); // opt_endofopt
        return Block(1, [.. body]);
    }

    public PcapNgBuilder EnhancedPacket(uint interfaceId, ulong timestampUnits, ReadOnlySpan<byte> data, uint originalLength)
    {
        var body = new byte[20 + Pad(data.Length) + 8];
        U32(body, 0, interfaceId);
        U32(body, 4, (uint)(timestampUnits >> 32));
        U32(body, 8, (uint)timestampUnits);
        U32(body, 12, (uint)data.Length);
        U32(body, 16, originalLength);
        data.CopyTo(body.AsSpan(20));
        Option(1, "hi"u8.ToArray()).CopyTo(body, 20 + Pad(data.Length)); // opt_comment, then no end marker (allowed)
        return Block(6, body);
    }

    public PcapNgBuilder ObsoletePacket(ushort interfaceId, ulong timestampUnits, ReadOnlySpan<byte> data, uint originalLength)
    {
        var body = new byte[20 + Pad(data.Length)];
        U16(body, 0, interfaceId);
        U32(body, 4, (uint)(timestampUnits >> 32));
        U32(body, 8, (uint)timestampUnits);
        U32(body, 12, (uint)data.Length);
        U32(body, 16, originalLength);
        data.CopyTo(body.AsSpan(20));
        return Block(2, body);
    }

    public PcapNgBuilder SimplePacket(ReadOnlySpan<byte> data)
    {
        var body = new byte[4 + Pad(data.Length)];
        U32(body, 0, (uint)data.Length);
        data.CopyTo(body.AsSpan(4));
        return Block(3, body);
    }

    public PcapNgBuilder Unknown(uint type, int bodyLength) => Block(type, new byte[bodyLength]);

    public byte[] ToArray() => _output.ToArray();

    private PcapNgBuilder Block(uint type, byte[] body)
    {
        var total = 12 + body.Length;
        var header = new byte[8];
        U32(header, 0, type);
        U32(header, 4, (uint)total);
        _output.Write(header);
        _output.Write(body);
        var trailer = new byte[4];
        U32(trailer, 0, (uint)total);
        _output.Write(trailer);
        return this;
    }

    private byte[] Option(ushort code, byte[] value)
    {
        var option = new byte[4 + Pad(value.Length)];
        U16(option, 0, code);
        U16(option, 2, (ushort)value.Length);
        value.CopyTo(option, 4);
        return option;
    }

    private static int Pad(int length) => (length + 3) & ~3;

    private void U16(byte[] target, int offset, ushort value)
    {
        if (bigEndian)
        {
            BinaryPrimitives.WriteUInt16BigEndian(target.AsSpan(offset), value);
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(target.AsSpan(offset), value);
        }
    }

    private void U32(byte[] target, int offset, uint value)
    {
        if (bigEndian)
        {
            BinaryPrimitives.WriteUInt32BigEndian(target.AsSpan(offset), value);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(target.AsSpan(offset), value);
        }
    }

    private void I64(byte[] target, int offset, long value)
    {
        if (bigEndian)
        {
            BinaryPrimitives.WriteInt64BigEndian(target.AsSpan(offset), value);
        }
        else
        {
            BinaryPrimitives.WriteInt64LittleEndian(target.AsSpan(offset), value);
        }
    }
}
