using System.Diagnostics;
using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Packets;
using ReplayCluster.PacketIO;

namespace ReplayCluster.Lab.Tests.Foundation;

/// <summary>
/// LiveCapture on the online host's client-facing interface sees every request nginx serves: the count of captured
/// GET segments equals the lines nginx added to its access log, with no kernel drops.
/// </summary>
/// <remarks>
/// "No kernel drops" at ~31k requests/s is a measurement of the capture thread keeping up, so it runs alone after the
/// parallel collections, in a lab of its own: beside three other collections (the suite of 2026-12-02, four at a time)
/// the kernel dropped 1,694 of 126,459 packets while a short-connection load ran next to it.
/// </remarks>
[Collection(MeasuredAloneCollection.Name)]
public sealed class LiveCaptureLabTests(LabFixture fixture, ITestOutputHelper output) : IClassFixture<LabFixture>
{
    private const int Connections = 4;
    private readonly Lab.Lab _lab = fixture.Lab;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Captured_requests_equal_the_online_access_log_lines_with_no_kernel_drops(bool keepAlive)
    {
        var filter = $"tcp and dst port {_lab.OnlineNginxPort} and dst host {_lab.OnlineIp}";
        using var capture = NetworkNamespace.RunIn(
            _lab.OnlineNamespace,
            () => LiveCapture.Open(new LiveCaptureOptions { Interface = _lab.OnlineInterface, Filter = filter }));
        var counter = new RequestCounter(LinkTypes.FromPcap(capture.LinkType));
        var before = await _lab.WaitForStableOnlineRequestCountAsync(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5), Ct);
        capture.Start(counter.OnFrame);

        var wrk = await _lab.RunWrkAsync(Connections, TimeSpan.FromSeconds(2), keepAlive: keepAlive, cancellationToken: Ct);

        var after = await _lab.WaitForStableOnlineRequestCountAsync(TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(10), Ct);
        // The last request segments arrived before nginx logged them; give the capture thread time to drain the ring.
        await WaitUntilStableAsync(() => capture.FramesDelivered);
        var statistics = capture.Statistics;
        capture.Stop();

        var logged = after - before;
        output.WriteLine(
            $"keep-alive={keepAlive}: wrk {wrk.Requests} requests ({wrk.RequestsPerSecond:0} req/s); access log +{logged}; " +
            $"captured GET segments {counter.GetSegments} ({counter.DistinctRequests} distinct, {counter.Frames} frames, " +
            $"{counter.Rejected} parse rejects); pcap received {statistics.Received}, kernel dropped {statistics.KernelDropped}, " +
            $"interface dropped {statistics.InterfaceDropped}");
        Assert.True(logged > 1000, $"only {logged} requests were logged:\n{wrk.RawOutput}");
        Assert.Equal(0, statistics.KernelDropped);
        Assert.Equal(0, counter.Rejected);
        Assert.Equal(logged, counter.DistinctRequests);
        // A retransmitted request segment would be counted twice above but is the same request; the lab loses nothing.
        Assert.Equal(counter.DistinctRequests, counter.GetSegments);
    }

    /// <summary>
    /// The capture node's shard threads each read one ring of a PACKET_FANOUT group (ShardCapture): together the rings
    /// see every request nginx logged, with no kernel drop, and every connection's segments meet one ring only. Short
    /// connections: thousands of them, so the spread shows.
    /// </summary>
    [Fact]
    public async Task Captured_requests_over_a_fanout_of_two_rings_equal_the_access_log_lines_and_each_connection_meets_one_ring()
    {
        const bool keepAlive = false;
        var filter = $"tcp and dst port {_lab.OnlineNginxPort} and dst host {_lab.OnlineIp}";
        using var capture = NetworkNamespace.RunIn(
            _lab.OnlineNamespace,
            () => FanoutCapture.Open(new LiveCaptureOptions { Interface = _lab.OnlineInterface, Filter = filter, Reader = LiveCaptureReader.Ring }, members: 2));
        var counters = capture.Members.Select(m => new RequestCounter(LinkTypes.FromPcap(m.LinkType))).ToArray();
        var before = await _lab.WaitForStableOnlineRequestCountAsync(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5), Ct);

        // One reader thread per ring, as the shard threads are (they poll; a 1 ms nap is the same for a test).
        var reading = true;
        var readers = capture.Members.Select(member => new Thread(() =>
        {
            var handler = (FrameHandler)counters[member.Index].OnFrame;
            while (Volatile.Read(ref reading))
            {
                if (member.Dispatch(handler) == 0)
                {
                    Thread.Sleep(1);
                }
            }
        }) { IsBackground = true, Name = $"fanout reader {member.Index}" }).ToList();
        readers.ForEach(t => t.Start());
        try
        {
            var wrk = await _lab.RunWrkAsync(Connections, TimeSpan.FromSeconds(2), keepAlive: keepAlive, cancellationToken: Ct);
            var after = await _lab.WaitForStableOnlineRequestCountAsync(TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(10), Ct);
            await WaitUntilStableAsync(() => capture.Members.Sum(m => m.FramesDelivered));
            Volatile.Write(ref reading, false);
            readers.ForEach(t => t.Join());
            var statistics = capture.Statistics;

            var logged = after - before;
            output.WriteLine(
                $"keep-alive={keepAlive}: wrk {wrk.Requests} requests ({wrk.RequestsPerSecond:0} req/s); access log +{logged}; " +
                $"per ring: {string.Join(", ", counters.Select((c, i) => $"{i}: {c.DistinctRequests} requests on {c.Connections.Count} connections"))}; " +
                $"received {statistics.Received}, kernel dropped {statistics.KernelDropped}");
            Assert.True(logged > 1000, $"only {logged} requests were logged:\n{wrk.RawOutput}");
            Assert.Equal(0, statistics.KernelDropped);
            Assert.All(counters, c => Assert.Equal(0, c.Rejected));
            Assert.Equal(logged, counters.Sum(c => c.DistinctRequests));
            Assert.Empty(counters[0].Connections.Intersect(counters[1].Connections));
            Assert.All(counters, c => Assert.True(c.DistinctRequests > logged / 10, $"one ring took {c.DistinctRequests} of {logged}"));
        }
        finally
        {
            Volatile.Write(ref reading, false);
            readers.ForEach(t => t.Join());
        }
    }

    private static async Task WaitUntilStableAsync(Func<long> read)
    {
        var last = read();
        var watch = Stopwatch.StartNew();
        var stableSince = watch.Elapsed;
        while (watch.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(50, Ct);
            var now = read();
            if (now != last)
            {
                last = now;
                stableSince = watch.Elapsed;
            }
            else if (watch.Elapsed - stableSince >= TimeSpan.FromMilliseconds(200))
            {
                return;
            }
        }
    }

    /// <summary>Counts request segments (payload starting with <c>GET </c>) on the capture thread.</summary>
    private sealed class RequestCounter(LinkType linkType)
    {
        private readonly HashSet<(ushort Port, uint Sequence)> _requests = [];

        /// <summary>The client ports of the connections seen (the lab has one client address).</summary>
        public HashSet<ushort> Connections { get; } = [];

        public long Frames { get; private set; }

        public long Rejected { get; private set; }

        public long GetSegments { get; private set; }

        public int DistinctRequests => _requests.Count;

        public void OnFrame(ReadOnlySpan<byte> frame, in FrameInfo info)
        {
            Frames++;
            if (PacketParser.TryParse(frame, linkType, out var packet) != ParseResult.Ok)
            {
                Rejected++;
                return;
            }

            Connections.Add(packet.SourcePort);
            if (packet.CapturedPayloadLength >= 4 && frame.Slice(packet.PayloadOffset, 4).SequenceEqual("GET "u8))
            {
                GetSegments++;
                _requests.Add((packet.SourcePort, packet.Sequence));
            }
        }
    }
}
