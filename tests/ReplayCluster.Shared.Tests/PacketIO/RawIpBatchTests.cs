using System.Diagnostics;
using System.Net;
using ReplayCluster.PacketIO;
using Xunit;

namespace ReplayCluster.Tests.PacketIO;

[Collection(nameof(NetworkLabCollection))]
public sealed class RawIpBatchTests
{
    private static readonly IPAddress SpoofedSource = IPAddress.Parse("10.200.0.6");

    [Fact]
    public void A_batch_leaves_in_one_call_in_order_byte_for_byte_and_a_refused_packet_does_not_stop_the_rest()
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

        // A netfilter OUTPUT drop refuses port 7 (EPERM): that message is counted and skipped, the others go.
        NamespacePair.Exec(lab.A, "nft", "add table ip rc; add chain ip rc out { type filter hook output priority 0; }; add rule ip rc out udp dport 7 drop");
        using var sender = NetworkNamespace.RunIn(lab.A, () => new RawIpSender(sendBufferBytes: 1 << 20));
        using var batch = new RawIpBatch(capacity: 8);
        var packets = Enumerable.Range(0, 8)
            .Select(i => TestFrames.Ipv4Udp(SpoofedSource, NamespacePair.AddressB, (ushort)(40000 + i), (ushort)(i == 3 ? 7 : 7777), new byte[100 + (i * 150)]))
            .ToArray();
        foreach (var packet in packets)
        {
            packet.CopyTo(batch.NextSlot);
            batch.Commit(packet.Length);
        }

        Assert.True(batch.IsFull);
        Assert.Equal(7, batch.Send(sender));
        Assert.Equal(0, batch.Count);

        var expected = packets.Where((_, i) => i != 3).ToList();
        WaitUntil(() => { lock (received) { return received.Count >= expected.Count; } });
        capture.Stop();
        Assert.Equal((7L, 1L), (sender.Sent, sender.FailedNotPermitted));
        Assert.Equal(expected, received);
        Assert.Throws<ArgumentOutOfRangeException>(() => batch.Commit(RawIpBatch.SlotLength + 1));
    }

    [Fact]
    public void Steady_state_batches_do_not_allocate()
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces and raw sockets");
        using var lab = new NamespacePair();
        var (allocated, sent) = NetworkNamespace.RunIn(lab.A, () =>
        {
            using var sender = new RawIpSender();
            using var batch = new RawIpBatch();
            var packet = TestFrames.Ipv4Udp(SpoofedSource, NamespacePair.AddressB, 1, 9, new byte[18]);
            void Round()
            {
                while (!batch.IsFull)
                {
                    packet.CopyTo(batch.NextSlot);
                    batch.Commit(packet.Length);
                }

                batch.Send(sender);
            }

            for (var i = 0; i < 20; i++)
            {
                Round(); // warm-up: JIT, ARP
            }

            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 1000; i++)
            {
                Round();
            }

            return (GC.GetAllocatedBytesForCurrentThread() - before, sender.Sent);
        });
        Assert.Equal(1020 * 64, sent);
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
