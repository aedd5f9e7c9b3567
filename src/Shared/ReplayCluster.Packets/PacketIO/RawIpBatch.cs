using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace ReplayCluster.PacketIO;

/// <summary>
/// A batch of IP packets of one family built in place and sent with one <c>sendmmsg(2)</c> through a
/// <see cref="RawIpSender"/> of that family: the syscall's fixed cost is paid once per batch instead of once per packet
/// (.NET has no sendmmsg, hence P/Invoke).
/// </summary>
/// <remarks>
/// <para>
/// The memory is native and fixed (slots of <see cref="SlotLength"/> bytes, one <c>mmsghdr</c>, <c>iovec</c> and
/// <c>sockaddr_in</c> or <c>sockaddr_in6</c> each, and for IPv6 an <c>IPV6_PKTINFO</c> control message naming the
/// packet's source, which spares the kernel a source address selection per packet), allocated once: building a
/// packet and sending the batch allocate nothing. A packet longer than a slot does not fit: the owner flushes and sends it alone, so order is kept.
/// </para>
/// <para>Single-threaded: one batch per sending thread.</para>
/// </remarks>
public sealed unsafe class RawIpBatch : IDisposable
{
    /// <summary>Largest packet a slot holds: MSS 1460 plus IPv4 (or 1440 plus IPv6) and TCP headers with every option we write, rounded up.</summary>
    public const int SlotLength = 2048;

    private const int MmsgHdrSize = 64;
    private const int IovecSize = 16;
    private const int SockaddrInSize = 16;
    private const int SockaddrIn6Size = 28;

    // One IPV6_PKTINFO control message: cmsghdr (cmsg_len as size_t, level, type) + in6_pktinfo (address, ifindex),
    // CMSG_SPACE(20) = 40 bytes; cmsg_len = CMSG_LEN(20) = 36.
    private const int PktInfoSpace = 40;
    private const int PktInfoLength = 36;
    private const int IpprotoIpv6 = 41;
    private const int Ipv6PktInfo = 50;

    private readonly byte* _slots;
    private readonly byte* _headers;
    private readonly byte* _iovecs;
    private readonly byte* _addresses;
    private readonly byte* _controls;
    private readonly Func<int, ReadOnlySpan<byte>> _packetAt;
    private readonly int _addressSize;
    private int _count;
    private bool _disposed;

    /// <summary>Allocates a batch of <paramref name="capacity"/> slots for IPv4 packets.</summary>
    public RawIpBatch(int capacity = 64)
        : this(capacity, AddressFamily.InterNetwork)
    {
    }

    /// <summary>Allocates a batch of <paramref name="capacity"/> slots for packets of <paramref name="family"/> (IPv4 or IPv6).</summary>
    public RawIpBatch(int capacity, AddressFamily family)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, 1024); // UIO_MAXIOV bounds one sendmmsg
        if (family is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            throw new ArgumentOutOfRangeException(nameof(family), family, "a raw IP batch is IPv4 or IPv6");
        }

        Family = family;
        _addressSize = family == AddressFamily.InterNetwork ? SockaddrInSize : SockaddrIn6Size;
        Capacity = capacity;
        _packetAt = PacketAt;
        _slots = (byte*)NativeMemory.AlignedAlloc((nuint)(capacity * SlotLength), 64);
        _headers = (byte*)NativeMemory.AllocZeroed((nuint)(capacity * MmsgHdrSize));
        _iovecs = (byte*)NativeMemory.AllocZeroed((nuint)(capacity * IovecSize));
        _addresses = (byte*)NativeMemory.AllocZeroed((nuint)(capacity * _addressSize));
        _controls = family == AddressFamily.InterNetworkV6 ? (byte*)NativeMemory.AllocZeroed((nuint)(capacity * PktInfoSpace)) : null;
        for (var i = 0; i < capacity; i++)
        {
            // Fixed wiring: header i names address i and iovec i, which points at slot i.
            var header = _headers + (i * MmsgHdrSize);
            *(byte**)header = _addresses + (i * _addressSize);            // msg_name
            *(uint*)(header + 8) = (uint)_addressSize;                      // msg_namelen
            *(byte**)(header + 16) = _iovecs + (i * IovecSize);             // msg_iov
            *(nuint*)(header + 24) = 1;                                     // msg_iovlen
            *(byte**)(_iovecs + (i * IovecSize)) = _slots + (i * SlotLength); // iov_base
            *(ushort*)(_addresses + (i * _addressSize)) = Family == AddressFamily.InterNetwork ? LibC.AfInet : LibC.AfInet6; // sin(6)_family
            if (_controls is not null)
            {
                var control = _controls + (i * PktInfoSpace);
                *(nuint*)control = PktInfoLength;       // cmsg_len
                *(int*)(control + 8) = IpprotoIpv6;     // cmsg_level
                *(int*)(control + 12) = Ipv6PktInfo;    // cmsg_type; the address follows at 16, ifindex 0 (any)
                *(byte**)(header + 32) = control;       // msg_control; msg_controllen is set per send (Send)
            }
        }
    }

    /// <summary>The family of the packets it holds, and of the sender it goes through.</summary>
    public AddressFamily Family { get; }

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

    /// <summary>
    /// Takes the packet just built in <see cref="NextSlot"/> (IPv4: destination in bytes 16..19; IPv6: in bytes 24..39).
    /// </summary>
    /// <exception cref="ArgumentException">Not a packet of the batch's family, or longer than a slot.</exception>
    public void Commit(int length)
    {
        var ipv4 = _addressSize == SockaddrInSize;
        ArgumentOutOfRangeException.ThrowIfLessThan(length, ipv4 ? 20 : 40);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, SlotLength);
        var slot = _slots + (_count * SlotLength);
        var address = _addresses + (_count * _addressSize);
        if ((slot[0] >> 4) != (ipv4 ? 4 : 6))
        {
            throw new ArgumentException(ipv4 ? "not an IPv4 packet: version is not 4" : "not an IPv6 packet: version is not 6", nameof(length));
        }

        *(nuint*)(_iovecs + (_count * IovecSize) + 8) = (nuint)length; // iov_len
        if (ipv4)
        {
            *(uint*)(address + 4) = *(uint*)(slot + 16); // sin_addr, network order as in the packet
        }
        else
        {
            Buffer.MemoryCopy(slot + 24, address + 8, 16, 16); // sin6_addr; port, flow info and scope id stay 0
            Buffer.MemoryCopy(slot + 8, _controls + (_count * PktInfoSpace) + 16, 16, 16); // ipi6_addr: the packet's source
        }

        _count++;
    }

    /// <summary>Sends every packet through <paramref name="sender"/> (failures counted there) and empties the batch.</summary>
    /// <returns>Packets the kernel accepted.</returns>
    /// <exception cref="ArgumentException">A sender of the other family: its socket takes the other address form.</exception>
    public int Send(RawIpSender sender)
    {
        ArgumentNullException.ThrowIfNull(sender);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (sender.Family != Family)
        {
            throw new ArgumentException($"a batch of {Family} packets goes through a {Family} sender, not a {sender.Family} one", nameof(sender));
        }

        if (_count == 0)
        {
            return 0;
        }

        if (_controls is not null)
        {
            // The source in IPV6_PKTINFO only where the socket may name a non-local one (IPV6_FREEBIND).
            var controlLength = sender.NamesSourceInFlow ? (nuint)PktInfoSpace : 0;
            for (var i = 0; i < _count; i++)
            {
                *(nuint*)(_headers + (i * MmsgHdrSize) + 40) = controlLength; // msg_controllen
            }
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
        NativeMemory.Free(_controls);
    }
}

public static partial class LibC
{
    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int sendmmsg(int sockfd, byte* msgvec, uint vlen, int flags);
}
