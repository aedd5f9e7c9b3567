using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ReplayCluster.PacketIO;
using Xunit;

namespace ReplayCluster.Tests.PacketIO;

/// <summary>The direct TPACKET_V3 reader on real sockets inside throwaway network namespaces (root only).</summary>
[Collection(nameof(NetworkLabCollection))]
public sealed class RingCaptureTests
{
    private const int UdpPort = 9999;

    private static Socket Sender(NamespacePair lab) =>
        NetworkNamespace.RunIn(lab.A, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp));

    private static int DestinationPort(ReadOnlySpan<byte> frame) => (frame[14 + 20 + 2] << 8) | frame[14 + 20 + 3];

    private static void WaitFor(Func<bool> condition, TimeSpan limit)
    {
        var watch = Stopwatch.StartNew();
        while (!condition() && watch.Elapsed < limit)
        {
            Thread.Sleep(10);
        }
    }

    [Fact]
    public void A_filter_change_while_running_lets_only_the_new_filters_frames_through()
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces and capture");
        using var lab = new NamespacePair();
        using var capture = NetworkNamespace.RunIn(lab.B, () => LiveCapture.Open(new LiveCaptureOptions
        {
            Interface = NamespacePair.DeviceB,
            Filter = $"udp and dst port {UdpPort}",
            Reader = LiveCaptureReader.Ring,
            BufferSizeBytes = 1 << 20,
        }));
        Assert.Equal(LiveCaptureReader.Ring, capture.Reader);
        var ports = new System.Collections.Concurrent.ConcurrentQueue<int>();
        capture.Start((ReadOnlySpan<byte> frame, in FrameInfo _) => ports.Enqueue(DestinationPort(frame)));
        using var sender = Sender(lab);
        var first = new IPEndPoint(NamespacePair.AddressB, UdpPort);
        var second = new IPEndPoint(NamespacePair.AddressB, UdpPort + 1);
        sender.SendTo(new byte[1], second); // ARP
        Thread.Sleep(100);
        for (var i = 0; i < 100; i++)
        {
            sender.SendTo(new byte[8], first);
            sender.SendTo(new byte[8], second);
        }

        WaitFor(() => ports.Count >= 100, TimeSpan.FromSeconds(5));
        Assert.Equal(100, ports.Count);
        Assert.All(ports, p => Assert.Equal(UdpPort, p));

        // Frames queued under the old filter but not yet read when the filter changes are filtered again in user space.
        capture.ChangeFilter($"udp and dst port {UdpPort + 1}");
        Assert.True(capture.IsRunning);
        ports.Clear();
        for (var i = 0; i < 100; i++)
        {
            sender.SendTo(new byte[8], first);
            sender.SendTo(new byte[8], second);
        }

        WaitFor(() => ports.Count >= 100, TimeSpan.FromSeconds(5));
        Thread.Sleep(50);
        capture.Stop();
        Assert.Equal(100, ports.Count);
        Assert.All(ports, p => Assert.Equal(UdpPort + 1, p));
        Assert.Equal(0, capture.RingWalker!.MalformedBlocks);

        var invalid = Assert.Throws<LiveCaptureException>(() => capture.ChangeFilter("udp port eighty"));
        Assert.Contains("\"udp port eighty\"", invalid.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Statistics_accumulate_across_reads_and_count_the_drops_of_a_full_ring()
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces and capture");
        using var lab = new NamespacePair();

        // Two 4 KiB blocks and a handler that stalls: the ring fills and the kernel drops.
        using var capture = NetworkNamespace.RunIn(lab.B, () => LiveCapture.Open(new LiveCaptureOptions
        {
            Interface = NamespacePair.DeviceB,
            Filter = $"udp and dst port {UdpPort}",
            Reader = LiveCaptureReader.Ring,
            RingBlockSizeBytes = 4096,
            BufferSizeBytes = 8192,
        }));
        using var release = new ManualResetEventSlim();
        capture.Start((ReadOnlySpan<byte> _, in FrameInfo _) => release.Wait());
        using var sender = Sender(lab);
        var target = new IPEndPoint(NamespacePair.AddressB, UdpPort);
        sender.SendTo(new byte[1], new IPEndPoint(NamespacePair.AddressB, UdpPort + 1)); // ARP
        Thread.Sleep(100);
        for (var i = 0; i < 200; i++)
        {
            sender.SendTo(new byte[100], target);
        }

        Thread.Sleep(100);
        var first = capture.Statistics;
        for (var i = 0; i < 100; i++)
        {
            sender.SendTo(new byte[100], target);
        }

        Thread.Sleep(100);
        var second = capture.Statistics;
        release.Set();
        WaitFor(() => capture.FramesDelivered + capture.Statistics.KernelDropped >= 300, TimeSpan.FromSeconds(5));
        capture.Stop();
        var last = capture.Statistics;

        TestContext.Current.SendDiagnosticMessage($"ring stats {first} -> {second} -> {last}, delivered {capture.FramesDelivered}");
        Assert.Equal(200, first.Received);
        Assert.True(first.KernelDropped > 100, $"a stalled 8 KiB ring dropped only {first.KernelDropped} of 200");
        Assert.Equal(300, second.Received); // PACKET_STATISTICS resets on read: the counters must be summed
        Assert.True(second.KernelDropped >= first.KernelDropped + 90, $"{first} -> {second}");
        Assert.Equal(300, last.Received);
        Assert.Equal(300, capture.FramesDelivered + last.KernelDropped);
    }

    [Fact]
    public void A_frame_larger_than_a_block_is_truncated_with_its_wire_length_and_a_fitting_one_is_whole()
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces and capture");
        using var lab = new NamespacePair();
        NamespacePair.Exec(lab.A, "ip", "link", "set", NamespacePair.DeviceA, "mtu", "65000");
        NamespacePair.Exec(lab.B, "ip", "link", "set", NamespacePair.DeviceB, "mtu", "65000");
        FrameInfo Capture(int blockSize)
        {
            using var capture = NetworkNamespace.RunIn(lab.B, () => LiveCapture.Open(new LiveCaptureOptions
            {
                Interface = NamespacePair.DeviceB,
                Filter = $"udp and dst port {UdpPort}",
                Reader = LiveCaptureReader.Ring,
                RingBlockSizeBytes = blockSize,
                BufferSizeBytes = 4 * blockSize,
            }));
            var infos = new System.Collections.Concurrent.ConcurrentQueue<FrameInfo>();
            capture.Start((ReadOnlySpan<byte> frame, in FrameInfo info) =>
            {
                Assert.Equal(info.CapturedLength, frame.Length);
                infos.Enqueue(info);
            });
            using var sender = Sender(lab);
            sender.SendTo(new byte[60_000], new IPEndPoint(NamespacePair.AddressB, UdpPort));
            WaitFor(() => !infos.IsEmpty, TimeSpan.FromSeconds(5));
            capture.Stop();
            return Assert.Single(infos);
        }

        // 60,000 bytes of UDP payload + 8 + 20 + 14 = 60,042 bytes on the wire, in one frame at MTU 65000.
        var whole = Capture(128 * 1024);
        Assert.Equal(60_042, whole.OriginalLength);
        Assert.Equal(60_042, whole.CapturedLength);
        var cut = Capture(16 * 1024);
        Assert.Equal(60_042, cut.OriginalLength);
        Assert.True(cut.CapturedLength is > 1000 and < 16 * 1024, $"captured {cut.CapturedLength}");
    }

    [Fact]
    public void Stop_and_Dispose_under_traffic_end_promptly()
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces and capture");
        using var lab = new NamespacePair();
        var capture = NetworkNamespace.RunIn(lab.B, () => LiveCapture.Open(new LiveCaptureOptions
        {
            Interface = NamespacePair.DeviceB,
            Filter = "udp",
            Reader = LiveCaptureReader.Ring,
        }));
        long frames = 0;
        capture.Start((ReadOnlySpan<byte> _, in FrameInfo _) => frames++);
        using var sender = Sender(lab);
        var sending = true;
        var traffic = new Thread(() =>
        {
            var target = new IPEndPoint(NamespacePair.AddressB, UdpPort);
            while (Volatile.Read(ref sending))
            {
                sender.SendTo(new byte[32], target);
            }
        });
        traffic.Start();
        try
        {
            WaitFor(() => capture.FramesDelivered > 1000, TimeSpan.FromSeconds(5));
            var watch = Stopwatch.StartNew();
            capture.Stop();
            Assert.True(watch.Elapsed < TimeSpan.FromMilliseconds(500), $"Stop under traffic took {watch.Elapsed}");
            capture.Start((ReadOnlySpan<byte> _, in FrameInfo _) => frames++);
            var before = capture.FramesDelivered;
            WaitFor(() => capture.FramesDelivered > before + 1000, TimeSpan.FromSeconds(5));
            Assert.True(capture.FramesDelivered > before + 1000, "no frames after a restart");
            watch.Restart();
            capture.Dispose();
            Assert.True(watch.Elapsed < TimeSpan.FromMilliseconds(500), $"Dispose under traffic took {watch.Elapsed}");
            Assert.False(capture.IsRunning);
            Assert.Throws<ObjectDisposedException>(() => capture.Statistics);
        }
        finally
        {
            Volatile.Write(ref sending, false);
            traffic.Join(TimeSpan.FromSeconds(5));
            capture.Dispose();
        }
    }

    [Fact]
    public void The_any_interface_and_immediate_mode_fall_back_to_libpcap()
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces and capture");
        using var lab = new NamespacePair();
        using var any = NetworkNamespace.RunIn(lab.B, () => LiveCapture.Open(new LiveCaptureOptions { Interface = "any", Reader = LiveCaptureReader.Ring }));
        Assert.Equal(LiveCaptureReader.Libpcap, any.Reader);
        using var immediate = NetworkNamespace.RunIn(lab.B, () => LiveCapture.Open(new LiveCaptureOptions
        {
            Interface = NamespacePair.DeviceB,
            Reader = LiveCaptureReader.Ring,
            Immediate = true,
        }));
        Assert.Equal(LiveCaptureReader.Libpcap, immediate.Reader);
    }
}
