using System.Buffers;

namespace ReplayCluster.Packets;

/// <summary>
/// Pooled packet buffers over <see cref="ArrayPool{T}"/> with two explicit caps: the largest buffer a caller may ask
/// for, and how many buffers may be out at once. The second cap is the back-pressure point: when a send path falls
/// behind, <see cref="TryRent"/> says no instead of the process growing without bound.
/// </summary>
/// <remarks>
/// Defaults: <see cref="DefaultMaxBufferSize"/> is 65535 + 256 bytes (the largest IPv4 datagram, a super-segment
/// included, plus room for a link header and VLAN tags); <see cref="DefaultMaxOutstanding"/> is 4096 buffers, which
/// at that worst-case size bounds the pool's memory at about 260 MiB but at 1500-byte packets at about 8 MiB
/// (ArrayPool rounds sizes up to powers of two: 2 KiB for a 1500-byte request).
/// </remarks>
public sealed class PacketBufferPool
{
    /// <summary>Default largest buffer: 65535 bytes of IPv4 datagram plus 256 bytes of headroom.</summary>
    public const int DefaultMaxBufferSize = ushort.MaxValue + 256;

    /// <summary>Default cap on buffers rented and not yet returned.</summary>
    public const int DefaultMaxOutstanding = 4096;

    private readonly ArrayPool<byte> _pool;
    private int _outstanding;
    private long _refused;

    /// <param name="maxBufferSize">Largest buffer <see cref="TryRent"/> hands out. Defaults to <see cref="DefaultMaxBufferSize"/>.</param>
    /// <param name="maxOutstanding">Cap on buffers out at once. Defaults to <see cref="DefaultMaxOutstanding"/>.</param>
    /// <param name="pool">The underlying pool; <see cref="ArrayPool{T}.Shared"/> when null.</param>
    public PacketBufferPool(int maxBufferSize = DefaultMaxBufferSize, int maxOutstanding = DefaultMaxOutstanding, ArrayPool<byte>? pool = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBufferSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxOutstanding, 1);
        MaxBufferSize = maxBufferSize;
        MaxOutstanding = maxOutstanding;
        _pool = pool ?? ArrayPool<byte>.Shared;
    }

    public int MaxBufferSize { get; }

    public int MaxOutstanding { get; }

    /// <summary>Buffers rented and not yet returned.</summary>
    public int Outstanding => Volatile.Read(ref _outstanding);

    /// <summary>Rent attempts refused because <see cref="MaxOutstanding"/> buffers were out.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>
    /// Rents a buffer of at least <paramref name="length"/> bytes, exposed as exactly <paramref name="length"/>.
    /// Returns false when <see cref="MaxOutstanding"/> buffers are already out.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is negative or above <see cref="MaxBufferSize"/>.</exception>
    public bool TryRent(int length, out PooledPacket packet)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, MaxBufferSize);
        if (Interlocked.Increment(ref _outstanding) > MaxOutstanding)
        {
            Interlocked.Decrement(ref _outstanding);
            Interlocked.Increment(ref _refused);
            packet = default;
            return false;
        }

        packet = new PooledPacket(this, _pool.Rent(length), length);
        return true;
    }

    /// <summary>Like <see cref="TryRent"/> but throws <see cref="InvalidOperationException"/> when the cap is reached.</summary>
    public PooledPacket Rent(int length) => TryRent(length, out var packet)
        ? packet
        : throw new InvalidOperationException($"{MaxOutstanding} packet buffers are already rented (MaxOutstanding).");

    internal void Return(byte[] buffer)
    {
        // Packet bytes are not secrets from this process, so clearing on return would only cost time.
        _pool.Return(buffer);
        Interlocked.Decrement(ref _outstanding);
    }
}

/// <summary>
/// A rented packet buffer; <see cref="Dispose"/> gives it back to its <see cref="PacketBufferPool"/>.
/// </summary>
/// <remarks>
/// A struct so renting allocates nothing. Like any pooled buffer it must be disposed exactly once and not used after:
/// do not dispose copies of the same value, and pass it by <c>ref</c>/<c>in</c> or hand over ownership explicitly.
/// </remarks>
public struct PooledPacket : IDisposable
{
    private PacketBufferPool? _owner;
    private byte[]? _buffer;

    internal PooledPacket(PacketBufferPool owner, byte[] buffer, int length)
    {
        _owner = owner;
        _buffer = buffer;
        Length = length;
    }

    /// <summary>Bytes in use; at most <see cref="Capacity"/>.</summary>
    public int Length { get; private set; }

    /// <summary>Size of the underlying array (at least the length asked for).</summary>
    public readonly int Capacity => _buffer?.Length ?? 0;

    public readonly bool IsEmpty => _buffer is null;

    /// <summary>The first <see cref="Length"/> bytes.</summary>
    public readonly Span<byte> Span => _buffer.AsSpan(0, Length);

    /// <summary>The first <see cref="Length"/> bytes as memory, for async socket sends.</summary>
    public readonly Memory<byte> Memory => _buffer.AsMemory(0, Length);

    /// <summary>Sets how many bytes are in use, e.g. after writing a packet shorter than the rented size.</summary>
    public void SetLength(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Capacity);
        Length = length;
    }

    public void Dispose()
    {
        var buffer = _buffer;
        if (buffer is not null)
        {
            _buffer = null;
            Length = 0;
            _owner!.Return(buffer);
            _owner = null;
        }
    }
}
