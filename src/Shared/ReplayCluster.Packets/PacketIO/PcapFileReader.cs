using System.Buffers;
using System.Buffers.Binary;

namespace ReplayCluster.PacketIO;

/// <summary>
/// One packet read by <see cref="PcapFileReader.ReadNext(out PcapRecord)"/>.
/// </summary>
/// <remarks>
/// <see cref="Data"/> points into the reader's reusable buffer: it is valid until the next call to
/// <see cref="PcapFileReader.ReadNext(out PcapRecord)"/> or until the reader is disposed.
/// </remarks>
public readonly ref struct PcapRecord
{
    internal PcapRecord(ReadOnlySpan<byte> data, FrameInfo info, long fileOffset)
    {
        Data = data;
        Info = info;
        FileOffset = fileOffset;
    }

    /// <summary>The captured bytes of the frame.</summary>
    public ReadOnlySpan<byte> Data { get; }

    /// <summary>Timestamp, lengths and link type of the frame.</summary>
    public FrameInfo Info { get; }

    /// <summary>Byte offset in the file of the record header (classic pcap) or block (pcapng) holding the frame.</summary>
    public long FileOffset { get; }
}

/// <summary>
/// Reads classic pcap (both byte orders, microsecond and nanosecond magic) and pcapng files
/// (SHB in both byte orders, IDB with <c>if_tsresol</c>/<c>if_tsoffset</c>, EPB, SPB, OPB; other blocks are skipped).
/// </summary>
/// <remarks>
/// <para>
/// Our own parser rather than libpcap's offline mode: libpcap reports "truncated dump file" without an offset,
/// and an operator replaying a 20 GB capture needs to know where it broke. Frames are handed out as spans into
/// one pooled read buffer, so steady-state reading allocates nothing per packet.
/// </para>
/// <para>
/// A truncated or corrupt file raises <see cref="PcapFormatException"/> naming the path and the byte offset of the
/// offending record or block, after every complete packet before it has been delivered.
/// Not thread-safe: one reader per thread.
/// </para>
/// </remarks>
public sealed class PcapFileReader : IDisposable
{
    /// <summary>Records larger than this are treated as corruption even when the file's snaplen is smaller (libpcap uses the same 256 KiB ceiling).</summary>
    public const int SaneRecordCap = 262144;

    // A corrupt snaplen/block length must not make us allocate gigabytes: nothing legitimate is larger than this.
    private const int AbsoluteRecordCap = 64 * 1024 * 1024;

    // 1 MiB holds ~700 full-size Ethernet frames: one read(2) per several hundred packets keeps syscall cost
    // far below the per-packet parse cost (~1-2M packets/s target).
    private const int InitialBufferSize = 1024 * 1024;

    private const uint MagicMicro = 0xa1b2c3d4;
    private const uint MagicNano = 0xa1b23c4d;
    private const uint MagicMicroSwapped = 0xd4c3b2a1;
    private const uint MagicNanoSwapped = 0x4d3cb2a1;
    private const uint BlockSectionHeader = 0x0A0D0D0A;
    private const uint BlockInterfaceDescription = 0x00000001;
    private const uint BlockObsoletePacket = 0x00000002;
    private const uint BlockSimplePacket = 0x00000003;
    private const uint BlockEnhancedPacket = 0x00000006;
    private const uint ByteOrderMagic = 0x1A2B3C4D;
    private const int ClassicFileHeaderLength = 24;
    private const int ClassicRecordHeaderLength = 16;

    private readonly FileStream _stream;
    private readonly bool _isPcapNg;
    private byte[] _buffer;
    private int _start;
    private int _end;
    private long _bufferFileOffset;
    private bool _bigEndian;
    private bool _disposed;

    // Classic pcap state.
    private int _classicLinkType;
    private int _classicRecordLimit;
    private long _classicFractionToNanos;

    // pcapng state: interfaces of the current section, indexed by interface id.
    private readonly List<InterfaceDescription> _interfaces = [];
    private int _firstLinkType = -1;

    private PcapFileReader(string path, FileStream stream, bool isPcapNg)
    {
        FilePath = path;
        _stream = stream;
        _isPcapNg = isPcapNg;
        _buffer = ArrayPool<byte>.Shared.Rent(InitialBufferSize);
    }

    /// <summary>Path the reader was opened with (used in error messages).</summary>
    public string FilePath { get; }

    /// <summary>True for pcapng, false for classic pcap.</summary>
    public bool IsPcapNg => _isPcapNg;

    /// <summary>
    /// Link type (LINKTYPE_ number) of the file (classic pcap) or of the first interface (pcapng);
    /// -1 for a pcapng file that declares no interface before its first packet.
    /// Frames of other pcapng interfaces carry their own link type in <see cref="FrameInfo.LinkType"/>.
    /// </summary>
    public int LinkType => _isPcapNg ? _firstLinkType : _classicLinkType;

    /// <summary>
    /// Opens a capture file and parses its file header (classic) or section header and first interface (pcapng).
    /// </summary>
    /// <exception cref="PcapFormatException">The file is not a capture file or its header is truncated.</exception>
    public static PcapFileReader Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);

        // bufferSize 0: FileStream's own buffer would only add a copy; we read straight into our pooled buffer.
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
        PcapFileReader? reader = null;
        try
        {
            Span<byte> magicBytes = stackalloc byte[4];
            var got = stream.ReadAtLeast(magicBytes, 4, throwOnEndOfStream: false);
            if (got < 4)
            {
                throw new PcapFormatException(path, 0, $"file is {got} bytes long, too short for a capture file header");
            }

            stream.Position = 0;
            var magic = BinaryPrimitives.ReadUInt32LittleEndian(magicBytes);
            reader = new PcapFileReader(path, stream, magic == BlockSectionHeader);
            if (reader._isPcapNg)
            {
                reader.ReadPcapNgPreamble();
            }
            else
            {
                reader.ReadClassicHeader(magic);
            }

            return reader;
        }
        catch
        {
            if (reader is null)
            {
                stream.Dispose();
            }
            else
            {
                reader.Dispose();
            }

            throw;
        }
    }

    /// <summary>
    /// Reads the next packet. Returns false at a clean end of file.
    /// </summary>
    /// <param name="record">The packet; its span is valid until the next call.</param>
    /// <exception cref="PcapFormatException">The next record or block is truncated or corrupt.</exception>
    public bool ReadNext(out PcapRecord record)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _isPcapNg ? ReadPcapNg(out record, preambleOnly: false) : ReadClassic(out record);
    }

    /// <summary>
    /// Delivers every remaining packet to <paramref name="handler"/> and returns how many were delivered.
    /// </summary>
    /// <exception cref="PcapFormatException">A record or block is truncated or corrupt; packets before it were delivered.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="ct"/> was cancelled (checked every 1024 packets).</exception>
    public long ReadAll(FrameHandler handler, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ct.ThrowIfCancellationRequested();
        long count = 0;
        while (ReadNext(out var record))
        {
            var info = record.Info;
            handler(record.Data, in info);
            count++;

            // Checking a token is cheap but not free; every 1024 packets is under a millisecond at our rates.
            if ((count & 1023) == 0)
            {
                ct.ThrowIfCancellationRequested();
            }
        }

        return count;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _stream.Dispose();
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
    }

    private long Position => _bufferFileOffset + _start;

    private int Buffered => _end - _start;

    private void ReadClassicHeader(uint magic)
    {
        (_bigEndian, _classicFractionToNanos) = magic switch
        {
            MagicMicro => (false, 1000L),
            MagicNano => (false, 1L),
            MagicMicroSwapped => (true, 1000L),
            MagicNanoSwapped => (true, 1L),
            _ => throw new PcapFormatException(FilePath, 0, $"bad magic 0x{magic:x8}: not a pcap (0xa1b2c3d4 / 0xa1b23c4d, either byte order) or pcapng file"),
        };

        if (!EnsureBuffered(ClassicFileHeaderLength))
        {
            throw new PcapFormatException(FilePath, 0, $"truncated pcap file header: {Buffered} of {ClassicFileHeaderLength} bytes");
        }

        var header = _buffer.AsSpan(_start, ClassicFileHeaderLength);
        var snapLength = U32(header[16..]);
        _classicLinkType = (int)(U32(header[20..]) & 0xFFFF); // upper bits carry FCS information, not the link type
        _classicRecordLimit = (int)Math.Min(Math.Max(snapLength, (uint)SaneRecordCap), AbsoluteRecordCap);
        _start += ClassicFileHeaderLength;
    }

    private bool ReadClassic(out PcapRecord record)
    {
        var offset = Position;
        if (!EnsureBuffered(ClassicRecordHeaderLength))
        {
            if (Buffered == 0)
            {
                record = default;
                return false;
            }

            throw new PcapFormatException(FilePath, offset, $"truncated record header: {Buffered} of {ClassicRecordHeaderLength} bytes before end of file");
        }

        var header = _buffer.AsSpan(_start, ClassicRecordHeaderLength);
        var seconds = U32(header);
        var fraction = U32(header[4..]);
        var captured = U32(header[8..]);
        var original = U32(header[12..]);
        if (captured > (uint)_classicRecordLimit)
        {
            throw new PcapFormatException(FilePath, offset, $"record captured length {captured} exceeds the limit of {_classicRecordLimit} bytes (max of snaplen and {SaneRecordCap})");
        }

        var total = ClassicRecordHeaderLength + (int)captured;
        if (!EnsureBuffered(total))
        {
            throw new PcapFormatException(FilePath, offset, $"truncated record: header announces {captured} bytes of packet data, file ends after {Buffered - ClassicRecordHeaderLength}");
        }

        var info = new FrameInfo(
            (seconds * 1_000_000_000L) + (fraction * _classicFractionToNanos),
            (int)captured,
            (int)Math.Min(original, int.MaxValue),
            _classicLinkType);
        record = new PcapRecord(_buffer.AsSpan(_start + ClassicRecordHeaderLength, (int)captured), info, offset);
        _start += total;
        return true;
    }

    private void ReadPcapNgPreamble()
    {
        // Consume the section header and everything up to and including the first interface description,
        // stopping before any packet block, so LinkType is known right after Open.
        ReadPcapNg(out _, preambleOnly: true);
    }

    private bool ReadPcapNg(out PcapRecord record, bool preambleOnly)
    {
        while (true)
        {
            var offset = Position;
            if (!EnsureBuffered(8))
            {
                if (Buffered == 0)
                {
                    record = default;
                    return false;
                }

                throw new PcapFormatException(FilePath, offset, $"truncated block header: {Buffered} of 8 bytes before end of file");
            }

            var type = U32(_buffer.AsSpan(_start));
            if (type == BlockSectionHeader)
            {
                // The byte order of a section is only known from its byte-order magic, after the (palindromic) type.
                if (!EnsureBuffered(12))
                {
                    throw new PcapFormatException(FilePath, offset, $"truncated section header block: {Buffered} of 12 bytes before end of file");
                }

                var byteOrder = BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(_start + 8));
                _bigEndian = byteOrder switch
                {
                    ByteOrderMagic => false,
                    0x4D3C2B1A => true,
                    _ => throw new PcapFormatException(FilePath, offset, $"bad pcapng byte-order magic 0x{byteOrder:x8}"),
                };
            }
            else if (offset == 0)
            {
                throw new PcapFormatException(FilePath, 0, "pcapng file does not start with a section header block");
            }

            var length = U32(_buffer.AsSpan(_start + 4));
            if (length < 12 || (length & 3) != 0 || length > AbsoluteRecordCap)
            {
                throw new PcapFormatException(FilePath, offset, $"bad block total length {length} (block type 0x{type:x8}): must be a multiple of 4 between 12 and {AbsoluteRecordCap}");
            }

            if (!EnsureBuffered((int)length))
            {
                throw new PcapFormatException(FilePath, offset, $"truncated block: block type 0x{type:x8} announces {length} bytes, file ends after {Buffered}");
            }

            var block = _buffer.AsSpan(_start, (int)length);
            var trailer = U32(block[^4..]);
            if (trailer != length)
            {
                throw new PcapFormatException(FilePath, offset, $"bad block total length: leading {length} and trailing {trailer} differ (block type 0x{type:x8})");
            }

            var isPacket = type is BlockEnhancedPacket or BlockSimplePacket or BlockObsoletePacket;
            if (preambleOnly && isPacket)
            {
                record = default;
                return false;
            }

            switch (type)
            {
                case BlockSectionHeader:
                    ParseSectionHeader(block, offset);
                    break;
                case BlockInterfaceDescription:
                    ParseInterfaceDescription(block, offset);
                    if (preambleOnly)
                    {
                        _start += (int)length;
                        record = default;
                        return false;
                    }

                    break;
                case BlockEnhancedPacket:
                    record = ParseEnhancedPacket(block, offset);
                    _start += (int)length;
                    return true;
                case BlockSimplePacket:
                    record = ParseSimplePacket(block, offset);
                    _start += (int)length;
                    return true;
                case BlockObsoletePacket:
                    record = ParseObsoletePacket(block, offset);
                    _start += (int)length;
                    return true;
                default:
                    // Name resolution, interface statistics, decryption secrets, custom blocks: not ours to interpret.
                    break;
            }

            _start += (int)length;
        }
    }

    private void ParseSectionHeader(ReadOnlySpan<byte> block, long offset)
    {
        if (block.Length < 28)
        {
            throw new PcapFormatException(FilePath, offset, $"section header block of {block.Length} bytes is shorter than the minimum 28");
        }

        var major = U16(block[12..]);
        if (major != 1)
        {
            throw new PcapFormatException(FilePath, offset, $"unsupported pcapng major version {major}");
        }

        // Interface ids are scoped to a section.
        _interfaces.Clear();
    }

    private void ParseInterfaceDescription(ReadOnlySpan<byte> block, long offset)
    {
        if (block.Length < 20)
        {
            throw new PcapFormatException(FilePath, offset, $"interface description block of {block.Length} bytes is shorter than the minimum 20");
        }

        var linkType = U16(block[8..]);
        var snapLength = U32(block[12..]);
        byte resolution = 6; // default: microseconds
        long offsetSeconds = 0;
        var options = block[16..^4];
        while (options.Length >= 4)
        {
            var code = U16(options);
            var optionLength = U16(options[2..]);
            if (code == 0)
            {
                break;
            }

            var padded = (optionLength + 3) & ~3;
            if (4 + padded > options.Length)
            {
                throw new PcapFormatException(FilePath, offset, $"interface description option {code} of length {optionLength} runs past the end of the block");
            }

            var value = options.Slice(4, optionLength);
            if (code == 9 && optionLength >= 1)
            {
                resolution = value[0];
            }
            else if (code == 14 && optionLength >= 8)
            {
                offsetSeconds = _bigEndian ? BinaryPrimitives.ReadInt64BigEndian(value) : BinaryPrimitives.ReadInt64LittleEndian(value);
            }

            options = options[(4 + padded)..];
        }

        var description = InterfaceDescription.Create(linkType, snapLength, resolution, offsetSeconds);
        if (description is null)
        {
            throw new PcapFormatException(FilePath, offset, $"unsupported if_tsresol 0x{resolution:x2}");
        }

        _interfaces.Add(description.Value);
        if (_firstLinkType < 0)
        {
            _firstLinkType = linkType;
        }
    }

    private PcapRecord ParseEnhancedPacket(ReadOnlySpan<byte> block, long offset)
    {
        if (block.Length < 32)
        {
            throw new PcapFormatException(FilePath, offset, $"enhanced packet block of {block.Length} bytes is shorter than the minimum 32");
        }

        var interfaceId = U32(block[8..]);
        var timestamp = ((ulong)U32(block[12..]) << 32) | U32(block[16..]);
        var captured = U32(block[20..]);
        var original = U32(block[24..]);
        if (captured > (uint)(block.Length - 32))
        {
            throw new PcapFormatException(FilePath, offset, $"enhanced packet block captured length {captured} exceeds its block length {block.Length}");
        }

        var description = Interface(interfaceId, offset);
        var info = new FrameInfo(description.ToNanos(timestamp), (int)captured, (int)Math.Min(original, int.MaxValue), description.LinkType);
        return new PcapRecord(block.Slice(28, (int)captured), info, offset);
    }

    private PcapRecord ParseObsoletePacket(ReadOnlySpan<byte> block, long offset)
    {
        if (block.Length < 32)
        {
            throw new PcapFormatException(FilePath, offset, $"packet block of {block.Length} bytes is shorter than the minimum 32");
        }

        var interfaceId = U16(block[8..]);
        var timestamp = ((ulong)U32(block[12..]) << 32) | U32(block[16..]);
        var captured = U32(block[20..]);
        var original = U32(block[24..]);
        if (captured > (uint)(block.Length - 32))
        {
            throw new PcapFormatException(FilePath, offset, $"packet block captured length {captured} exceeds its block length {block.Length}");
        }

        var description = Interface(interfaceId, offset);
        var info = new FrameInfo(description.ToNanos(timestamp), (int)captured, (int)Math.Min(original, int.MaxValue), description.LinkType);
        return new PcapRecord(block.Slice(28, (int)captured), info, offset);
    }

    private PcapRecord ParseSimplePacket(ReadOnlySpan<byte> block, long offset)
    {
        if (block.Length < 16)
        {
            throw new PcapFormatException(FilePath, offset, $"simple packet block of {block.Length} bytes is shorter than the minimum 16");
        }

        // A simple packet block belongs to interface 0 and has no timestamp; its captured length is implied.
        var description = Interface(0, offset);
        var original = U32(block[8..]);
        var captured = Math.Min(original, (uint)(block.Length - 16));
        if (description.SnapLength != 0)
        {
            captured = Math.Min(captured, description.SnapLength);
        }

        var info = new FrameInfo(0, (int)captured, (int)Math.Min(original, int.MaxValue), description.LinkType);
        return new PcapRecord(block.Slice(12, (int)captured), info, offset);
    }

    private InterfaceDescription Interface(uint interfaceId, long offset)
    {
        if (interfaceId >= (uint)_interfaces.Count)
        {
            throw new PcapFormatException(FilePath, offset, $"packet refers to interface {interfaceId}, but the section declares {_interfaces.Count} interface(s)");
        }

        return _interfaces[(int)interfaceId];
    }

    /// <summary>Makes at least <paramref name="count"/> bytes available from <see cref="_start"/>; false at end of file.</summary>
    private bool EnsureBuffered(int count)
    {
        if (_end - _start >= count)
        {
            return true;
        }

        var remaining = _end - _start;
        if (count > _buffer.Length)
        {
            // A length field claiming more than the file still holds is truncation or damage: say so without first
            // renting a buffer of the claimed size (up to AbsoluteRecordCap, 64 MiB, for a few hundred bytes of
            // file; found by bench/fuzz.sh). Pipes have no length and keep the old way.
            if (_stream.CanSeek && count - remaining > _stream.Length - _stream.Position)
            {
                return false;
            }

            // Only a record larger than 1 MiB (jumbo/GSO captures, at most AbsoluteRecordCap) gets here.
            var larger = ArrayPool<byte>.Shared.Rent(count);
            Buffer.BlockCopy(_buffer, _start, larger, 0, remaining);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
            _bufferFileOffset += _start;
            _start = 0;
            _end = remaining;
        }
        else if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, remaining);
            _bufferFileOffset += _start;
            _start = 0;
            _end = remaining;
        }

        while (_end - _start < count)
        {
            var read = _stream.Read(_buffer, _end, _buffer.Length - _end);
            if (read == 0)
            {
                return false;
            }

            _end += read;
        }

        return true;
    }

    private uint U32(ReadOnlySpan<byte> bytes) =>
        _bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(bytes) : BinaryPrimitives.ReadUInt32LittleEndian(bytes);

    private ushort U16(ReadOnlySpan<byte> bytes) =>
        _bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(bytes) : BinaryPrimitives.ReadUInt16LittleEndian(bytes);

    /// <summary>Link type and timestamp scaling of one pcapng interface, precomputed so each packet costs a multiply.</summary>
    private readonly record struct InterfaceDescription(int LinkType, uint SnapLength, long Multiplier, long Divisor, int BinaryShift, long OffsetNanos)
    {
        public static InterfaceDescription? Create(int linkType, uint snapLength, byte resolution, long offsetSeconds)
        {
            var exponent = resolution & 0x7F;
            var offsetNanos = offsetSeconds * 1_000_000_000L;
            if ((resolution & 0x80) != 0)
            {
                // Units of 2^-exponent seconds.
                return exponent > 63 ? null : new InterfaceDescription(linkType, snapLength, 0, 0, exponent, offsetNanos);
            }

            if (exponent > 18)
            {
                return null;
            }

            return exponent <= 9
                ? new InterfaceDescription(linkType, snapLength, Pow10(9 - exponent), 1, -1, offsetNanos)
                : new InterfaceDescription(linkType, snapLength, 1, Pow10(exponent - 9), -1, offsetNanos);
        }

        public long ToNanos(ulong units)
        {
            if (BinaryShift >= 0)
            {
                return (long)(ulong)(((UInt128)units * 1_000_000_000UL) >> BinaryShift) + OffsetNanos;
            }

            return Divisor == 1 ? ((long)units * Multiplier) + OffsetNanos : ((long)units / Divisor) + OffsetNanos;
        }

        private static long Pow10(int exponent)
        {
            var value = 1L;
            for (var i = 0; i < exponent; i++)
            {
                value *= 10;
            }

            return value;
        }
    }
}
