using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using ReplayCluster.PacketIO;
using Xunit;

namespace ReplayCluster.Tests.PacketIO;

[Collection(nameof(NetworkLabCollection))]
public sealed class RawIpSenderTests
{
    private static readonly IPAddress SpoofedSource = IPAddress.Parse("10.200.0.5");

    [Fact]
    public void A_spoofed_packet_sent_from_one_namespace_arrives_intact_in_the_other()
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces, raw sockets and capture");
        using var lab = new NamespacePair();
        using var capture = NetworkNamespace.RunIn(lab.B, () => LiveCapture.Open(new LiveCaptureOptions
        {
            Interface = NamespacePair.DeviceB,
            Filter = $"udp and src host {SpoofedSource}",
        }));
        var received = new List<byte[]>();
        capture.Start((ReadOnlySpan<byte> frame, in FrameInfo _) =>
        {
            lock (received)
            {
                received.Add(frame[TestFrames.EthernetHeaderLength..].ToArray());
            }
        });

        using var sender = NetworkNamespace.RunIn(lab.A, () => new RawIpSender(sendBufferBytes: 1 << 20));
        var packets = Enumerable.Range(0, 10)
            .Select(i => TestFrames.Ipv4Udp(SpoofedSource, NamespacePair.AddressB, (ushort)(40000 + i), 7777, "replayed"u8))
            .ToArray();
        foreach (var packet in packets)
        {
            Assert.True(sender.Send(packet), $"send failed with errno {sender.LastErrno}");
        }

        WaitUntil(() => { lock (received) { return received.Count >= packets.Length; } });
        capture.Stop();
        Assert.Equal(packets.Length, sender.Sent);
        Assert.Equal(0, sender.Failed);
        Assert.Equal(packets, received); // byte for byte: our header, our checksums, the spoofed source
    }

    [Fact]
    public void An_ipv6_sender_takes_ipv6_packets_only_and_an_ipv4_batch_refuses_it()
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces and raw sockets");
        Assert.Throws<ArgumentOutOfRangeException>(() => new RawIpSender(System.Net.Sockets.AddressFamily.Unix));
        using var lab = new NamespacePair();
        using var sender = NetworkNamespace.RunIn(lab.A, () => new RawIpSender(System.Net.Sockets.AddressFamily.InterNetworkV6));
        Assert.Equal(System.Net.Sockets.AddressFamily.InterNetworkV6, sender.Family);

        // An IPv4 packet, and 39 bytes that start like IPv6: neither is an IPv6 packet. Caller mistakes, so they throw.
        var ipv4 = TestFrames.Ipv4Udp(SpoofedSource, NamespacePair.AddressB, 1, 2, "x"u8);
        Assert.Throws<ArgumentException>(() => sender.Send(ipv4));
        byte[] shortIpv6 = [0x60, .. new byte[38]];
        Assert.Throws<ArgumentException>(() => sender.Send(shortIpv6));
        Assert.Equal(0, sender.Sent + sender.Failed);

        // A batch holds IPv4 packets and sockaddr_in addresses: it is not sent through an IPv6 socket.
        using var batch = new RawIpBatch(4);
        ipv4.CopyTo(batch.NextSlot);
        batch.Commit(ipv4.Length);
        Assert.Throws<ArgumentException>(() => batch.Send(sender));
    }

    [Fact]
    public void Failures_are_counted_by_errno_instead_of_thrown()
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces and raw sockets");
        using var lab = new NamespacePair();
        using var sender = NetworkNamespace.RunIn(lab.A, () => new RawIpSender());

        // Larger than the veth MTU of 1500: raw IP_HDRINCL packets are not fragmented, the kernel says EMSGSIZE.
        var tooBig = TestFrames.Ipv4Udp(SpoofedSource, NamespacePair.AddressB, 1, 2, new byte[2000]);
        Assert.False(sender.Send(tooBig));
        Assert.Equal(1, sender.FailedTooBig);

        // A netfilter OUTPUT drop turns into EPERM for the sender.
        NamespacePair.Exec(lab.A, "nft", "add table ip rc; add chain ip rc out { type filter hook output priority 0; }; add rule ip rc out udp dport 7 drop");
        var dropped = TestFrames.Ipv4Udp(SpoofedSource, NamespacePair.AddressB, 1, 7, "x"u8);
        Assert.False(sender.Send(dropped));
        Assert.Equal(1, sender.FailedNotPermitted);
        Assert.Equal(1, sender.LastErrno); // EPERM

        // No route: ENETUNREACH lands in FailedOther.
        var unroutable = TestFrames.Ipv4Udp(SpoofedSource, IPAddress.Parse("192.0.2.1"), 1, 2, "x"u8);
        Assert.False(sender.Send(unroutable));
        Assert.Equal(1, sender.FailedOther);

        Assert.Equal(3, sender.Failed);
        Assert.Equal(0, sender.Sent);
        Assert.Throws<ArgumentException>(() => sender.Send(new byte[10]));
    }

    [Fact]
    public void Steady_state_sending_does_not_allocate()
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces and raw sockets");
        using var lab = new NamespacePair();
        var (allocated, sent, seconds) = NetworkNamespace.RunIn(lab.A, () =>
        {
            using var sender = new RawIpSender();
            var packet = TestFrames.Ipv4Udp(SpoofedSource, NamespacePair.AddressB, 1, 9, new byte[18]);
            for (var i = 0; i < 1000; i++)
            {
                sender.Send(packet); // warm-up: JIT, ARP
            }

            var started = Stopwatch.GetTimestamp(); // not StartNew: a Stopwatch object would be the only allocation
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 100_000; i++)
            {
                sender.Send(packet);
            }

            var allocatedBytes = GC.GetAllocatedBytesForCurrentThread() - before;
            return (allocatedBytes, sender.Sent, Stopwatch.GetElapsedTime(started).TotalSeconds);
        });
        TestContext.Current.SendDiagnosticMessage($"raw send: {100_000 / seconds:F0} packets/s (64 B), {allocated} bytes allocated");
        Assert.Equal(101_000, sent);
        Assert.Equal(0, allocated);
    }

    private static void WaitUntil(Func<bool> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!condition() && watch.Elapsed < TimeSpan.FromSeconds(5))
        {
            Thread.Sleep(10);
        }
    }
}
