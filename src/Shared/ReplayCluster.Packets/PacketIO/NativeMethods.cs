using System.Runtime.InteropServices;

namespace ReplayCluster.PacketIO;

/// <summary>libc entry points that .NET does not expose: namespace switching, poll and ppoll, errno-returning sendto and recv.</summary>
public static partial class LibC
{
    public const int CloneNewNet = 0x40000000;
    public const short PollIn = 0x0001;
    public const short PollErr = 0x0008;
    public const short PollHup = 0x0010;
    public const int EIntr = 4;
    public const int EAgain = 11;
    public const int EPerm = 1;
    public const int EAcces = 13;
    public const int ENoBufs = 105;
    public const int EMsgSize = 90;
    public const ushort AfInet = 2;
    public const ushort AfInet6 = 10;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setns(int fd, int nstype);

    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec
    {
        public nint Seconds;
        public nint Nanoseconds;
    }

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int poll(PollFd* fds, nuint nfds, int timeout);

    /// <summary>poll(2) with a nanosecond timeout (null: none); the signal mask is left alone.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int ppoll(PollFd* fds, nuint nfds, Timespec* timeout, void* sigmask);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint sendto(int sockfd, byte* buf, nuint len, int flags, byte* destAddr, uint addrlen);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int gettid();

    /// <summary>
    /// glibc's malloc_trim(3): gives the free pages of every malloc arena back to the system (madvise), not only the
    /// top of the heap. 1 when memory was released. glibc only: elsewhere the entry point is missing.
    /// </summary>
    [LibraryImport("libc")]
    public static partial int malloc_trim(nuint pad);

    /// <summary>recv(2) flag: return at once (EAGAIN) when nothing is there, whatever the socket's blocking mode.</summary>
    public const int MsgDontWait = 0x40;

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint recv(int sockfd, byte* buf, nuint len, int flags);

    /// <summary>
    /// recv(2) with <see cref="MsgDontWait"/> into <paramref name="into"/>: bytes read, 0 at end of stream, -1 with
    /// <paramref name="errno"/> (EAGAIN: nothing there yet); for callers that are not compiled unsafe.
    /// </summary>
    public static unsafe nint ReceiveNow(int fd, Span<byte> into, out int errno)
    {
        fixed (byte* buffer = into)
        {
            var read = recv(fd, buffer, (nuint)into.Length, MsgDontWait);
            errno = read < 0 ? Marshal.GetLastPInvokeError() : 0;
            return read;
        }
    }

    /// <summary>
    /// ppoll(2) on the first <paramref name="count"/> entries of <paramref name="fds"/>, sleeping until one is ready
    /// or <paramref name="timeoutNanoseconds"/> passed (negative: no timeout; 0: only a look); for callers that are
    /// not compiled unsafe.
    /// </summary>
    public static unsafe int PollAll(PollFd[] fds, int count, long timeoutNanoseconds)
    {
        ArgumentNullException.ThrowIfNull(fds);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, fds.Length);
        var timeout = new Timespec { Seconds = (nint)(timeoutNanoseconds / 1_000_000_000), Nanoseconds = (nint)(timeoutNanoseconds % 1_000_000_000) };
        fixed (PollFd* pointer = fds)
        {
            return ppoll(pointer, (nuint)count, timeoutNanoseconds < 0 ? null : &timeout, null);
        }
    }
}

/// <summary>
/// An eventfd(2) used as a thread's wake-up beside the descriptors it polls: <see cref="Signal"/> makes it readable
/// until <see cref="Drain"/>; signals before a drain merge into one.
/// </summary>
public static unsafe class EventFd
{
    /// <summary>A new non-blocking, close-on-exec eventfd.</summary>
    public static int Create()
    {
        var fd = LiveCaptureNative.eventfd(0, LiveCaptureNative.EfdNonBlock | LiveCaptureNative.EfdCloexec);
        return fd >= 0 ? fd : throw new IOException($"eventfd failed (errno {Marshal.GetLastPInvokeError()})");
    }

    public static void Signal(int fd)
    {
        ulong one = 1;
        _ = LiveCaptureNative.write(fd, &one, sizeof(ulong)); // fails only when the counter is at its maximum
    }

    public static void Drain(int fd)
    {
        ulong value;
        _ = LiveCaptureNative.read(fd, &value, sizeof(ulong)); // EAGAIN when a signal was drained already
    }

    public static void Close(int fd) => _ = LibC.close(fd);
}

/// <summary>
/// The few libpcap calls we make ourselves on a handle SharpPcap opened: a zero-allocation dispatch loop and
/// <c>pcap_stats</c> with the real struct layout.
/// </summary>
/// <remarks>
/// SharpPcap 6.3.1 declares <c>struct pcap_stat</c> with IntPtr fields, so its drop counters read 0 on 64-bit Linux;
/// libpcap's struct is three <c>u_int</c>. We resolve libpcap the way SharpPcap does (its DllImport name "wpcap" is
/// mapped to libpcap.so, .so.0, .so.0.8, .so.1 in that order) but through <see cref="NativeLibrary"/> and function
/// pointers, so we never install an assembly-wide DllImportResolver that could clash with one another component sets.
/// </remarks>
internal static unsafe class PcapNative
{
    private static readonly nint Library = LoadLibpcap();

    public static readonly delegate* unmanaged<nint, int, delegate* unmanaged<byte*, PcapPacketHeader*, byte*, void>, byte*, int> Dispatch =
        (delegate* unmanaged<nint, int, delegate* unmanaged<byte*, PcapPacketHeader*, byte*, void>, byte*, int>)Export("pcap_dispatch");

    public static readonly delegate* unmanaged<nint, void> BreakLoop = (delegate* unmanaged<nint, void>)Export("pcap_breakloop");

    public static readonly delegate* unmanaged<nint, PcapStat*, int> Stats = (delegate* unmanaged<nint, PcapStat*, int>)Export("pcap_stats");

    public static readonly delegate* unmanaged<nint, int, byte*, int> SetNonBlock = (delegate* unmanaged<nint, int, byte*, int>)Export("pcap_setnonblock");

    public static readonly delegate* unmanaged<nint, int> GetSelectableFd = (delegate* unmanaged<nint, int>)Export("pcap_get_selectable_fd");

    public static readonly delegate* unmanaged<nint, int> DataLink = (delegate* unmanaged<nint, int>)Export("pcap_datalink");

    public static readonly delegate* unmanaged<nint, int> GetTimestampPrecision = (delegate* unmanaged<nint, int>)Export("pcap_get_tstamp_precision");

    public static readonly delegate* unmanaged<int, int, nint> OpenDead = (delegate* unmanaged<int, int, nint>)Export("pcap_open_dead");

    public static readonly delegate* unmanaged<nint, BpfProgram*, byte*, int, uint, int> Compile =
        (delegate* unmanaged<nint, BpfProgram*, byte*, int, uint, int>)Export("pcap_compile");

    public static readonly delegate* unmanaged<BpfProgram*, void> FreeCode = (delegate* unmanaged<BpfProgram*, void>)Export("pcap_freecode");

    public static readonly delegate* unmanaged<nint, void> Close = (delegate* unmanaged<nint, void>)Export("pcap_close");

    /// <summary>libpcap's BPF interpreter: nonzero when the program accepts the frame.</summary>
    public static readonly delegate* unmanaged<void*, byte*, uint, uint, uint> BpfFilter =
        (delegate* unmanaged<void*, byte*, uint, uint, uint>)Export("bpf_filter");

    private static readonly delegate* unmanaged<nint, byte*> GetErrorPointer = (delegate* unmanaged<nint, byte*>)Export("pcap_geterr");

    public static string GetError(nint pcap) => Marshal.PtrToStringUTF8((nint)GetErrorPointer(pcap)) ?? string.Empty;

    private static nint Export(string name) => NativeLibrary.GetExport(Library, name);

    private static nint LoadLibpcap() =>
        LibpcapLocator.TryLoad(out var handle, out _)
            ? handle
            : throw new DllNotFoundException(LibpcapLocator.NotFoundMessage);
}

/// <summary>Finds libpcap the way SharpPcap does; shared by the capture code and <c>doctor</c>.</summary>
public static class LibpcapLocator
{
    public static IReadOnlyList<string> Names { get; } = OperatingSystem.IsMacOS()
        ? ["libpcap.dylib"]
        : ["libpcap.so", "libpcap.so.0", "libpcap.so.0.8", "libpcap.so.1"];

    public static string NotFoundMessage =>
        $"libpcap not found (tried {string.Join(", ", Names)}); on Debian install the libpcap0.8 package";

    public static bool TryLoad(out nint handle, out string name)
    {
        foreach (var candidate in Names)
        {
            if (NativeLibrary.TryLoad(candidate, out handle))
            {
                name = candidate;
                return true;
            }
        }

        handle = 0;
        name = string.Empty;
        return false;
    }
}

/// <summary>libpcap's <c>struct pcap_pkthdr</c> on LP64 Linux: a <c>struct timeval</c> (two longs) and two <c>bpf_u_int32</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct PcapPacketHeader
{
    public nint Seconds;
    public nint Fraction;
    public uint CapturedLength;
    public uint OriginalLength;
}

/// <summary>libpcap's <c>struct pcap_stat</c> on Linux: three <c>u_int</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct PcapStat
{
    public uint Received;
    public uint Dropped;
    public uint InterfaceDropped;
}
