using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace ReplayCluster.PacketIO;

/// <summary>
/// A direct AF_PACKET TPACKET_V3 receive ring with a block size we choose (libpcap always takes 256 KiB blocks for
/// its maximum snaplen): the socket, the mmapped ring, the kernel BPF filter (compiled by libpcap), and the counters.
/// </summary>
/// <remarks>
/// Below the rate that fills a block, the kernel retires a block at each block timeout (1 ms) whatever it holds, so
/// a ring covers (blocks × timeout) of reader stall before it drops: the block count, not the byte size, is what
/// matters, and smaller blocks give the same cover in less resident memory (bench/README.md "Direct TPACKET_V3 reader").
/// The socket belongs to the network namespace of the thread that opens it. Not thread-safe except
/// <see cref="ReadStatistics"/>; <see cref="Dispatch"/> and <see cref="SetFilter"/> are for one thread at a time.
/// </remarks>
internal sealed unsafe class PacketRing : IDisposable
{
    private const int AfPacket = 17;
    private const int SockRaw = 3;
    private const int SockCloexec = 0x80000;
    private const int SolSocket = 1;
    private const int SoError = 4;
    private const int SoAttachFilter = 26;
    private const int SolPacket = 263;
    private const int PacketAddMembership = 1;
    private const int PacketRxRing = 5;
    private const int PacketStatistics = 6;
    private const int PacketVersion = 10;
    private const int PacketReserve = 12;
    private const int PacketFanout = 18;
    private const int PacketFanoutHash = 0;
    private const int PacketFanoutFlagUniqueId = 0x2000;
    private const int PacketFanoutFlagDefrag = 0x8000;
    private const int TpacketV3 = 2;
    private const int PacketMrPromisc = 1;
    private const ushort EthPAllNetworkOrder = 0x0300; // htons(ETH_P_ALL)
    private const int ProtRead = 1;
    private const int ProtWrite = 2;
    private const int MapShared = 1;
    private const int MapLocked = 0x2000;
    private const ulong SiocGifIndex = 0x8933;
    private const ulong SiocGifHwAddr = 0x8927;
    private const int ArphrdEther = 1;
    private const int ArphrdLoopback = 772;
    private const int DltEn10Mb = 1;
    private const int VlanTagLength = 4;
    private const int ENetDown = 100;
    private const int ENoDev = 19;
    private const int ENxio = 6;

    private readonly int _socket;
    private readonly byte* _ring;
    private readonly nuint _ringBytes;
    private readonly int _blockSize;
    private readonly int _blockCount;
    private readonly int _snapLength;
    private readonly string _interface;
    private readonly Lock _statisticsLock = new();
    private long _received;
    private long _dropped;
    private int _blockIndex;
    private int _userlandFilterBlocks;
    private BpfProgram _userlandProgram;
    private bool _disposed;

    private PacketRing(string interfaceName, int socket, byte* ring, int blockSize, int blockCount, int snapLength)
    {
        _interface = interfaceName;
        _socket = socket;
        _ring = ring;
        _blockSize = blockSize;
        _blockCount = blockCount;
        _ringBytes = (nuint)blockSize * (nuint)blockCount;
        _snapLength = snapLength;
    }

    /// <summary>The packet socket: readable when a block was handed to user space; POLLERR when its interface went away.</summary>
    public int FileDescriptor => _socket;

    /// <summary>DLT_EN10MB: only Ethernet (and loopback) interfaces are opened by this reader.</summary>
    public int LinkType => DltEn10Mb;

    /// <summary>Walks the blocks; its counters (malformed blocks, userland-filtered frames) are read by tests.</summary>
    public TpacketV3Walker Walker { get; } = new();

    /// <summary>
    /// Whether <paramref name="interfaceName"/>, looked up in the calling thread's namespace, is one this reader
    /// captures on (Ethernet or loopback); the <c>any</c> pseudo-interface and other link types are not.
    /// </summary>
    public static bool Supports(string interfaceName)
    {
        if (interfaceName == "any")
        {
            return false;
        }

        var probe = LibC.socket(AfPacket, SockRaw | SockCloexec, 0);
        if (probe < 0)
        {
            return false;
        }

        try
        {
            return TryInterface(probe, interfaceName, out _, out var hardware) && hardware is ArphrdEther or ArphrdLoopback;
        }
        finally
        {
            _ = LibC.close(probe);
        }
    }

    /// <summary>
    /// Opens the ring on <paramref name="options"/>' interface with blocks of <see cref="LiveCaptureOptions.RingBlockSizeBytes"/>
    /// (a power of two of at least 4096: <see cref="LiveCapture.Open"/> validated the options).
    /// </summary>
    /// <param name="options">The interface, filter, ring size and block size.</param>
    /// <param name="startClosed">
    /// True: the socket takes nothing until <see cref="InstallFirstFilter"/> installs the filter (a fanout member, which must
    /// not queue a frame before every member joined the group: until then the kernel spreads flows differently).
    /// </param>
    public static PacketRing Open(LiveCaptureOptions options, bool startClosed = false)
    {
        var blockSize = options.RingBlockSizeBytes;
        var blockCount = Math.Max(2, options.BufferSizeBytes / blockSize);

        // Protocol 0: the socket receives nothing until bind() names ETH_P_ALL, after the ring and the filter are in place.
        var socket = LibC.socket(AfPacket, SockRaw | SockCloexec, 0);
        if (socket < 0)
        {
            throw Failure(options.Interface, "socket(AF_PACKET)");
        }

        byte* ring = null;
        var ringBytes = (nuint)blockSize * (nuint)blockCount;
        try
        {
            if (!TryInterface(socket, options.Interface, out var index, out var hardware))
            {
                throw new LiveCaptureException($"network interface '{options.Interface}' does not exist");
            }

            if (hardware is not (ArphrdEther or ArphrdLoopback))
            {
                throw new LiveCaptureException($"the ring reader captures on Ethernet interfaces only; '{options.Interface}' has hardware type {hardware} (use the libpcap reader)");
            }

            SetOption(socket, SolPacket, PacketVersion, TpacketV3, options.Interface, "PACKET_VERSION TPACKET_V3");

            // Room before each frame for a VLAN tag the kernel stripped, so it can be put back as libpcap does.
            SetOption(socket, SolPacket, PacketReserve, VlanTagLength, options.Interface, "PACKET_RESERVE");

            var request = new TpacketReq3
            {
                BlockSize = (uint)blockSize,
                BlockCount = (uint)blockCount,
                FrameSize = (uint)blockSize, // V3 frames are variable; the kernel only checks frame size × count
                FrameCount = (uint)blockCount,
                RetireBlockTimeoutMs = (uint)options.ReadTimeoutMs,
            };
            if (LibC.setsockopt(socket, SolPacket, PacketRxRing, &request, (uint)sizeof(TpacketReq3)) != 0)
            {
                throw Failure(options.Interface, $"PACKET_RX_RING ({blockCount} blocks of {blockSize} bytes)");
            }

            ring = (byte*)LibC.mmap(null, ringBytes, ProtRead | ProtWrite, MapShared | MapLocked, socket, 0);
            if (ring == (byte*)-1)
            {
                // MAP_LOCKED fails beyond RLIMIT_MEMLOCK for non-root; the ring is kernel memory either way.
                ring = (byte*)LibC.mmap(null, ringBytes, ProtRead | ProtWrite, MapShared, socket, 0);
                if (ring == (byte*)-1)
                {
                    ring = null;
                    throw Failure(options.Interface, "mmap of the capture ring");
                }
            }

            var result = new PacketRing(options.Interface, socket, ring, blockSize, blockCount, options.SnapLength);
            if (startClosed)
            {
                result.AttachDropAll();
            }
            else if (options.Filter is not null)
            {
                result.AttachFilter(options.Filter, userlandForQueued: false);
            }

            if (options.Promiscuous)
            {
                var membership = new PacketMreq { InterfaceIndex = index, Type = PacketMrPromisc };
                if (LibC.setsockopt(socket, SolPacket, PacketAddMembership, &membership, (uint)sizeof(PacketMreq)) != 0)
                {
                    throw Failure(options.Interface, "PACKET_ADD_MEMBERSHIP promiscuous");
                }
            }

            var address = new SockaddrLl { Family = AfPacket, Protocol = EthPAllNetworkOrder, InterfaceIndex = index };
            if (LibC.bind(socket, &address, (uint)sizeof(SockaddrLl)) != 0)
            {
                throw Failure(options.Interface, "bind");
            }

            return result;
        }
        catch
        {
            if (ring is not null)
            {
                _ = LibC.munmap(ring, ringBytes);
            }

            _ = LibC.close(socket);
            throw;
        }
    }

    /// <summary>
    /// Delivers the frames of every block the kernel handed over, oldest first, and gives each back.
    /// Stops early (keeping its place) when <see cref="TpacketV3Walker.StopRequested"/> is set.
    /// </summary>
    /// <returns>The blocks given back.</returns>
    public int Dispatch(FrameHandler handler)
    {
        var blocks = 0;
        while (HasBlock)
        {
            var block = _ring + ((long)_blockIndex * _blockSize);
            if (!Walker.Walk(new Span<byte>(block, _blockSize), handler, _snapLength, LinkType))
            {
                return blocks;
            }

            blocks++;

            // The frames are read (the handler copied what it keeps): the kernel may fill the block again.
            Volatile.Write(ref *CurrentBlockStatus, TpacketV3Walker.StatusKernel);
            _blockIndex = _blockIndex + 1 == _blockCount ? 0 : _blockIndex + 1;
            if (_userlandFilterBlocks > 0 && --_userlandFilterBlocks == 0)
            {
                Walker.Filter = null;
                FreeUserlandProgram();
            }
        }

        return blocks;
    }

    /// <summary>
    /// Whether the kernel handed the next block over (a read of the block's status word, no system call): a reader
    /// busy with other work can look between its tasks and take the frames before the ring fills.
    /// </summary>
    public bool HasBlock => (Volatile.Read(ref *CurrentBlockStatus) & TpacketV3Walker.StatusUser) != 0;

    // tpacket_hdr_v1.block_status of the block the reader is at: the kernel sets TP_STATUS_USER when it hands it over.
    private uint* CurrentBlockStatus => (uint*)(_ring + ((long)_blockIndex * _blockSize) + 8);

    /// <summary>Throws when the socket reports an error (its interface went down or away), as libpcap's read does.</summary>
    public void ThrowIfSocketError()
    {
        int error;
        var length = (uint)sizeof(int);
        if (LibC.getsockopt(_socket, SolSocket, SoError, &error, &length) != 0)
        {
            throw Failure(_interface, "SO_ERROR");
        }

        if (error != 0)
        {
            var reason = error is ENetDown or ENoDev or ENxio ? "The interface disappeared or went down" : Marshal.GetPInvokeErrorMessage(error);
            throw new LiveCaptureException($"capture ring on '{_interface}' failed: {reason} (errno {error})");
        }
    }

    /// <summary>
    /// Cumulative counters. PACKET_STATISTICS returns the counts since its last read and resets them, so they are
    /// accumulated here; as with libpcap, received includes the frames dropped for lack of ring space.
    /// </summary>
    public CaptureStatistics ReadStatistics()
    {
        lock (_statisticsLock)
        {
            TpacketStatsV3 stats;
            var length = (uint)sizeof(TpacketStatsV3);
            if (LibC.getsockopt(_socket, SolPacket, PacketStatistics, &stats, &length) != 0)
            {
                throw Failure(_interface, "PACKET_STATISTICS");
            }

            _received += stats.Packets;
            _dropped += stats.Drops;
            return new CaptureStatistics(_received, _dropped, 0);
        }
    }

    /// <summary>
    /// Makes this socket the first member of a new PACKET_FANOUT group with an id the kernel chooses (unique in the
    /// network namespace, so two nodes on one host never share a group) and returns that id for the other members.
    /// Flows are spread by a symmetric hash of their addresses and ports, computed by the kernel for each frame (not
    /// the frame's cached hash, which a sender may change on a retransmission), so every frame of a connection meets
    /// the same member; fragments are reassembled first, since only the first one carries the ports.
    /// </summary>
    public ushort CreateFanoutGroup()
    {
        var request = (PacketFanoutHash | PacketFanoutFlagDefrag | PacketFanoutFlagUniqueId) << 16;
        SetOption(_socket, SolPacket, PacketFanout, request, _interface, "PACKET_FANOUT (new group)");
        int value;
        var length = (uint)sizeof(int);
        if (LibC.getsockopt(_socket, SolPacket, PacketFanout, &value, &length) != 0)
        {
            throw Failure(_interface, "PACKET_FANOUT (read the group id)");
        }

        return (ushort)(value & 0xffff);
    }

    /// <summary>Joins the fanout group <paramref name="group"/> made by <see cref="CreateFanoutGroup"/> (same interface).</summary>
    public void JoinFanoutGroup(ushort group) =>
        SetOption(_socket, SolPacket, PacketFanout, group | ((PacketFanoutHash | PacketFanoutFlagDefrag) << 16), _interface, $"PACKET_FANOUT (join group {group})");

    /// <summary>
    /// Installs the first filter of a socket opened closed (<see cref="Open(LiveCaptureOptions, bool)"/>): nothing was
    /// queued under the drop-everything filter, so no frame needs the filter in user space.
    /// </summary>
    public void InstallFirstFilter(string filter) => AttachFilter(filter, userlandForQueued: false);

    /// <summary>
    /// Replaces the kernel filter. Blocks filled before it may hold frames the old filter let through, so until all
    /// of them went round once the new filter also runs in user space (libpcap does the same).
    /// </summary>
    public void SetFilter(string filter) => AttachFilter(filter, userlandForQueued: true);

    private void AttachFilter(string filter, bool userlandForQueued)
    {
        var program = Compile(filter);
        try
        {
            var code = new SockFprog { Length = (ushort)program.Length, Filter = program.Instructions };
            if (LibC.setsockopt(_socket, SolSocket, SoAttachFilter, &code, (uint)sizeof(SockFprog)) != 0)
            {
                throw Failure(_interface, $"SO_ATTACH_FILTER \"{filter}\"");
            }
        }
        catch
        {
            PcapNative.FreeCode(&program);
            throw;
        }

        if (!userlandForQueued)
        {
            PcapNative.FreeCode(&program);
            return;
        }

        FreeUserlandProgram();
        _userlandProgram = program;
        _userlandFilterBlocks = _blockCount;
        var instructions = (nint)program.Instructions;
        Walker.Filter = (frame, originalLength) =>
        {
            fixed (byte* data = frame)
            {
                return PcapNative.BpfFilter((void*)instructions, data, (uint)originalLength, (uint)frame.Length) != 0;
            }
        };
    }

    // A one-instruction classic BPF program, "ret #0": every frame is refused before it reaches the ring.
    private void AttachDropAll()
    {
        var instruction = 0x06UL; // BPF_RET | BPF_K, jt 0, jf 0, k 0
        var code = new SockFprog { Length = 1, Filter = &instruction };
        if (LibC.setsockopt(_socket, SolSocket, SoAttachFilter, &code, (uint)sizeof(SockFprog)) != 0)
        {
            throw Failure(_interface, "SO_ATTACH_FILTER (drop all)");
        }
    }

    private void FreeUserlandProgram()
    {
        if (_userlandProgram.Instructions is not null)
        {
            var program = _userlandProgram;
            PcapNative.FreeCode(&program);
            _userlandProgram = default;
        }
    }

    private BpfProgram Compile(string filter)
    {
        var dead = PcapNative.OpenDead(LinkType, _snapLength);
        if (dead == 0)
        {
            throw new LiveCaptureException($"pcap_open_dead failed for the filter \"{filter}\"");
        }

        try
        {
            var text = Encoding.UTF8.GetBytes(filter + "\0");
            BpfProgram program;
            fixed (byte* pointer = text)
            {
                if (PcapNative.Compile(dead, &program, pointer, 1, 0xffffffff) != 0) // PCAP_NETMASK_UNKNOWN
                {
                    throw new LiveCaptureException($"invalid capture filter \"{filter}\" on '{_interface}': {PcapNative.GetError(dead)}");
                }
            }

            return program;
        }
        finally
        {
            PcapNative.Close(dead);
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Walker.Filter = null;
        FreeUserlandProgram();
        _ = LibC.munmap(_ring, _ringBytes);
        _ = LibC.close(_socket);
    }

    private static bool TryInterface(int socket, string name, out int index, out int hardware)
    {
        index = 0;
        hardware = 0;
        var bytes = Encoding.UTF8.GetBytes(name);
        if (bytes.Length >= 16)
        {
            return false;
        }

        var request = stackalloc byte[40]; // struct ifreq: IFNAMSIZ name, then a 24-byte union
        new Span<byte>(request, 40).Clear();
        bytes.CopyTo(new Span<byte>(request, 16));
        if (LibC.ioctl(socket, SiocGifIndex, request) != 0)
        {
            return false;
        }

        index = BinaryPrimitives.ReadInt32LittleEndian(new ReadOnlySpan<byte>(request + 16, 4));
        if (LibC.ioctl(socket, SiocGifHwAddr, request) != 0)
        {
            return false;
        }

        hardware = BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(request + 16, 2)); // ifr_hwaddr.sa_family
        return true;
    }

    private static void SetOption(int socket, int level, int name, int value, string interfaceName, string what)
    {
        if (LibC.setsockopt(socket, level, name, &value, sizeof(int)) != 0)
        {
            throw Failure(interfaceName, what);
        }
    }

    private static LiveCaptureException Failure(string interfaceName, string what) =>
        new($"capture ring on '{interfaceName}': {what} failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");

    [StructLayout(LayoutKind.Sequential)]
    private struct TpacketReq3
    {
        public uint BlockSize;
        public uint BlockCount;
        public uint FrameSize;
        public uint FrameCount;
        public uint RetireBlockTimeoutMs;
        public uint SizeOfPrivate;
        public uint FeatureRequestWord;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TpacketStatsV3
    {
        public uint Packets;
        public uint Drops;
        public uint FreezeQueueCount;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct SockaddrLl
    {
        public ushort Family;
        public ushort Protocol;
        public int InterfaceIndex;
        public ushort HardwareType;
        public byte PacketType;
        public byte AddressLength;
        public ulong Address;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PacketMreq
    {
        public int InterfaceIndex;
        public ushort Type;
        public ushort AddressLength;
        public ulong Address;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct SockFprog
    {
        public ushort Length;
        public void* Filter;
    }
}

/// <summary>libpcap's <c>struct bpf_program</c>: an instruction count and the instructions (laid out as the kernel's sock_filter).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct BpfProgram
{
    public uint Length;
    public void* Instructions;
}

/// <summary>The libc calls of <see cref="PacketRing"/> (with the rest of the project's in NativeMethods.cs).</summary>
public static unsafe partial class LibC
{
    [LibraryImport("libc", SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setsockopt(int socket, int level, int name, void* value, uint length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getsockopt(int socket, int level, int name, void* value, uint* length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int bind(int socket, void* address, uint length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int ioctl(int fd, ulong request, void* argument);

    [LibraryImport("libc", SetLastError = true)]
    public static partial void* mmap(void* address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int munmap(void* address, nuint length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);
}
