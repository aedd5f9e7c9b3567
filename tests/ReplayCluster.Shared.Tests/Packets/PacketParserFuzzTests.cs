using System.Buffers.Binary;
using System.Diagnostics;
using CsCheck;
using ReplayCluster.Packets;
using Xunit;

namespace ReplayCluster.Tests.Packets;

/// <summary>
/// Mutation fuzzing of the parser from real captured frames: whatever the bytes, TryParse must return (never throw),
/// and an Ok result must describe only bytes inside the frame. The span bounds checks of the runtime turn any
/// out-of-range read into an exception, so "no exception" here also means "no read outside the buffer".
/// </summary>
public sealed class PacketParserFuzzTests
{
    private static readonly LinkType[] LinkTypesToTry =
        [LinkType.Ethernet, LinkType.Raw, LinkType.LinuxSll, LinkType.LinuxSll2, LinkType.Ipv4, (LinkType)0];

    private readonly ParseRejectCounters _counters = new();
    private readonly long[] _expected = new long[Enum.GetValues<ParseResult>().Length];
    private long _parses;

    [Fact]
    public void Truncation_at_every_length_never_throws_and_stays_in_bounds()
    {
        var superSegment = RealFrames.VethSuperSegment();
        foreach (var (_, frame, linkType) in RealFrames.All.Append(("Veth", superSegment, LinkType.Ethernet)))
        {
            for (var length = 0; length <= frame.Length; length++)
            {
                Check(frame.AsSpan(0, length), linkType);
            }
        }

        AssertCountsAddUp();
    }

    [Fact]
    public void Every_value_of_every_length_and_type_field_never_throws_and_stays_in_bounds()
    {
        var buffer = new byte[256];
        foreach (var (_, frame, linkType) in RealFrames.All)
        {
            Assert.Equal(ParseResult.Ok, PacketParser.TryParse(frame, linkType, out var p));
            var span = buffer.AsSpan(0, frame.Length);
            var ip = p.IpOffset;
            var tcp = p.TcpOffset;

            // Whole bytes: version/IHL, TCP data offset (and reserved bits), protocol, flags/fragment high byte.
            foreach (var offset in new[] { ip, tcp + 12, ip + 9, ip + 6 })
            {
                for (var value = 0; value < 256; value++)
                {
                    frame.CopyTo(span);
                    span[offset] = (byte)value;
                    Check(span, linkType);
                }
            }

            // 16-bit fields: IP total length, and the EtherType / SLL protocol just before the IP header.
            foreach (var offset in new[] { ip + 2, ip - 2 })
            {
                if (offset < 0)
                {
                    continue;
                }

                for (var value = 0; value <= ushort.MaxValue; value++)
                {
                    frame.CopyTo(span);
                    BinaryPrimitives.WriteUInt16BigEndian(span[offset..], (ushort)value);
                    Check(span, linkType);
                }
            }

            // Every byte of the option area set to 0, 1, 2 and 255 (EOL, NOP, a too-short and a too-long length),
            // also combined with every data offset so the option area itself changes size.
            for (var offset = tcp + 20; offset < p.PayloadOffset; offset++)
            {
                foreach (var value in new byte[] { 0, 1, 2, 255 })
                {
                    for (var dataOffset = 0; dataOffset < 16; dataOffset++)
                    {
                        frame.CopyTo(span);
                        span[offset] = value;
                        span[tcp + 12] = (byte)(dataOffset << 4);
                        Check(span, linkType);
                    }
                }
            }
        }

        AssertCountsAddUp();
    }

    [Fact]
    public void Two_hundred_thousand_random_mutations_never_throw_and_stay_in_bounds()
    {
        var random = new Random(20_240_601); // Fixed seed: a failure reproduces.
        var buffer = new byte[512];
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < 200_000; i++)
        {
            var (_, frame, linkType) = RealFrames.All[random.Next(RealFrames.All.Length)];
            var length = frame.Length;
            frame.CopyTo(buffer, 0);
            for (var m = random.Next(1, 5); m > 0; m--)
            {
                switch (random.Next(5))
                {
                    case 0:
                        buffer[random.Next(length)] ^= (byte)(1 << random.Next(8));
                        break;
                    case 1:
                        buffer[random.Next(length)] = (byte)random.Next(256);
                        break;
                    case 2:
                        length = random.Next(length + 1);
                        break;
                    case 3:
                        var extra = random.Next(1, 64);
                        random.NextBytes(buffer.AsSpan(length, extra));
                        length += extra;
                        break;
                    default:
                        if (length >= 2)
                        {
                            BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(random.Next(length - 1)), (ushort)random.Next(65536));
                        }

                        break;
                }
            }

            // Mostly the right link type; sometimes a wrong one, which reads the bytes at other offsets.
            var asLinkType = random.Next(8) == 0 ? LinkTypesToTry[random.Next(LinkTypesToTry.Length)] : linkType;
            Check(buffer.AsSpan(0, length), asLinkType);
        }

        AssertCountsAddUp();
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"200k mutations took {watch.Elapsed}"); // Loose: 2 noisy cores.
    }

    [Fact]
    public void Random_frames_shrunk_by_cscheck_never_break_the_parser()
    {
        var frames = Gen.Int[0, RealFrames.All.Length - 1];
        var edits = Gen.Select(Gen.Int[0, 300], Gen.Byte).Array[0, 8];
        Gen.Select(frames, edits, Gen.Int[0, 320], Gen.Byte.Array[0, 32]).Sample((index, changes, cut, tail) =>
        {
            var (_, original, linkType) = RealFrames.All[index];
            var frame = original.Concat(tail).ToArray();
            foreach (var (offset, value) in changes)
            {
                if (offset < frame.Length)
                {
                    frame[offset] = value;
                }
            }

            var mutated = frame.AsSpan(0, Math.Min(cut, frame.Length));
            var result = PacketParser.TryParse(mutated, linkType, out var p);
            return result != ParseResult.Ok || InBounds(p, mutated.Length);
        }, iter: 20_000);
    }

    private void Check(ReadOnlySpan<byte> frame, LinkType linkType)
    {
        var result = PacketParser.TryParse(frame, linkType, out var p);
        Assert.True(Enum.IsDefined(result));
        if (result == ParseResult.Ok)
        {
            Assert.True(InBounds(p, frame.Length), $"{linkType} length {frame.Length}: {p}");
        }
        else
        {
            Assert.Equal(0, p.TotalLength);
        }

        _counters.Count(result);
        _expected[(int)result]++;
        _parses++;
    }

    private void AssertCountsAddUp()
    {
        Assert.Equal(_parses, _counters.Total);
        foreach (var (result, count) in _counters.Snapshot())
        {
            Assert.Equal(_expected[(int)result], count);
        }

        Assert.True(_counters.Get(ParseResult.Ok) > 0);
        Assert.True(_counters.Rejected > 0);
    }

    private static bool InBounds(in TcpPacket p, int frameLength) =>
        p.IpOffset >= 0
        && p.IpHeaderLength is >= 20 and <= 60
        && p.TcpHeaderLength is >= 20 and <= 60
        && p.PayloadLength >= 0
        && p.TotalLength == p.IpHeaderLength + p.TcpHeaderLength + p.PayloadLength
        && p.PayloadOffset <= frameLength
        && p.CapturedPayloadLength >= 0
        && p.CapturedPayloadLength <= p.PayloadLength
        && p.PayloadOffset + p.CapturedPayloadLength <= frameLength
        && !p.IsFragment
        && (p.Options.TimestampOffset == 0 || p.Options.TimestampOffset + 10 <= p.TcpHeaderLength);
}
