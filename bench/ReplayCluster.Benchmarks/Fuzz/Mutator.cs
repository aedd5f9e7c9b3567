using System.Buffers.Binary;

namespace ReplayCluster.Benchmarks.Fuzz;

/// <summary>A length or type field of a seed input that mutations aim at (most decoder bugs hide behind one).</summary>
/// <param name="Offset">Byte offset of the field in the seed.</param>
/// <param name="Width">1, 2 or 4 bytes.</param>
/// <param name="BigEndian">Network order (packet and pcap headers) or little-endian (our wire format).</param>
/// <param name="Mask">For a 1-byte field, the bits that belong to it (0xF0 for the TCP data offset, 0x0F for the IHL).</param>
internal readonly record struct FuzzField(int Offset, int Width, bool BigEndian, byte Mask = 0xFF);

/// <summary>
/// Deterministic mutations of a seed input, AFL "havoc" style: one to four stacked edits, each a bit flip, a byte set
/// to an edge value (0, 0xff, 0x7f, 0x80), a truncation, an extension, an edit of a known length field, random bytes,
/// an edge-valued 16/32-bit word at a random offset, or a duplicated chunk. Same seed, same sequence of inputs, so a
/// crash found with <c>--seed N</c> reproduces.
/// </summary>
internal sealed class Mutator(int seed)
{
    /// <summary>Most bytes a mutation adds to a seed (extensions and duplicated chunks).</summary>
    public const int MaxGrowth = 512;

    private static readonly byte[] EdgeBytes = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE];

    // Random is the point here: reproducible pseudo-random inputs, nothing secret.
#pragma warning disable CA5394
    private readonly Random _random = new(seed);

    public Random Random => _random;

    /// <summary>
    /// Writes a mutation of <paramref name="seedBytes"/> into <paramref name="buffer"/> (at least seed length +
    /// <see cref="MaxGrowth"/> long) and returns its length. <paramref name="fields"/> are the seed's length and type
    /// fields; edits aimed at them are one in four.
    /// </summary>
    public int Mutate(ReadOnlySpan<byte> seedBytes, Span<byte> buffer, IReadOnlyList<FuzzField> fields)
    {
        seedBytes.CopyTo(buffer);
        var length = seedBytes.Length;
        var edits = 1 + _random.Next(4);
        for (var e = 0; e < edits; e++)
        {
            length = _random.Next(16) switch
            {
                0 or 1 or 2 => FlipBit(buffer, length),
                3 or 4 => SetEdgeByte(buffer, length),
                5 => Truncate(length),
                6 => Extend(buffer, length, seedBytes.Length + MaxGrowth),
                7 or 8 or 9 or 10 when fields.Count > 0 => EditField(buffer, length, fields[_random.Next(fields.Count)]),
                11 or 12 => RandomBytes(buffer, length),
                13 or 14 => EdgeWord(buffer, length),
                _ => Duplicate(buffer, length, seedBytes.Length + MaxGrowth),
            };
        }

        return length;
    }

    /// <summary>An edge value for a field of <paramref name="width"/> bytes whose seed value is <paramref name="current"/>.</summary>
    public long EdgeValue(int width, long current, int inputLength)
    {
        var max = width switch { 1 => 0xFFL, 2 => 0xFFFFL, _ => 0xFFFF_FFFFL };
        var value = _random.Next(12) switch
        {
            0 => 0,
            1 => max,
            2 => max >> 1,
            3 => (max >> 1) + 1,
            4 => current + 1,
            5 => current - 1,
            6 => current + _random.Next(1, 64),
            7 => current - _random.Next(1, 64),
            8 => inputLength + _random.Next(-8, 9),
            9 => current * 2,
            10 => 1L << _random.Next(width * 8),
            _ => _random.NextInt64(max + 1),
        };
        return value & max;
    }

    private int FlipBit(Span<byte> buffer, int length)
    {
        if (length > 0)
        {
            buffer[_random.Next(length)] ^= (byte)(1 << _random.Next(8));
        }

        return length;
    }

    private int SetEdgeByte(Span<byte> buffer, int length)
    {
        if (length > 0)
        {
            buffer[_random.Next(length)] = EdgeBytes[_random.Next(EdgeBytes.Length)];
        }

        return length;
    }

    private int Truncate(int length) => length == 0 ? 0 : _random.Next(length);

    private int Extend(Span<byte> buffer, int length, int limit)
    {
        var added = Math.Min(_random.Next(1, 65), limit - length);
        var tail = buffer.Slice(length, Math.Max(added, 0));
        if (_random.Next(2) == 0)
        {
            _random.NextBytes(tail);
        }
        else
        {
            tail.Fill(EdgeBytes[_random.Next(EdgeBytes.Length)]);
        }

        return length + tail.Length;
    }

    private int EditField(Span<byte> buffer, int length, FuzzField field)
    {
        if (field.Offset + field.Width > length)
        {
            return FlipBit(buffer, length);
        }

        var slot = buffer.Slice(field.Offset, field.Width);
        switch (field.Width)
        {
            case 1:
                var shift = System.Numerics.BitOperations.TrailingZeroCount(field.Mask);
                var current = (slot[0] & field.Mask) >> shift;
                var value = (byte)((EdgeValue(1, current, length) << shift) & field.Mask);
                slot[0] = (byte)((slot[0] & ~field.Mask) | value);
                break;
            case 2:
                var current16 = field.BigEndian ? BinaryPrimitives.ReadUInt16BigEndian(slot) : BinaryPrimitives.ReadUInt16LittleEndian(slot);
                var value16 = (ushort)EdgeValue(2, current16, length);
                if (field.BigEndian)
                {
                    BinaryPrimitives.WriteUInt16BigEndian(slot, value16);
                }
                else
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(slot, value16);
                }

                break;
            default:
                var current32 = field.BigEndian ? BinaryPrimitives.ReadUInt32BigEndian(slot) : BinaryPrimitives.ReadUInt32LittleEndian(slot);
                var value32 = (uint)EdgeValue(4, current32, length);
                if (field.BigEndian)
                {
                    BinaryPrimitives.WriteUInt32BigEndian(slot, value32);
                }
                else
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(slot, value32);
                }

                break;
        }

        return length;
    }

    private int RandomBytes(Span<byte> buffer, int length)
    {
        if (length > 0)
        {
            var start = _random.Next(length);
            _random.NextBytes(buffer.Slice(start, Math.Min(1 + _random.Next(8), length - start)));
        }

        return length;
    }

    private int EdgeWord(Span<byte> buffer, int length)
    {
        var width = _random.Next(2) == 0 ? 2 : 4;
        if (length < width)
        {
            return SetEdgeByte(buffer, length);
        }

        var slot = buffer.Slice(_random.Next(length - width + 1), width);
        var value = (uint)EdgeValue(width, 0, length);
        var bigEndian = _random.Next(2) == 0;
        if (width == 2)
        {
            if (bigEndian)
            {
                BinaryPrimitives.WriteUInt16BigEndian(slot, (ushort)value);
            }
            else
            {
                BinaryPrimitives.WriteUInt16LittleEndian(slot, (ushort)value);
            }
        }
        else if (bigEndian)
        {
            BinaryPrimitives.WriteUInt32BigEndian(slot, value);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(slot, value);
        }

        return length;
    }

    private int Duplicate(Span<byte> buffer, int length, int limit)
    {
        if (length == 0)
        {
            return 0;
        }

        var from = _random.Next(length);
        var count = Math.Min(Math.Min(1 + _random.Next(32), length - from), limit - length);
        if (count <= 0)
        {
            return length;
        }

        // Insert a copy of [from, from+count) at a random point, shifting the rest right.
        var at = _random.Next(length + 1);
        Span<byte> chunk = stackalloc byte[32];
        buffer.Slice(from, count).CopyTo(chunk);
        buffer[at..length].CopyTo(buffer[(at + count)..]);
        chunk[..count].CopyTo(buffer[at..]);
        return length + count;
    }
#pragma warning restore CA5394
}
