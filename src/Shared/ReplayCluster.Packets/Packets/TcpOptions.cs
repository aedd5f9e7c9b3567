using System.Buffers.Binary;

namespace ReplayCluster.Packets;

/// <summary>
/// The TCP options a replayer cares about, decoded from a TCP header. A plain value: no reference to the packet
/// buffer is kept. Options we do not interpret (MD5, TFO, MPTCP, ...) are skipped by their length byte.
/// </summary>
public readonly struct TcpOptions : IEquatable<TcpOptions>
{
    /// <summary>Largest TCP option area: data offset 15 words minus the 20-byte fixed header.</summary>
    public const int MaxLength = 40;

    private const byte HasWindowScaleBit = 1;
    private const byte SackPermittedBit = 2;
    private const byte HasTimestampBit = 4;

    private readonly byte _bits;

    private TcpOptions(ushort mss, byte windowScale, byte bits, uint tsVal, uint tsEcr, byte sackBlockCount, byte timestampOffset)
    {
        Mss = mss;
        WindowScale = windowScale;
        _bits = bits;
        TsVal = tsVal;
        TsEcr = tsEcr;
        SackBlockCount = sackBlockCount;
        TimestampOffset = timestampOffset;
    }

    /// <summary>Maximum segment size from the MSS option; 0 when absent (an MSS of 0 is meaningless on the wire).</summary>
    public ushort Mss { get; }

    /// <summary>True when an MSS option with a non-zero value was present.</summary>
    public bool HasMss => Mss != 0;

    /// <summary>Window scale shift count as sent (not clamped to 14); meaningful only when <see cref="HasWindowScale"/>.</summary>
    public byte WindowScale { get; }

    public bool HasWindowScale => (_bits & HasWindowScaleBit) != 0;

    public bool SackPermitted => (_bits & SackPermittedBit) != 0;

    public bool HasTimestamp => (_bits & HasTimestampBit) != 0;

    /// <summary>TSval of the timestamp option; meaningful only when <see cref="HasTimestamp"/>.</summary>
    public uint TsVal { get; }

    /// <summary>TSecr of the timestamp option; meaningful only when <see cref="HasTimestamp"/>.</summary>
    public uint TsEcr { get; }

    /// <summary>Number of SACK blocks (0-4) carried by a SACK option.</summary>
    public byte SackBlockCount { get; }

    /// <summary>
    /// Offset of the timestamp option's kind byte from the start of the TCP header (20-38), or 0 when absent. Kept so
    /// a replayer can rewrite TSecr in place without parsing the options again.
    /// </summary>
    public byte TimestampOffset { get; }

    /// <summary>
    /// Parses a TCP option area (the bytes between the 20-byte fixed header and the data offset). Returns false for
    /// malformed areas: a length byte missing or below 2, an option running past the end of the area, or a known
    /// kind with the wrong length (MSS 4, window scale 3, SACK-permitted 2, timestamp 10, SACK 2+8n with n at least 1).
    /// Parsing stops at End-of-Option-List. Never reads outside <paramref name="area"/>.
    /// </summary>
    /// <remarks>
    /// Termination: every step advances by 1 (NOP) or by the option's length, which is checked to be at least 2 before
    /// advancing, so the loop runs at most <c>area.Length</c> times whatever the bytes are.
    /// </remarks>
    public static bool TryParse(ReadOnlySpan<byte> area, out TcpOptions options)
    {
        ushort mss = 0;
        byte windowScale = 0, bits = 0, sackBlocks = 0, timestampOffset = 0;
        uint tsVal = 0, tsEcr = 0;
        var i = 0;
        while (i < area.Length)
        {
            var kind = area[i];
            if (kind == 0)
            {
                break; // End of option list: the rest is padding.
            }

            if (kind == 1)
            {
                i++; // NOP: one byte, used for alignment.
                continue;
            }

            if (i + 1 >= area.Length)
            {
                options = default;
                return false; // A kind byte with no room for its length byte.
            }

            int length = area[i + 1];
            if (length < 2 || length > area.Length - i)
            {
                options = default;
                return false;
            }

            var body = area.Slice(i + 2, length - 2);
            switch (kind)
            {
                case 2:
                    if (length != 4)
                    {
                        options = default;
                        return false;
                    }

                    mss = BinaryPrimitives.ReadUInt16BigEndian(body);
                    break;
                case 3:
                    if (length != 3)
                    {
                        options = default;
                        return false;
                    }

                    windowScale = body[0];
                    bits |= HasWindowScaleBit;
                    break;
                case 4:
                    if (length != 2)
                    {
                        options = default;
                        return false;
                    }

                    bits |= SackPermittedBit;
                    break;
                case 5:
                    if (length < 10 || (length - 2) % 8 != 0)
                    {
                        options = default;
                        return false;
                    }

                    sackBlocks = (byte)((length - 2) / 8);
                    break;
                case 8:
                    if (length != 10)
                    {
                        options = default;
                        return false;
                    }

                    tsVal = BinaryPrimitives.ReadUInt32BigEndian(body);
                    tsEcr = BinaryPrimitives.ReadUInt32BigEndian(body[4..]);
                    bits |= HasTimestampBit;
                    timestampOffset = (byte)(20 + i);
                    break;
                default:
                    break; // Unknown to us but well formed: skip by its length.
            }

            i += length;
        }

        options = new TcpOptions(mss, windowScale, bits, tsVal, tsEcr, sackBlocks, timestampOffset);
        return true;
    }

    public bool Equals(TcpOptions other) => Mss == other.Mss && WindowScale == other.WindowScale && _bits == other._bits
        && TsVal == other.TsVal && TsEcr == other.TsEcr && SackBlockCount == other.SackBlockCount
        && TimestampOffset == other.TimestampOffset;

    public override bool Equals(object? obj) => obj is TcpOptions other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(Mss, WindowScale, _bits, TsVal, TsEcr, SackBlockCount, TimestampOffset);

    public static bool operator ==(TcpOptions left, TcpOptions right) => left.Equals(right);

    public static bool operator !=(TcpOptions left, TcpOptions right) => !left.Equals(right);

    public override string ToString() =>
        $"mss={Mss} ws={(HasWindowScale ? WindowScale : -1)} sackOK={SackPermitted} ts={(HasTimestamp ? $"{TsVal}/{TsEcr}" : "-")} sack={SackBlockCount}";
}
