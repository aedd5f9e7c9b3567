using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace ReplayCluster.PacketIO;

/// <summary>
/// Sends complete IPv4 packets (our own IP header, any source address) through a raw socket with
/// <c>IP_HDRINCL</c>; the kernel routes them by destination and fills in the IP checksum when it is 0.
/// </summary>
/// <remarks>
/// <para>
/// The socket belongs to the network namespace of the thread that constructs the sender: create it with
/// <see cref="NetworkNamespace.RunIn{T}(string, Func{T})"/> to send from a namespace. Needs root or CAP_NET_RAW.
/// </para>
/// <para>
/// Sends go through libc <c>sendto(2)</c> on the socket's descriptor with a <c>sockaddr_in</c> built on the stack
/// from bytes 16..19 of the packet: no allocation, no per-destination cache to bound, and a failed send returns an
/// errno instead of throwing (a netfilter drop can hit every packet; exceptions would cost ~10 µs each).
/// </para>
/// <para>Not thread-safe for sending; counters may be read from any thread.</para>
/// </remarks>
public sealed class RawIpSender : IDisposable
{
    /// <summary>How many times a send that failed with ENOBUFS/EAGAIN (queue momentarily full) is retried.</summary>
    public const int TransientRetries = 8;

    private readonly Socket _socket;
    private readonly int _fd;
    private long _sent;
    private long _failedNotPermitted;
    private long _failedTooBig;
    private long _failedNoBuffers;
    private long _failedOther;
    private int _lastErrno;

    /// <summary>Opens the raw socket in the calling thread's network namespace.</summary>
    /// <param name="sendBufferBytes">SO_SNDBUF; null keeps the kernel default (net.core.wmem_default).</param>
    /// <exception cref="SocketException">No permission (needs CAP_NET_RAW) or raw sockets unavailable.</exception>
    public RawIpSender(int? sendBufferBytes = null)
    {
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Raw, System.Net.Sockets.ProtocolType.Raw);
        try
        {
            // With IPPROTO_RAW Linux implies IP_HDRINCL already; setting it states the contract explicitly.
            _socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.HeaderIncluded, true);
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

    /// <summary>Packets the kernel accepted.</summary>
    public long Sent => Volatile.Read(ref _sent);

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
    /// Sends one IPv4 packet (starting with its IP header) to the destination in its header.
    /// Returns false and counts the errno when the kernel refused it.
    /// </summary>
    /// <exception cref="ArgumentException">Not an IPv4 packet (shorter than 20 bytes or version is not 4).</exception>
    public unsafe bool Send(ReadOnlySpan<byte> ipv4Packet)
    {
        if (ipv4Packet.Length < 20 || (ipv4Packet[0] >> 4) != 4)
        {
            throw new ArgumentException("not an IPv4 packet: need at least 20 bytes starting with version 4", nameof(ipv4Packet));
        }

        // struct sockaddr_in: family (host order), port 0, address (network order, copied as is), 8 bytes zero.
        byte* address = stackalloc byte[16];
        new Span<byte>(address, 16).Clear();
        *(ushort*)address = LibC.AfInet;
        ipv4Packet.Slice(16, 4).CopyTo(new Span<byte>(address + 4, 4));

        fixed (byte* data = ipv4Packet)
        {
            for (var attempt = 0; ; attempt++)
            {
                var result = LibC.sendto(_fd, data, (nuint)ipv4Packet.Length, 0, address, 16);
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
