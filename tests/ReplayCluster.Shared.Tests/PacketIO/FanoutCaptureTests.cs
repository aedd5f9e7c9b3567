using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ReplayCluster.PacketIO;
using Xunit;

namespace ReplayCluster.Tests.PacketIO;

/// <summary>
/// Capture rings in a PACKET_FANOUT group (what the capture node's shard threads read) on real sockets inside
/// throwaway network namespaces (root only).
/// </summary>
[Collection(nameof(NetworkLabCollection))]
public sealed class FanoutCaptureTests
{
    private const int UdpPort = 9999;

    private static int SourcePort(ReadOnlySpan<byte> frame) => (frame[14 + 20] << 8) | frame[14 + 20 + 1];

    private static int DestinationPort(ReadOnlySpan<byte> frame) => (frame[14 + 20 + 2] << 8) | frame[14 + 20 + 3];

    private static FanoutCapture Open(NamespacePair lab, int members, string filter) =>
        NetworkNamespace.RunIn(lab.B, () => FanoutCapture.Open(new LiveCaptureOptions
        {
            Interface = NamespacePair.DeviceB,
            Filter = filter,
            Reader = LiveCaptureReader.Ring,
            // 64 blocks each: the test sends its frames first and reads them after, and the kernel retires a block
            // per millisecond whatever it holds.
            BufferSizeBytes = members * 64 * 64 * 1024,
            RingBlockSizeBytes = 64 * 1024,
        }, members));

    // Reads every member on the calling thread (a shard thread reads one) until `done` or the limit.
    private static void ReadUntil(FanoutCapture capture, Func<bool> done, TimeSpan limit, Action<int, int> onFrame)
    {
        var handlers = capture.Members.Select(m => (FrameHandler)((ReadOnlySpan<byte> frame, in FrameInfo _) => onFrame(m.Index, SourcePort(frame) << 16 | DestinationPort(frame)))).ToArray();
        var watch = Stopwatch.StartNew();
        while (!done() && watch.Elapsed < limit)
        {
            foreach (var member in capture.Members)
            {
                member.Dispatch(handlers[member.Index]);
            }

            Thread.Sleep(2);
        }

        // Whatever is late is read too: a frame delivered twice or to a second member must show.
        Thread.Sleep(20);
        foreach (var member in capture.Members)
        {
            member.Dispatch(handlers[member.Index]);
        }
    }

    // Sockets in namespace A, each bound to its own source port: one flow each.
    private static List<Socket> Flows(NamespacePair lab, int count) =>
        NetworkNamespace.RunIn(lab.A, () => Enumerable.Range(0, count).Select(i =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(NamespacePair.AddressA, 40_000 + i));
            return socket;
        }).ToList());

    [Fact]
    public void Every_flow_meets_one_member_and_the_flows_spread_over_all_of_them()
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces and capture");
        using var lab = new NamespacePair();
        using var capture = Open(lab, members: 3, $"udp and dst port {UdpPort}");
        Assert.Equal(3, capture.Members.Count);
        var flows = Flows(lab, 48);
        try
        {
            var target = new IPEndPoint(NamespacePair.AddressB, UdpPort);
            flows[0].SendTo(new byte[1], new IPEndPoint(NamespacePair.AddressB, UdpPort + 1)); // ARP, filtered out
            Thread.Sleep(100);
            const int PerFlow = 20;
            for (var round = 0; round < PerFlow; round++)
            {
                foreach (var flow in flows)
                {
                    flow.SendTo(new byte[16], target);
                }
            }

            var seen = new Dictionary<int, List<int>>(); // source port -> the member of each of its frames
            var total = 0;
            ReadUntil(capture, () => total >= flows.Count * PerFlow, TimeSpan.FromSeconds(5), (member, ports) =>
            {
                Assert.Equal(UdpPort, ports & 0xffff);
                var source = ports >> 16;
                if (!seen.TryGetValue(source, out var members))
                {
                    seen[source] = members = [];
                }

                members.Add(member);
                total++;
            });

            var perMemberStatistics = string.Join(", ", capture.Members.Select(m => $"{m.Index}: {m.Statistics} delivered {m.FramesDelivered}"));
            Assert.True(flows.Count * PerFlow == total, $"{total} frames read of {flows.Count * PerFlow}; {perMemberStatistics}");
            Assert.Equal(flows.Count, seen.Count);
            Assert.All(seen, flow =>
            {
                Assert.Equal(PerFlow, flow.Value.Count);
                Assert.Single(flow.Value.Distinct());
            });
            var perMember = seen.Values.GroupBy(m => m[0]).ToDictionary(g => g.Key, g => g.Count());
            TestContext.Current.SendDiagnosticMessage($"flows per member: {string.Join(", ", perMember.OrderBy(p => p.Key).Select(p => $"{p.Key}: {p.Value}"))}");
            Assert.Equal(3, perMember.Count); // 48 flows over 3 members: one left empty by an even hash has odds ~3e-8
            var statistics = capture.Statistics;
            Assert.Equal(flows.Count * PerFlow, statistics.Received); // summed over the members; the filter kept the ARP probe out
            Assert.Equal(0, statistics.KernelDropped);
        }
        finally
        {
            flows.ForEach(f => f.Dispose());
        }
    }

    [Fact]
    public void Two_captures_of_one_interface_are_two_groups_and_each_sees_every_frame()
    {
        // Two capture nodes on one host (or a node and a test) must never split each other's traffic: each group's id is
        // the kernel's choice, unique in the namespace.
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces and capture");
        using var lab = new NamespacePair();
        using var first = Open(lab, members: 2, $"udp and dst port {UdpPort}");
        using var second = Open(lab, members: 2, $"udp and dst port {UdpPort}");
        var flows = Flows(lab, 16);
        try
        {
            flows[0].SendTo(new byte[1], new IPEndPoint(NamespacePair.AddressB, UdpPort + 1)); // ARP
            Thread.Sleep(100);
            foreach (var flow in flows)
            {
                flow.SendTo(new byte[16], new IPEndPoint(NamespacePair.AddressB, UdpPort));
            }

            var counts = new int[2];
            foreach (var (capture, index) in new[] { (first, 0), (second, 1) })
            {
                ReadUntil(capture, () => counts[index] >= flows.Count, TimeSpan.FromSeconds(5), (_, _) => counts[index]++);
            }

            Assert.Equal([flows.Count, flows.Count], counts);
        }
        finally
        {
            flows.ForEach(f => f.Dispose());
        }
    }

    [Fact]
    public void A_filter_change_applies_to_the_member_it_is_made_on_and_a_bad_filter_is_refused()
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces and capture");
        using var lab = new NamespacePair();
        using var capture = Open(lab, members: 1, $"udp and dst port {UdpPort}");
        var member = Assert.Single(capture.Members);
        var flows = Flows(lab, 1);
        try
        {
            var ports = new List<int>();
            flows[0].SendTo(new byte[1], new IPEndPoint(NamespacePair.AddressB, UdpPort + 1)); // ARP
            Thread.Sleep(100);
            void SendBoth()
            {
                for (var i = 0; i < 50; i++)
                {
                    flows[0].SendTo(new byte[8], new IPEndPoint(NamespacePair.AddressB, UdpPort));
                    flows[0].SendTo(new byte[8], new IPEndPoint(NamespacePair.AddressB, UdpPort + 1));
                }
            }

            SendBoth();
            // Changed before the frames of the old filter were read: those are filtered again in user space.
            Thread.Sleep(50);
            member.ChangeFilter($"udp and dst port {UdpPort + 1}");
            SendBoth();
            ReadUntil(capture, () => ports.Count >= 50, TimeSpan.FromSeconds(5), (_, p) => ports.Add(p & 0xffff));
            Assert.Equal(50, ports.Count);
            Assert.All(ports, p => Assert.Equal(UdpPort + 1, p));

            var refused = Assert.Throws<LiveCaptureException>(() => member.ChangeFilter("udp port eighty"));
            Assert.Contains("\"udp port eighty\"", refused.Message, StringComparison.Ordinal);
            Assert.Throws<ArgumentOutOfRangeException>(() => FanoutCapture.Open(capture.Options, members: 0));
        }
        finally
        {
            flows.ForEach(f => f.Dispose());
        }
    }
}
