using System.Diagnostics;
using ReplayCluster.Packets;
using Xunit;

namespace ReplayCluster.Tests.Packets;

/// <summary>
/// A bounded measurement, never a timing assertion: what the IPv4 capture path pays per frame for parse + rewrite +
/// checksum fix, printed as ns/packet (median of 3 rounds) so a change to the packet layer can be compared before and
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
            $"ipv4 hot path ({frame.Length}-byte frame, {Packets} packets x 3): parse {parse[1]:F1} ns/packet (rounds {parse[0]:F1}..{parse[2]:F1}), parse+rewrite+checksums {rewrite[1]:F1} ns/packet (rounds {rewrite[0]:F1}..{rewrite[2]:F1})");
        TestContext.Current.TestOutputHelper?.WriteLine(message);
        Assert.NotEqual(0, sink); // every frame parsed: the loop was not optimised away
    }

    private static double Run(byte[] frame, int count, ref long sink, bool rewriteToo)
    {
        var start = Stopwatch.GetTimestamp();
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

        return Stopwatch.GetElapsedTime(start).TotalNanoseconds / count;
    }
}
