using System.Net.Sockets;
using ReplayCluster.Benchmarks.Fuzz;
using ReplayCluster.Packets;
using Xunit;

namespace ReplayCluster.Tests.Packets;

/// <summary>
/// The fuzz harness of bench/fuzz.sh (compiled in) on IPv6 seeds, and the dual-stack parse held to the IPv4 parse on
/// mutated IPv4 frames: a few tens of thousands of inputs, seconds; the long run is bench/fuzz.sh's.
/// </summary>
public sealed class Ipv6PacketParserFuzzTests
{
    private const int Seed = 20_261_130;

    [Fact]
    public void Mutated_ipv6_frames_are_each_accepted_or_a_counted_named_rejection_never_a_crash()
    {
        var corpus = PacketCorpus.Build().Where(s => s.DualStack).ToList();
        Assert.True(corpus.Count >= 60, $"{corpus.Count} IPv6 seeds");
        var fuzzer = new PacketFuzzer(Seed, corpus);
        var tally = fuzzer.Run(30_000);

        Assert.True(tally.CrashCount == 0, string.Join(Environment.NewLine, tally.Crashes.Select(c => $"{c.Failure}: {c.Hex}")));
        Assert.Equal(tally.Inputs, tally.Accepted + tally.Rejected);
        Assert.Equal(tally.Inputs, fuzzer.Counters.Total);
        Assert.Equal(tally.Accepted, fuzzer.Counters.Get(ParseResult.Ok));
        foreach (var (reason, count) in tally.Rejections)
        {
            Assert.Equal(count, fuzzer.Counters.Get(Enum.Parse<ParseResult>(reason)));
        }

        // The mutations reach the IPv6 decisions, not just the link header.
        foreach (var reason in new[]
        {
            ParseResult.NotIpv6, ParseResult.BadIpv6PayloadLength, ParseResult.BadIpv6ExtensionHeader, ParseResult.Ipv6Fragment,
            ParseResult.Ipv6RoutingInTransit, ParseResult.TooShortForIp, ParseResult.TooShortForTcp, ParseResult.NotTcp, ParseResult.BadTcpHeaderLength,
        })
        {
            Assert.True(fuzzer.Counters.Get(reason) > 0, $"{reason} never reached: {string.Join(", ", tally.Rejections.Select(r => $"{r.Key} {r.Value}"))}");
        }

        Assert.True(fuzzer.Truncated > 0);
    }

    [Fact]
    public void On_mutated_ipv4_frames_the_dual_stack_parse_says_exactly_what_the_ipv4_parse_says()
    {
        var corpus = PacketCorpus.Build().Where(s => !s.DualStack).ToList();
        var mutator = new Mutator(Seed);
        var buffer = new byte[corpus.Max(s => s.Frame.Length) + Mutator.MaxGrowth];
        var sawIpv6 = 0;
        for (var i = 0; i < 30_000; i++)
        {
#pragma warning disable CA5394 // reproducible test input
            var seed = corpus[mutator.Random.Next(corpus.Count)];
#pragma warning restore CA5394
            var frame = buffer.AsSpan(0, mutator.Mutate(seed.Frame, buffer, seed.Fields));
            var link = LinkTypes.FromPcap(seed.PcapLinkType);
            var expected = PacketParser.TryParse(frame, link, out var expectedPacket);
            var result = PacketParser.TryParseDualStack(frame, link, out var ipv4, out var ipv6, out var family);
            if (family == AddressFamily.InterNetworkV6)
            {
                // A mutation made it IPv6 (EtherType 0x86DD, or version 6 on a raw link): the IPv4 parse refused it.
                Assert.True(expected is ParseResult.UnsupportedEtherType or ParseResult.NotIpv4, $"{seed.Name}: {expected}");
                Assert.Equal(default, ipv4);
                sawIpv6++;
                continue;
            }

            Assert.Equal(expected, result);
            Assert.Equal(expectedPacket, ipv4);
            Assert.Equal(default, ipv6);
        }

        Assert.True(sawIpv6 > 0);
    }
}
