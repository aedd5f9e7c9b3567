using System.Buffers;
using System.Buffers.Binary;

namespace ReplayCluster.PacketIO;

/// <summary>Timestamp resolution of a classic pcap file.</summary>
public enum PcapTimestampResolution
{
    /// <summary>Magic 0xa1b2c3d4: the fraction field counts microseconds (what every tool reads).</summary>
    Microsecond,

    /// <summary>Magic 0xa1b23c4d: the fraction field counts nanoseconds (tcpdump <c>--nano</c>, Wireshark).</summary>
    Nanosecond,
}

/// <summary>
/// Writes a classic pcap file in host (little-endian) byte order.
/// </summary>
/// <remarks>
/// Records are assembled in one pooled buffer and written in large chunks; <see cref="Dispose"/> flushes.
/// Timestamps are truncated (not rounded) to the file's resolution, as tcpdump does.
/// Not thread-safe: one writer per thread.
/// </remarks>
public sealed class PcapFileWriter : IDisposable
{
    // 1 MiB: big enough that write(2) calls are rare relative to packets, small enough to lose little on a crash.
    private const int BufferSize = 1024 * 1024;
    private const int RecordHeaderLength = 16;

    private readonly FileStream _stream;
    private readonly bool _nanosecond;
    private byte[] _buffer;
    private int _used;
    private bool _disposed;

    private PcapFileWriter(FileStream stream, int linkType, int snapLength, PcapTimestampResolution resolution)
    {
        _stream = stream;
        LinkType = linkType;
        SnapLength = snapLength;
        Resolution = resolution;
        _nanosecond = resolution == PcapTimestampResolution.Nanosecond;
        _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
    }

    /// <summary>Link type (LINKTYPE_ number) written in the file header.</summary>
    public int LinkType { get; }

    /// <summary>Snap length written in the file header; longer frames are cut to it.</summary>
    public int SnapLength { get; }

    /// <summary>Timestamp resolution of the file.</summary>
    public PcapTimestampResolution Resolution { get; }

    /// <summary>Number of records written so far.</summary>
    public long PacketsWritten { get; private set; }

    /// <summary>
    /// Creates (or truncates) <paramref name="path"/> and writes the pcap file header.
    /// </summary>
    /// <param name="path">File to create.</param>
    /// <param name="linkType">LINKTYPE_ number of the frames, e.g. 1 for Ethernet.</param>
    /// <param name="snapLength">Largest number of bytes kept per frame. Defaults to 262144, libpcap's maximum.</param>
    /// <param name="resolution">Timestamp resolution. Defaults to microseconds.</param>
    public static PcapFileWriter Create(string path, int linkType, int snapLength = PcapFileReader.SaneRecordCap, PcapTimestampResolution resolution = PcapTimestampResolution.Microsecond)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfNegative(linkType);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(linkType, 0xFFFF);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(snapLength);

        var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 0);
        var writer = new PcapFileWriter(stream, linkType, snapLength, resolution);
        var header = writer._buffer.AsSpan(0, 24);
        BinaryPrimitives.WriteUInt32LittleEndian(header, writer._nanosecond ? 0xa1b23c4du : 0xa1b2c3d4u);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], 4);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], 0);   // thiszone: timestamps are UTC
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], 0); // sigfigs: always 0 in practice
        BinaryPrimitives.WriteUInt32LittleEndian(header[16..], (uint)snapLength);
        BinaryPrimitives.WriteUInt32LittleEndian(header[20..], (uint)linkType);
        writer._used = 24;
        return writer;
    }

    /// <summary>
    /// Appends one frame.
    /// </summary>
    /// <param name="frame">Captured bytes; cut to <see cref="SnapLength"/>.</param>
    /// <param name="timestampNanos">Nanoseconds since the Unix epoch; must be non-negative and before 2106 (32-bit seconds).</param>
    /// <param name="originalLength">Length on the wire; at least <paramref name="frame"/>.Length.</param>
    public void Write(ReadOnlySpan<byte> frame, long timestampNanos, int originalLength)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(originalLength, frame.Length);
        ArgumentOutOfRangeException.ThrowIfNegative(timestampNanos);
        var seconds = timestampNanos / 1_000_000_000L;
        ArgumentOutOfRangeException.ThrowIfGreaterThan(seconds, uint.MaxValue, nameof(timestampNanos));
        var nanos = timestampNanos % 1_000_000_000L;

        var data = frame.Length > SnapLength ? frame[..SnapLength] : frame;
        if (_used + RecordHeaderLength + data.Length > _buffer.Length)
        {
            FlushBuffer();
        }

        var header = _buffer.AsSpan(_used, RecordHeaderLength);
        BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)seconds);
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], (uint)(_nanosecond ? nanos : nanos / 1000));
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], (uint)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], (uint)originalLength);
        _used += RecordHeaderLength;

        if (data.Length > _buffer.Length - _used)
        {
            // Only frames larger than the whole buffer (snap length over 1 MiB) bypass it.
            FlushBuffer();
            _stream.Write(data);
        }
        else
        {
            data.CopyTo(_buffer.AsSpan(_used));
            _used += data.Length;
        }

        PacketsWritten++;
    }

    /// <summary>Writes buffered records to the file (not necessarily to disk: no fsync).</summary>
    public void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        FlushBuffer();
        _stream.Flush();
    }

    /// <summary>Flushes and closes the file.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        try
        {
            FlushBuffer();
        }
        finally
        {
            _disposed = true;
            _stream.Dispose();
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }

    private void FlushBuffer()
    {
        if (_used > 0)
        {
            _stream.Write(_buffer, 0, _used);
            _used = 0;
        }
    }
}
