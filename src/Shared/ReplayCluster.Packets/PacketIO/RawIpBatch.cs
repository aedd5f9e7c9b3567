using System.Runtime.InteropServices;

namespace ReplayCluster.PacketIO;

/// <summary>
/// A batch of IPv4 packets built in place and sent with one <c>sendmmsg(2)</c> through a <see cref="RawIpSender"/>:
/// the syscall's fixed cost is paid once per batch instead of once per packet (.NET has no sendmmsg, hence P/Invoke).
/// </summary>
/// <remarks>
/// <para>
/// The memory is native and fixed (slots of <see cref="SlotLength"/> bytes, one <c>mmsghdr</c>, <c>iovec</c> and
/// <c>sockaddr_in</c> each), allocated once: building a packet and sending the batch allocate nothing. A packet longer
/// than a slot does not fit: the owner flushes and sends it alone, so order is kept.
/// </para>
/// <para>Single-threaded: one batch per sending thread.</para>
/// </remarks>
public sealed unsafe class RawIpBatch : IDisposable
{
    /// <summary>Largest packet a slot holds: MSS 1460 plus IPv4 and TCP headers with every option we write, rounded up.</summary>
    public const int SlotLength = 2048;

    private const int MmsgHdrSize = 64;
    private const int IovecSize = 16;
    private const int SockaddrInSize = 16;

    private readonly byte* _slots;
    private readonly byte* _headers;
    private readonly byte* _iovecs;
    private readonly byte* _addresses;
    private readonly Func<int, ReadOnlySpan<byte>> _packetAt;
    private int _count;
    private bool _disposed;

    /// <summary>Allocates a batch of <paramref name="capacity"/> slots.</summary>
    public RawIpBatch(int capacity = 64)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, 1024); // UIO_MAXIOV bounds one sendmmsg
        Capacity = capacity;
        _packetAt = PacketAt;
        _slots = (byte*)NativeMemory.AlignedAlloc((nuint)(capacity * SlotLength), 64);
        _headers = (byte*)NativeMemory.AllocZeroed((nuint)(capacity * MmsgHdrSize));
        _iovecs = (byte*)NativeMemory.AllocZeroed((nuint)(capacity * IovecSize));
        _addresses = (byte*)NativeMemory.AllocZeroed((nuint)(capacity * SockaddrInSize));
        for (var i = 0; i < capacity; i++)
        {
            // Fixed wiring: header i names address i and iovec i, which points at slot i.
            var header = _headers + (i * MmsgHdrSize);
            *(byte**)header = _addresses + (i * SockaddrInSize);          // msg_name
            *(uint*)(header + 8) = SockaddrInSize;                          // msg_namelen
            *(byte**)(header + 16) = _iovecs + (i * IovecSize);             // msg_iov
            *(nuint*)(header + 24) = 1;                                     // msg_iovlen
            *(byte**)(_iovecs + (i * IovecSize)) = _slots + (i * SlotLength); // iov_base
            *(ushort*)(_addresses + (i * SockaddrInSize)) = LibC.AfInet;    // sin_family
        }
    }

    /// <summary>Packets the batch holds at most.</summary>
    public int Capacity { get; }

    /// <summary>Packets waiting to be sent.</summary>
    public int Count => _count;

    /// <summary>True when no slot is free: send before adding more.</summary>
    public bool IsFull => _count == Capacity;

    /// <summary>The next free slot to build a packet into; then <see cref="Commit"/> its length.</summary>
    public Span<byte> NextSlot
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (IsFull)
            {
                throw new InvalidOperationException("the batch is full: send it first");
            }

            return new Span<byte>(_slots + (_count * SlotLength), SlotLength);
        }
    }

    /// <summary>Takes the packet just built in <see cref="NextSlot"/> (IPv4, destination in bytes 16..19).</summary>
    /// <exception cref="ArgumentException">Not an IPv4 packet, or longer than a slot.</exception>
    public void Commit(int length)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 20);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, SlotLength);
        var slot = _slots + (_count * SlotLength);
        if ((slot[0] >> 4) != 4)
        {
            throw new ArgumentException("not an IPv4 packet: version is not 4", nameof(length));
        }

        *(nuint*)(_iovecs + (_count * IovecSize) + 8) = (nuint)length;                      // iov_len
        *(uint*)(_addresses + (_count * SockaddrInSize) + 4) = *(uint*)(slot + 16);        // sin_addr, network order as in the packet
        _count++;
    }

    /// <summary>Sends every packet through <paramref name="sender"/> (failures counted there) and empties the batch.</summary>
    /// <returns>Packets the kernel accepted.</returns>
    /// <exception cref="ArgumentException">An IPv6 sender: a batch holds IPv4 packets and <c>sockaddr_in</c> addresses.</exception>
    public int Send(RawIpSender sender)
    {
        ArgumentNullException.ThrowIfNull(sender);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (sender.Family != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            throw new ArgumentException("a raw IP batch holds IPv4 packets: send it through an IPv4 sender", nameof(sender));
        }

        if (_count == 0)
        {
            return 0;
        }

        var sent = sender.SendMany(_headers, _count, MmsgHdrSize, _packetAt);
        _count = 0;
        return sent;
    }

    private ReadOnlySpan<byte> PacketAt(int index) =>
        new(_slots + (index * SlotLength), (int)*(nuint*)(_iovecs + (index * IovecSize) + 8));

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        NativeMemory.AlignedFree(_slots);
        NativeMemory.Free(_headers);
        NativeMemory.Free(_iovecs);
        NativeMemory.Free(_addresses);
    }
}

public static partial class LibC
{
    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int sendmmsg(int sockfd, byte* msgvec, uint vlen, int flags);
}
