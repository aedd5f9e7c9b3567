using System.Runtime.InteropServices;
using ReplayCluster.Packets;
using Xunit;

namespace ReplayCluster.Tests.Packets;

/// <summary>
/// A bounded measurement, never a timing assertion: what the IPv4 capture path pays per frame for parse + rewrite +
/// checksum fix, printed as ns/packet of this thread's CPU time (median of 3 rounds; CPU time rather than wall time
/// because the two shared cores are rarely idle, and waiting for a core is not the code's cost) so a change to the packet layer can be compared before and
/// after (issue 12: IPv6 must not slow the IPv4 path). Run it alone, e.g.
/// <c>tests/ReplayCluster.Shared.Tests/bin/Release/net10.0/ReplayCluster.Shared.Tests -method "*Ipv4HotPathThroughputTests*" -showLiveOutput</c>.
/// </summary>
public sealed class Ipv4HotPathThroughputTests
{
    private const int Packets = 1_000_000;

    [Fact]
    public void Parse_and_rewrite_of_ipv4_frames_reports_ns_per_packet()
    {
        var spec = new TcpSegmentSpec
        {
            SourceAddress = 0x0A4D0002, DestinationAddress = 0x0A4D0001, SourcePort = 44500, DestinationPort = 80,
            Sequence = 2126778078, Acknowledgment = 851506363, Flags = TcpFlags.Ack | TcpFlags.Psh, Window = 64,
            Timestamp = new TcpTimestamp(165538640, 4206581493),
        };
        var ip = new byte[TcpPacketBuilder.GetPacketLength(spec, 100)];
        TcpPacketBuilder.Write(spec, new byte[100], ip);
        var frame = new byte[14 + ip.Length];
        frame[12] = 0x08;
        ip.CopyTo(frame.AsSpan(14));

        var parse = new double[3];
        var rewrite = new double[3];
        long sink = 0;
        // Warm-up: tiered JIT (with dynamic PGO) reaches its final code only after a few hundred thousand calls.
        Run(frame, Packets, ref sink, rewriteToo: false);
        Run(frame, Packets, ref sink, rewriteToo: true);
        for (var round = 0; round < 3; round++)
        {
            parse[round] = Run(frame, Packets, ref sink, rewriteToo: false);
            rewrite[round] = Run(frame, Packets, ref sink, rewriteToo: true);
        }

        Array.Sort(parse);
        Array.Sort(rewrite);
        var message = FormattableString.Invariant(
            $"ipv4 hot path, thread CPU time ({frame.Length}-byte frame, {Packets} packets x 3): parse {parse[1]:F1} ns/packet (rounds {parse[0]:F1}..{parse[2]:F1}), parse+rewrite+checksums {rewrite[1]:F1} ns/packet (rounds {rewrite[0]:F1}..{rewrite[2]:F1})");
        TestContext.Current.TestOutputHelper?.WriteLine(message);
        Assert.NotEqual(0, sink); // every frame parsed: the loop was not optimised away
    }

    private static double Run(byte[] frame, int count, ref long sink, bool rewriteToo)
    {
        var start = ThreadCpuClock.Nanoseconds();
        for (var i = 0; i < count; i++)
        {
            if (PacketParser.TryParse(frame, LinkType.Ethernet, out var packet) != ParseResult.Ok)
            {
                throw new InvalidOperationException("the frame must parse");
            }

            sink += packet.PayloadLength;
            if (rewriteToo)
            {
                TcpPacketRewriter.SetDestination(frame, packet, 0x0A630102, 8080);
                TcpPacketRewriter.SetSource(frame, packet, 0x0A620007 + (uint)(i & 0xFF), 40001);
                TcpPacketRewriter.SetAcknowledgment(frame, packet, (uint)i);
                TcpPacketRewriter.TrySetTimestampEcr(frame, packet, (uint)i);
                TcpPacketRewriter.FixChecksums(frame, packet);
            }
        }

        return (ThreadCpuClock.Nanoseconds() - start) / (double)count;
    }
}

/// <summary>
/// The same measurement for what a dual-stack capture would run: <see cref="PacketParser.TryParseDualStack"/> on the
/// IPv4 frame (its cost over <see cref="PacketParser.TryParse"/>), and IPv6 parse + rewrite + checksum on a frame of the
/// same TCP segment. Printed only, never asserted.
/// </summary>
public sealed class DualStackThroughputTests
{
    private const int Packets = 1_000_000;

    [Fact]
    public void Dual_stack_and_ipv6_parse_and_rewrite_report_ns_per_packet()
    {
        var spec = new TcpSegmentSpec
        {
            SourceAddress = 0x0A4D0002, DestinationAddress = 0x0A4D0001, SourcePort = 44500, DestinationPort = 80,
            Sequence = 2126778078, Acknowledgment = 851506363, Flags = TcpFlags.Ack | TcpFlags.Psh, Window = 64,
            Timestamp = new TcpTimestamp(165538640, 4206581493),
        };
        var ip4 = new byte[TcpPacketBuilder.GetPacketLength(spec, 100)];
        TcpPacketBuilder.Write(spec, new byte[100], ip4);
        var frame4 = new byte[14 + ip4.Length];
        frame4[12] = 0x08;
        ip4.CopyTo(frame4.AsSpan(14));
        var frame6 = Ipv6Frames.Ethernet(Ipv6Frames.Build(spec, 100));

        var dual4 = new double[3];
        var parse6 = new double[3];
        var rewrite6 = new double[3];
        long sink = 0;
        RunDual(frame4, Packets, ref sink);
        RunIpv6(frame6, Packets, ref sink, rewriteToo: true);
        for (var round = 0; round < 3; round++)
        {
            dual4[round] = RunDual(frame4, Packets, ref sink);
            parse6[round] = RunIpv6(frame6, Packets, ref sink, rewriteToo: false);
            rewrite6[round] = RunIpv6(frame6, Packets, ref sink, rewriteToo: true);
        }

        Array.Sort(dual4);
        Array.Sort(parse6);
        Array.Sort(rewrite6);
        TestContext.Current.TestOutputHelper?.WriteLine(FormattableString.Invariant(
            $"dual stack, thread CPU time ({frame4.Length}/{frame6.Length}-byte frames, {Packets} packets x 3): ipv4 via TryParseDualStack + rewrite {dual4[1]:F1} ns/packet (rounds {dual4[0]:F1}..{dual4[2]:F1}); ipv6 parse {parse6[1]:F1} ns/packet (rounds {parse6[0]:F1}..{parse6[2]:F1}), ipv6 parse+rewrite+checksum {rewrite6[1]:F1} ns/packet (rounds {rewrite6[0]:F1}..{rewrite6[2]:F1})"));
        Assert.NotEqual(0, sink);
    }

    private static double RunDual(byte[] frame, int count, ref long sink)
    {
        var start = ThreadCpuClock.Nanoseconds();
        for (var i = 0; i < count; i++)
        {
            if (PacketParser.TryParseDualStack(frame, LinkType.Ethernet, out var packet, out _, out _) != ParseResult.Ok)
            {
                throw new InvalidOperationException("the frame must parse");
            }

            sink += packet.PayloadLength;
            TcpPacketRewriter.SetDestination(frame, packet, 0x0A630102, 8080);
            TcpPacketRewriter.SetSource(frame, packet, 0x0A620007 + (uint)(i & 0xFF), 40001);
            TcpPacketRewriter.SetAcknowledgment(frame, packet, (uint)i);
            TcpPacketRewriter.TrySetTimestampEcr(frame, packet, (uint)i);
            TcpPacketRewriter.FixChecksums(frame, packet);
        }

        return (ThreadCpuClock.Nanoseconds() - start) / (double)count;
    }

    private static double RunIpv6(byte[] frame, int count, ref long sink, bool rewriteToo)
    {
        var target = Ipv6Address.Parse("2001:db8:99::1:2");
        var client = Ipv6Address.Parse("2001:db8:abcd:7::");
        var start = ThreadCpuClock.Nanoseconds();
        for (var i = 0; i < count; i++)
        {
            if (PacketParser.TryParseIpv6(frame, LinkType.Ethernet, out var packet) != ParseResult.Ok)
            {
                throw new InvalidOperationException("the frame must parse");
            }

            sink += packet.PayloadLength;
            if (rewriteToo)
            {
                Ipv6TcpPacketRewriter.SetDestination(frame, packet, target, 8080);
                Ipv6TcpPacketRewriter.SetSource(frame, packet, new Ipv6Address(client.Upper, (ulong)(i & 0xFF)), 40001);
                Ipv6TcpPacketRewriter.SetAcknowledgment(frame, packet, (uint)i);
                Ipv6TcpPacketRewriter.TrySetTimestampEcr(frame, packet, (uint)i);
                Ipv6TcpPacketRewriter.FixChecksum(frame, packet);
            }
        }

        return (ThreadCpuClock.Nanoseconds() - start) / (double)count;
    }
}

/// <summary>CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID): what a loop cost, not how long it waited for a core.</summary>
internal static partial class ThreadCpuClock
{
    private const int ClockThreadCpuTime = 3;

    public static long Nanoseconds()
    {
        if (ClockGetTime(ClockThreadCpuTime, out var time) != 0)
        {
            throw new InvalidOperationException("clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
        }

        return (time.Seconds * 1_000_000_000L) + time.Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }
}
