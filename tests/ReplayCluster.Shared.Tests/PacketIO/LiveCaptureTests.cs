using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ReplayCluster.PacketIO;
using Xunit;

namespace ReplayCluster.Tests.PacketIO;

/// <summary>Real captures inside throwaway network namespaces (root only; skipped otherwise).</summary>
[Collection(nameof(NetworkLabCollection))]
public sealed class LiveCaptureTests
{
    private const int UdpPort = 9999;

    [Theory]
    [InlineData(LiveCaptureReader.Libpcap)]
    [InlineData(LiveCaptureReader.Ring)]
    public void Captures_every_datagram_sent_across_a_veth_pair_without_kernel_drops(LiveCaptureReader reader)
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces and capture");
        using var lab = new NamespacePair();
        using var capture = NetworkNamespace.RunIn(lab.B, () => LiveCapture.Open(new LiveCaptureOptions
        {
            Interface = NamespacePair.DeviceB,
            Filter = $"udp and dst port {UdpPort}",
            Reader = reader,
        }));
        Assert.Equal(1, capture.LinkType);
        Assert.Equal(reader, capture.Reader);

        long matching = 0;
        long firstNanos = 0;
        long lastNanos = 0;
        capture.Start((ReadOnlySpan<byte> frame, in FrameInfo info) =>
        {
            // Decode by hand: Ethernet type IPv4, destination B, UDP to our port.
            if (BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) == 0x0800
                && frame[14 + 9] == 17
                && frame.Slice(14 + 16, 4).SequenceEqual(NamespacePair.AddressB.GetAddressBytes())
                && BinaryPrimitives.ReadUInt16BigEndian(frame[(14 + 20 + 2)..]) == UdpPort
                && info.CapturedLength == frame.Length)
            {
                if (matching == 0)
                {
                    firstNanos = info.TimestampNanos;
                }

                lastNanos = info.TimestampNanos;
                matching++;
            }
        });

        using var sender = NetworkNamespace.RunIn(lab.A, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp));
        var target = new IPEndPoint(NamespacePair.AddressB, UdpPort);
        var other = new IPEndPoint(NamespacePair.AddressB, UdpPort + 1);

        // Resolve ARP first: datagrams queued behind an unresolved neighbour can be dropped before any tap sees them.
        sender.SendTo(new byte[1], other);
        Thread.Sleep(200);

        const int datagrams = 200_000;
        var payload = new byte[18]; // 64-byte frames on the wire
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < datagrams; i++)
        {
            sender.SendTo(payload, SocketFlags.None, target);

            // veth hands frames to the peer's per-CPU backlog (net.core.netdev_max_backlog = 1000), which drops
            // silently before any tap; pause briefly every few hundred datagrams so only the capture is measured.
            if ((i & 255) == 255)
            {
                Thread.Sleep(0);
            }
        }

        var sendSeconds = watch.Elapsed.TotalSeconds;
        var deadline = Stopwatch.StartNew();
        while (Interlocked.Read(ref matching) < datagrams && deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            Thread.Sleep(20);
        }

        capture.Stop();
        var statistics = capture.Statistics;
        var backlogDrops = BacklogDrops(lab.B);
        TestContext.Current.SendDiagnosticMessage(
            $"live capture: {matching}/{datagrams} frames, sent at {datagrams / sendSeconds:F0}/s, " +
            $"captured span {(lastNanos - firstNanos) / 1e6:F1} ms = {matching / ((lastNanos - firstNanos) / 1e9):F0}/s, " +
            $"stats {statistics}, veth-b rx_dropped {backlogDrops}");
        Assert.Equal(0, backlogDrops);
        Assert.Equal(datagrams, matching);
        Assert.Equal(0, statistics.KernelDropped);
        Assert.True(statistics.Received >= datagrams, $"pcap_stats received {statistics.Received}");
    }

    [Theory]
    [InlineData(LiveCaptureReader.Libpcap)]
    [InlineData(LiveCaptureReader.Ring)]
    public void A_missing_interface_is_named_in_the_error(LiveCaptureReader reader)
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for capture");
        var error = Assert.Throws<LiveCaptureException>(() => LiveCapture.Open(new LiveCaptureOptions { Interface = "rc-no-such0", Reader = reader }));
        Assert.Contains("'rc-no-such0'", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(LiveCaptureReader.Libpcap)]
    [InlineData(LiveCaptureReader.Ring)]
    public void An_invalid_filter_is_named_in_the_error(LiveCaptureReader reader)
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces and capture");
        using var lab = new NamespacePair();
        var error = Assert.Throws<LiveCaptureException>(() => NetworkNamespace.RunIn(lab.A, () => LiveCapture.Open(new LiveCaptureOptions
        {
            Interface = NamespacePair.DeviceA,
            Filter = "tcp port eighty",
            Reader = reader,
        })));
        Assert.Contains("\"tcp port eighty\"", error.Message, StringComparison.Ordinal);
        Assert.Contains(NamespacePair.DeviceA, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(LiveCaptureReader.Libpcap)]
    [InlineData(LiveCaptureReader.Ring)]
    public void Stop_returns_promptly_on_an_idle_interface_and_can_restart(LiveCaptureReader reader)
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces and capture");
        using var lab = new NamespacePair();
        using var capture = NetworkNamespace.RunIn(lab.A, () => LiveCapture.Open(new LiveCaptureOptions { Interface = NamespacePair.DeviceA, Filter = "udp port 1", Reader = reader }));
        for (var round = 0; round < 3; round++)
        {
            capture.Start((ReadOnlySpan<byte> _, in FrameInfo _) => { });
            Thread.Sleep(100);
            Assert.True(capture.IsRunning);
            var watch = Stopwatch.StartNew();
            capture.Stop();
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"Stop took {watch.Elapsed}");
            Assert.False(capture.IsRunning);
        }
    }

    [Theory]
    [InlineData(LiveCaptureReader.Libpcap)]
    [InlineData(LiveCaptureReader.Ring)]
    public void An_idle_capture_sleeps_until_a_frame_or_a_stop_arrives(LiveCaptureReader reader)
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces and capture");
        using var lab = new NamespacePair();
        using var capture = NetworkNamespace.RunIn(lab.B, () => LiveCapture.Open(new LiveCaptureOptions { Interface = NamespacePair.DeviceB, Filter = "udp", Reader = reader }));
        var frames = 0;
        capture.Start((ReadOnlySpan<byte> _, in FrameInfo _) => Interlocked.Increment(ref frames));
        var idle = IdleWakeUps(capture, TimeSpan.FromSeconds(1));

        // A poll timeout of 50 ms woke the loop ~20 times in this second; now nothing arrives, so nothing wakes it.
        Assert.True(idle <= 2, $"the idle capture thread woke {idle} times in 1 s");

        using var sender = NetworkNamespace.RunIn(lab.A, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp));
        var deadline = Stopwatch.StartNew();
        while (Volatile.Read(ref frames) == 0 && deadline.Elapsed < TimeSpan.FromSeconds(5))
        {
            sender.SendTo(new byte[4], new IPEndPoint(NamespacePair.AddressB, UdpPort));
            Thread.Sleep(20);
        }

        Assert.True(Volatile.Read(ref frames) > 0, "a frame after the idle second was not delivered");
        var watch = Stopwatch.StartNew();
        capture.Stop();
        Assert.True(watch.Elapsed < TimeSpan.FromMilliseconds(500), $"Stop took {watch.Elapsed}");
    }

    [Theory]
    [InlineData(LiveCaptureReader.Libpcap)]
    [InlineData(LiveCaptureReader.Ring)]
    public void A_side_input_is_read_on_the_capture_thread_when_it_has_data_and_never_wakes_it_otherwise(LiveCaptureReader reader)
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces and capture");
        using var lab = new NamespacePair();
        using var capture = NetworkNamespace.RunIn(lab.B, () => LiveCapture.Open(new LiveCaptureOptions { Interface = NamespacePair.DeviceB, Filter = "udp", Reader = reader }));
        using var input = new DatagramInput();
        capture.Start((ReadOnlySpan<byte> _, in FrameInfo _) => { }, input: input);
        Assert.True(IdleWakeUps(capture, TimeSpan.FromMilliseconds(500)) <= 2, "the idle capture thread woke with a quiet side input");

        input.Send(3);
        var deadline = Stopwatch.StartNew();
        while (Volatile.Read(ref input.Read) < 3 && deadline.Elapsed < TimeSpan.FromSeconds(5))
        {
            Thread.Sleep(10);
        }

        Assert.Equal(3, Volatile.Read(ref input.Read));
        Assert.Equal(capture.CaptureThreadId, Volatile.Read(ref input.ReaderThreadId));
        capture.Stop();
    }

    // A UDP socket on loopback as the side input: OnReady takes every datagram waiting (never blocking).
    private sealed class DatagramInput : ICaptureSideInput, IDisposable
    {
        private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp) { Blocking = false };
        public int Read;
        public int ReaderThreadId;

        public DatagramInput()
        {
            _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _socket.Connect(_socket.LocalEndPoint!);
        }

        public void Send(int datagrams)
        {
            for (var i = 0; i < datagrams; i++)
            {
                _socket.Send([1]);
            }
        }

        public int Gather(Span<int> into)
        {
            into[0] = (int)_socket.Handle;
            return 1;
        }

        public void OnReady(int index)
        {
            Volatile.Write(ref ReaderThreadId, LibC.gettid());
            var buffer = new byte[16];
            while (_socket.Available > 0)
            {
                _socket.Receive(buffer);
                Interlocked.Increment(ref Read);
            }
        }

        public void Dispose() => _socket.Dispose();
    }

    [Theory]
    [InlineData(LiveCaptureReader.Libpcap)]
    [InlineData(LiveCaptureReader.Ring)]
    public void A_throwing_handler_stops_the_loop_and_Stop_reports_it(LiveCaptureReader reader)
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces and capture");
        using var lab = new NamespacePair();
        using var capture = NetworkNamespace.RunIn(lab.B, () => LiveCapture.Open(new LiveCaptureOptions { Interface = NamespacePair.DeviceB, Filter = "udp", Reader = reader }));
        capture.Start((ReadOnlySpan<byte> _, in FrameInfo _) => throw new InvalidDataException("handler broke"));
        using var sender = NetworkNamespace.RunIn(lab.A, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp));
        var deadline = Stopwatch.StartNew();
        while (capture.Fault is null && deadline.Elapsed < TimeSpan.FromSeconds(5))
        {
            sender.SendTo(new byte[4], new IPEndPoint(NamespacePair.AddressB, UdpPort));
            Thread.Sleep(20);
        }

        var error = Assert.Throws<LiveCaptureException>(capture.Stop);
        Assert.IsType<InvalidDataException>(error.InnerException);
        Assert.Contains(NamespacePair.DeviceB, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(LiveCaptureReader.Libpcap)]
    [InlineData(LiveCaptureReader.Ring)]
    public void Stop_called_from_the_handler_ends_the_loop(LiveCaptureReader reader)
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces and capture");
        using var lab = new NamespacePair();
        using var capture = NetworkNamespace.RunIn(lab.B, () => LiveCapture.Open(new LiveCaptureOptions { Interface = NamespacePair.DeviceB, Filter = "udp", Reader = reader }));
        LiveCapture? self = capture;
        capture.Start((ReadOnlySpan<byte> _, in FrameInfo _) => self.Stop());
        using var sender = NetworkNamespace.RunIn(lab.A, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp));
        var deadline = Stopwatch.StartNew();
        while (capture.IsRunning && deadline.Elapsed < TimeSpan.FromSeconds(5))
        {
            for (var i = 0; i < 50; i++)
            {
                sender.SendTo(new byte[4], new IPEndPoint(NamespacePair.AddressB, UdpPort));
            }

            Thread.Sleep(20);
        }

        Assert.False(capture.IsRunning);
        capture.Stop();
        Assert.True(capture.FramesDelivered >= 1);
    }

    // The capture thread's context switches over `window` once it runs and settled (200 ms after it started).
    private static long IdleWakeUps(LiveCapture capture, TimeSpan window)
    {
        var deadline = Stopwatch.StartNew();
        while (capture.CaptureThreadId == 0 && deadline.Elapsed < TimeSpan.FromSeconds(5))
        {
            Thread.Sleep(10);
        }

        Thread.Sleep(200);
        var before = ContextSwitches(capture.CaptureThreadId);
        Thread.Sleep(window);
        return ContextSwitches(capture.CaptureThreadId) - before;
    }

    private static long ContextSwitches(int threadId) =>
        File.ReadLines($"/proc/self/task/{threadId.ToString(System.Globalization.CultureInfo.InvariantCulture)}/status")
            .Where(l => l.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || l.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
            .Sum(l => long.Parse(l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim(), System.Globalization.CultureInfo.InvariantCulture));

    private static long BacklogDrops(string ns)
    {
        var text = NamespacePair.Exec(ns, "cat", $"/sys/class/net/{NamespacePair.DeviceB}/statistics/rx_dropped");
        return long.Parse(text.Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>Network-lab tests run one at a time: they share two CPU cores and measure drop-free capture.</summary>
[CollectionDefinition(nameof(NetworkLabCollection), DisableParallelization = true)]
public sealed class NetworkLabCollection;
