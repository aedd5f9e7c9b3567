using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace ReplayCluster.PacketIO;

/// <summary>
/// Sends complete IPv4 packets (our own IP header, any source address) through a raw socket with
/// <c>IP_HDRINCL</c>; the kernel routes them by destination and fills in the IP checksum when it is 0. Opened for
/// <see cref="AddressFamily.InterNetworkV6"/>, it sends complete IPv6 packets the same way (<c>IPV6_HDRINCL</c>).
/// </summary>
/// <remarks>
/// <para>
/// The socket belongs to the network namespace of the thread that constructs the sender: create it with
/// <see cref="NetworkNamespace.RunIn{T}(string, Func{T})"/> to send from a namespace. Needs root or CAP_NET_RAW.
/// </para>
/// <para>
/// Sends go through libc <c>sendto(2)</c> on the socket's descriptor with a <c>sockaddr_in</c> built on the stack
/// from bytes 16..19 of the packet (a <c>sockaddr_in6</c> from bytes 24..39 for IPv6): no allocation, no
/// per-destination cache to bound, and a failed send returns an errno instead of throwing (a netfilter drop can hit
/// every packet; exceptions would cost ~10 µs each).
/// </para>
/// <para>
/// IPv6 has no fragmentation on the way (RFC 8200: only the source fragments) and a raw socket with its own header
/// is never fragmented by the kernel either: a packet longer than the route's MTU is refused with EMSGSIZE and
/// counted in <see cref="FailedTooBig"/>, as for IPv4. Segments must be cut to the path's MSS before they get here.
/// </para>
/// <para>Not thread-safe for sending; counters may be read from any thread.</para>
/// </remarks>
public sealed class RawIpSender : IDisposable
{
    /// <summary>How many times a send that failed with ENOBUFS/EAGAIN (queue momentarily full) is retried.</summary>
    public const int TransientRetries = 8;

    private const int SockaddrInSize = 16;
    private const int SockaddrIn6Size = 28;

    private readonly Socket _socket;
    private readonly int _fd;
    private long _sent;
    private long _failedNotPermitted;
    private long _failedTooBig;
    private long _failedNoBuffers;
    private long _failedOther;
    private int _lastErrno;

    /// <summary>Opens an IPv4 raw socket in the calling thread's network namespace.</summary>
    /// <param name="sendBufferBytes">SO_SNDBUF; null keeps the kernel default (net.core.wmem_default).</param>
    /// <exception cref="SocketException">No permission (needs CAP_NET_RAW) or raw sockets unavailable.</exception>
    public RawIpSender(int? sendBufferBytes = null)
        : this(AddressFamily.InterNetwork, sendBufferBytes)
    {
    }

    /// <summary>Opens a raw socket of <paramref name="family"/> (IPv4 or IPv6) in the calling thread's network namespace.</summary>
    /// <param name="family"><see cref="AddressFamily.InterNetwork"/> or <see cref="AddressFamily.InterNetworkV6"/>.</param>
    /// <param name="sendBufferBytes">SO_SNDBUF; null keeps the kernel default (net.core.wmem_default).</param>
    /// <exception cref="SocketException">No permission (needs CAP_NET_RAW), raw sockets unavailable, or IPv6 disabled.</exception>
    public RawIpSender(AddressFamily family, int? sendBufferBytes = null)
    {
        if (family is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            throw new ArgumentOutOfRangeException(nameof(family), family, "a raw IP sender is IPv4 or IPv6");
        }

        Family = family;
        _socket = new Socket(family, SocketType.Raw, System.Net.Sockets.ProtocolType.Raw);
        try
        {
            // With IPPROTO_RAW Linux implies IP_HDRINCL already (IPV6_HDRINCL for IPv6: inet6_create sets hdrincl for
            // every IPPROTO_RAW socket); setting it states the contract explicitly where .NET names the option.
            if (family == AddressFamily.InterNetwork)
            {
                _socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.HeaderIncluded, true);
            }
            else
            {
                // IPV6_FREEBIND lets a message name its packet's own (fake, non-local) source in IPV6_PKTINFO, so the
                // route lookup of each send skips source address selection (RawIpBatch; 2.7 % of the capture node's
                // samples at ~1k IPv6 connections/s went to __ipv6_dev_get_saddr and address labels). A kernel without
                // it (before 4.15) keeps selecting: the batch then sends without the ancillary data.
                NamesSourceInFlow = TrySetIpv6FreeBind(_socket);
            }

            if (sendBufferBytes is { } size)
            {
                ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size, nameof(sendBufferBytes));
                _socket.SendBufferSize = size;
            }

            _fd = (int)_socket.SafeHandle.DangerousGetHandle();
        }
        catch
        {
            _socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// IPv6: the socket may name a non-local source in <c>IPV6_PKTINFO</c> (<c>IPV6_FREEBIND</c> is on), so a message
    /// can carry its packet's source for the route lookup. Always false for IPv4, whose lookup has no such cost.
    /// </summary>
    public bool NamesSourceInFlow { get; }

    /// <summary>Packets the kernel accepted.</summary>
    public long Sent => Volatile.Read(ref _sent);

    /// <summary>The family of the packets it sends: <see cref="AddressFamily.InterNetwork"/> or <see cref="AddressFamily.InterNetworkV6"/>.</summary>
    public AddressFamily Family { get; }

    /// <summary>Packets that could not be sent, all causes.</summary>
    public long Failed => FailedNotPermitted + FailedTooBig + FailedNoBuffers + FailedOther;

    /// <summary>EPERM/EACCES: refused by netfilter (an OUTPUT drop rule, conntrack) or a broadcast without SO_BROADCAST.</summary>
    public long FailedNotPermitted => Volatile.Read(ref _failedNotPermitted);

    /// <summary>EMSGSIZE: larger than the route MTU (raw IP_HDRINCL packets are never fragmented by the kernel).</summary>
    public long FailedTooBig => Volatile.Read(ref _failedTooBig);

    /// <summary>ENOBUFS/EAGAIN still failing after <see cref="TransientRetries"/> retries: the device queue stayed full.</summary>
    public long FailedNoBuffers => Volatile.Read(ref _failedNoBuffers);

    /// <summary>Any other errno (see <see cref="LastErrno"/>), e.g. ENETUNREACH without a route.</summary>
    public long FailedOther => Volatile.Read(ref _failedOther);

    /// <summary>errno of the most recent failed send, 0 if none failed.</summary>
    public int LastErrno => Volatile.Read(ref _lastErrno);

    /// <summary>
    /// Sends one packet of the sender's <see cref="Family"/> (starting with its IP header) to the destination in its
    /// header. Returns false and counts the errno when the kernel refused it.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// Not a packet of the sender's family (IPv4: shorter than 20 bytes or version is not 4; IPv6: shorter than 40 bytes
    /// or version is not 6).
    /// </exception>
    public unsafe bool Send(ReadOnlySpan<byte> packet)
    {
        // struct sockaddr_in: family (host order), port 0, address (network order, copied as is), 8 bytes zero.
        // struct sockaddr_in6: family, port 0, flow info 0, address (16 bytes, as in the header), scope id 0.
        byte* address = stackalloc byte[SockaddrIn6Size];
        new Span<byte>(address, SockaddrIn6Size).Clear();
        uint addressLength;
        if (Family == AddressFamily.InterNetwork)
        {
            if (packet.Length < 20 || (packet[0] >> 4) != 4)
            {
                throw new ArgumentException("not an IPv4 packet: need at least 20 bytes starting with version 4", nameof(packet));
            }

            *(ushort*)address = LibC.AfInet;
            packet.Slice(16, 4).CopyTo(new Span<byte>(address + 4, 4));
            addressLength = SockaddrInSize;
        }
        else
        {
            if (packet.Length < 40 || (packet[0] >> 4) != 6)
            {
                throw new ArgumentException("not an IPv6 packet: need at least 40 bytes starting with version 6", nameof(packet));
            }

            *(ushort*)address = LibC.AfInet6;
            packet.Slice(24, 16).CopyTo(new Span<byte>(address + 8, 16));
            addressLength = SockaddrIn6Size;
        }

        fixed (byte* data = packet)
        {
            for (var attempt = 0; ; attempt++)
            {
                var result = LibC.sendto(_fd, data, (nuint)packet.Length, 0, address, addressLength);
                if (result >= 0)
                {
                    _sent++;
                    return true;
                }

                var errno = Marshal.GetLastPInvokeError();
                if ((errno == LibC.ENoBufs || errno == LibC.EAgain) && attempt < TransientRetries)
                {
                    // The qdisc or socket buffer is momentarily full; give the NIC a moment to drain.
                    Thread.SpinWait(1 << Math.Min(attempt + 4, 12));
                    continue;
                }

                Count(errno);
                return false;
            }
        }
    }

    private static bool TrySetIpv6FreeBind(Socket socket)
    {
        const int Ipv6FreeBind = 78; // IPV6_FREEBIND, linux/in6.h
        try
        {
            socket.SetRawSocketOption((int)SocketOptionLevel.IPv6, Ipv6FreeBind, BitConverter.GetBytes(1));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>
    /// Sends <paramref name="count"/> prepared messages (<c>struct mmsghdr</c>, <paramref name="stride"/> bytes apart) with
    /// <c>sendmmsg(2)</c>. A message the kernel refuses is counted like a failed <see cref="Send"/> and skipped; the rest
    /// still go. <paramref name="packetAt"/> gives message i's bytes, to resend one alone after a transient error.
    /// </summary>
    /// <returns>Messages the kernel accepted.</returns>
    internal unsafe int SendMany(byte* messages, int count, int stride, Func<int, ReadOnlySpan<byte>> packetAt)
    {
        var accepted = 0;
        var next = 0;
        while (next < count)
        {
            var result = LibC.sendmmsg(_fd, messages + (next * stride), (uint)(count - next), 0);
            if (result > 0)
            {
                next += result;
                accepted += result;
                _sent += result;
                continue;
            }

            // The first remaining message failed: resend it alone (the same retry and counting as Send), go on after it.
            var errno = Marshal.GetLastPInvokeError();
            if (errno == LibC.EIntr)
            {
                continue;
            }

            if (Send(packetAt(next)))
            {
                accepted++;
            }

            next++;
        }

        return accepted;
    }

    public void Dispose() => _socket.Dispose();

    private void Count(int errno)
    {
        _lastErrno = errno;
        switch (errno)
        {
            case LibC.EPerm or LibC.EAcces:
                _failedNotPermitted++;
                break;
            case LibC.EMsgSize:
                _failedTooBig++;
                break;
            case LibC.ENoBufs or LibC.EAgain:
                _failedNoBuffers++;
                break;
            default:
                _failedOther++;
                break;
        }
    }
}
