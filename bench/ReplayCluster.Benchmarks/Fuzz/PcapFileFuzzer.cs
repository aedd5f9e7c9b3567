using System.Buffers.Binary;
using System.Diagnostics;
using System.Text.RegularExpressions;
using ReplayCluster.Packets;
using ReplayCluster.PacketIO;

namespace ReplayCluster.Benchmarks.Fuzz;

/// <summary>
/// Mutated capture files through the capture node's offline path (CapturePump.ReplayFileOnce): open with
/// <see cref="PcapFileReader"/>, read every record, pace it with <see cref="PcapReplayClock"/> and parse its frame.
/// Seeds are classic pcap (both byte orders, micro- and nanosecond) and pcapng files (both byte orders, two
/// interfaces, EPB/SPB/OPB, an unknown block); mutations aim at the file header, record headers and block lengths.
/// A refusal is a <see cref="PcapFormatException"/> or the replay clock refusing a gap, counted by its reason;
/// anything else thrown is a crash, as is an allocation larger than the file (plus a fixed 64 KiB for the reader).
/// </summary>
internal sealed partial class PcapFileFuzzer
{
    public const string TargetName = "pcap files";

    /// <summary>The reader's own objects (FileStream, reader, record list) besides the file's bytes.</summary>
    public const int FixedAllocationBudget = 64 * 1024;

    private readonly Mutator _mutator;
    private readonly IReadOnlyList<(string Name, byte[] File, FuzzField[] Fields)> _corpus;
    private readonly byte[] _buffer;
    private readonly string _path;

    /// <param name="seed">Mutation seed.</param>
    /// <param name="directory">Where the one scratch file is written (and rewritten for every input).</param>
    public PcapFileFuzzer(int seed, string directory)
    {
        _mutator = new Mutator(seed);
        _corpus = PcapCorpus.Build();
        _buffer = new byte[_corpus.Max(s => s.File.Length) + Mutator.MaxGrowth];
        _path = Path.Combine(directory, "fuzz-input.pcap");
    }

    /// <summary>Parse results of the frames read from the files.</summary>
    public ParseRejectCounters Frames { get; } = new();

    public long Records { get; private set; }

    public FuzzTally Run(long count, FuzzWatchdog? watchdog = null)
    {
        // Warm-up with a valid file, not counted: the reader's first pooled 1 MiB buffer is a one-time cost.
        File.WriteAllBytes(_path, _corpus[0].File);
        _ = ReadFile();

        var tally = new FuzzTally(TargetName);
        tally.Start();
        for (long i = 0; i < count; i++)
        {
#pragma warning disable CA5394 // reproducible fuzz input, nothing secret
            var (_, file, fields) = _corpus[_mutator.Random.Next(_corpus.Count)];
#pragma warning restore CA5394
            var length = _mutator.Mutate(file, _buffer, fields);
            File.WriteAllBytes(_path, _buffer.AsSpan(0, length).ToArray());
            var start = Stopwatch.GetTimestamp();
            watchdog?.Begin(TargetName, _buffer, length, start);
            var before = GC.GetAllocatedBytesForCurrentThread();
            string? refusal = null;
            string? failure = null;
            try
            {
                refusal = ReadFile();
            }
            catch (PcapFormatException ex)
            {
                refusal = Reason(ex);
            }
#pragma warning disable CA1031 // any other exception is the finding
            catch (Exception ex)
#pragma warning restore CA1031
            {
                failure = $"{ex.GetType().FullName}: {ex.Message}";
            }

            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            start = tally.RetimeIfSlow(start, this, static fuzzer => fuzzer.ReadFile());

            watchdog?.End();
            failure ??= tally.Measure(start, allocated, length, FixedAllocationBudget + length);
            if (failure is not null)
            {
                tally.Crash(failure, _buffer.AsSpan(0, length));
            }
            else if (refusal is null)
            {
                tally.Accept("read to the end");
            }
            else
            {
                tally.Reject(refusal);
            }
        }

        tally.Stop();
        return tally;
    }

    /// <summary>The offline replay of one file, without the sleeping; null when it was read to the end.</summary>
    private string? ReadFile()
    {
        using var reader = PcapFileReader.Open(_path);
        var clock = new PcapReplayClock(1.0);
        while (reader.ReadNext(out var record))
        {
            if (!clock.TryNext(record.Info.TimestampNanos, out _, out _))
            {
                return "replay clock: gap between records too long";
            }

            Records++;
            if (record.Data.Length != record.Info.CapturedLength)
            {
                throw new InvalidOperationException($"record of {record.Data.Length} bytes says it captured {record.Info.CapturedLength}");
            }

            Frames.Count(PacketParser.TryParse(record.Data, LinkTypes.FromPcap(record.Info.LinkType), out _));
        }

        return null;
    }

    /// <summary>The refusal's detail with numbers taken out, so one kind of damage is one counter.</summary>
    private static string Reason(PcapFormatException ex)
    {
        var detail = ex.Message;
        var at = detail.IndexOf(": at byte offset ", StringComparison.Ordinal);
        if (at >= 0)
        {
            var colon = detail.IndexOf(": ", at + 2, StringComparison.Ordinal);
            detail = colon >= 0 ? detail[(colon + 2)..] : detail;
        }

        detail = Numbers().Replace(detail, "N");
        var cut = detail.IndexOfAny([':', '(']);
        detail = (cut > 0 ? detail[..cut] : detail).Trim();
        return "pcap: " + (detail.Length > 70 ? detail[..70] : detail);
    }

    [GeneratedRegex("0x[0-9a-fA-F]+|-?[0-9]+")]
    private static partial Regex Numbers();
}

/// <summary>Valid capture files of the packet corpus's frames.</summary>
internal static class PcapCorpus
{
    public static IReadOnlyList<(string Name, byte[] File, FuzzField[] Fields)> Build()
    {
        var seeds = PacketCorpus.Build();
        (byte[] Frame, int Original)[] Pick(string framing) => [.. seeds.Where(s => s.Name.EndsWith(framing, StringComparison.Ordinal)).Take(6).Select(s => (s.Frame, s.Frame.Length))];

        var cut = seeds.Where(s => s.Name.EndsWith("/sll2", StringComparison.Ordinal)).Take(5)
            .Select(s => (s.Frame[..Math.Min(96, s.Frame.Length)], s.Frame.Length)).ToArray();
        return
        [
            Classic("classic-le-us-ethernet", bigEndian: false, nanos: false, 1, 262_144, Pick("/ethernet")),
            Classic("classic-be-ns-raw", bigEndian: true, nanos: true, 101, 65_535, Pick("/raw")),
            Classic("classic-le-ns-sll2-snap96", bigEndian: false, nanos: true, 276, 96, cut),
            Classic("classic-le-us-sll", bigEndian: false, nanos: false, 113, 262_144, Pick("/sll")),
            PcapNg("pcapng-le", bigEndian: false, Pick("/ethernet"), Pick("/raw")),
            PcapNg("pcapng-be", bigEndian: true, Pick("/vlan"), Pick("/ipv4")),
        ];
    }

    private static (string, byte[], FuzzField[]) Classic(string name, bool bigEndian, bool nanos, int linkType, int snapLength, (byte[] Frame, int Original)[] frames)
    {
        var fields = new List<FuzzField> { new(0, 4, bigEndian), new(4, 2, bigEndian), new(16, 4, bigEndian), new(20, 4, bigEndian) };
        using var stream = new MemoryStream();
        var header = new byte[24];
        U32(header, nanos ? 0xa1b23c4du : 0xa1b2c3d4u, bigEndian);
        U16(header.AsSpan(4), 2, bigEndian);
        U16(header.AsSpan(6), 4, bigEndian);
        U32(header.AsSpan(16), (uint)snapLength, bigEndian);
        U32(header.AsSpan(20), (uint)linkType, bigEndian);
        stream.Write(header);
        var seconds = 1_700_000_000u;
        foreach (var (frame, original) in frames)
        {
            var at = (int)stream.Position;
            fields.AddRange([new(at, 4, bigEndian), new(at + 4, 4, bigEndian), new(at + 8, 4, bigEndian), new(at + 12, 4, bigEndian)]);
            var record = new byte[16];
            U32(record, seconds++, bigEndian);
            U32(record.AsSpan(4), nanos ? 999_999_999u : 999_999u, bigEndian);
            U32(record.AsSpan(8), (uint)frame.Length, bigEndian);
            U32(record.AsSpan(12), (uint)original, bigEndian);
            stream.Write(record);
            stream.Write(frame);
        }

        return (name, stream.ToArray(), [.. fields]);
    }

    private static (string, byte[], FuzzField[]) PcapNg(string name, bool bigEndian, (byte[] Frame, int Original)[] first, (byte[] Frame, int Original)[] second)
    {
        var fields = new List<FuzzField>();
        using var stream = new MemoryStream();

        // Section header: byte-order magic, version 1.0, section length unknown.
        Block(stream, fields, 0x0A0D0D0A, bigEndian, body =>
        {
            var b = new byte[16];
            U32(b, 0x1A2B3C4D, bigEndian);
            U16(b.AsSpan(4), 1, bigEndian);
            BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(8), -1);
            return b;
        }, [(8, 4), (12, 2)]);

        // Two interfaces: Ethernet with if_tsresol 9 (ns) and if_tsoffset, then raw IP with the default (us).
        Block(stream, fields, 1, bigEndian, _ =>
        {
            var b = new byte[8 + 8 + 12 + 4];
            U16(b, 1, bigEndian);
            U32(b.AsSpan(4), 262_144, bigEndian);
            U16(b.AsSpan(8), 9, bigEndian);
            U16(b.AsSpan(10), 1, bigEndian);
            b[12] = 9;
            U16(b.AsSpan(16), 14, bigEndian);
            U16(b.AsSpan(18), 8, bigEndian);
            if (bigEndian)
            {
                BinaryPrimitives.WriteInt64BigEndian(b.AsSpan(20), 5);
            }
            else
            {
                BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(20), 5);
            }

            return b; // ends with opt_endofopt (4 zero bytes)
        }, [(8, 2), (12, 4), (16, 2), (18, 2), (24, 2), (26, 2)]);
        Block(stream, fields, 1, bigEndian, _ =>
        {
            var b = new byte[8];
            U16(b, 101, bigEndian);
            U32(b.AsSpan(4), 0, bigEndian);
            return b;
        }, [(8, 2), (12, 4)]);

        // An unknown block (name resolution) is skipped by its length.
        Block(stream, fields, 4, bigEndian, _ => new byte[8], []);

        var stamp = 1_700_000_000_000_000_000UL;
        foreach (var (frames, interfaceId) in new[] { (first, 0u), (second, 1u) })
        {
            foreach (var (frame, original) in frames)
            {
                var t = stamp++;
                Block(stream, fields, 6, bigEndian, _ =>
                {
                    var b = new byte[20 + ((frame.Length + 3) & ~3)];
                    U32(b, interfaceId, bigEndian);
                    U32(b.AsSpan(4), (uint)(t >> 32), bigEndian);
                    U32(b.AsSpan(8), (uint)t, bigEndian);
                    U32(b.AsSpan(12), (uint)frame.Length, bigEndian);
                    U32(b.AsSpan(16), (uint)original, bigEndian);
                    frame.CopyTo(b.AsSpan(20));
                    return b;
                }, [(8, 4), (12, 4), (16, 4), (20, 4), (24, 4)]);
            }
        }

        // A simple packet block (interface 0, no timestamp) and an obsolete packet block.
        var simple = first[0].Frame;
        Block(stream, fields, 3, bigEndian, _ =>
        {
            var b = new byte[4 + ((simple.Length + 3) & ~3)];
            U32(b, (uint)simple.Length, bigEndian);
            simple.CopyTo(b.AsSpan(4));
            return b;
        }, [(8, 4)]);
        Block(stream, fields, 2, bigEndian, _ =>
        {
            var b = new byte[20 + ((simple.Length + 3) & ~3)];
            U16(b, 0, bigEndian);
            U32(b.AsSpan(12), (uint)simple.Length, bigEndian);
            U32(b.AsSpan(16), (uint)simple.Length, bigEndian);
            simple.CopyTo(b.AsSpan(20));
            return b;
        }, [(8, 2), (20, 4)]);
        return (name, stream.ToArray(), [.. fields]);
    }

    /// <summary>Writes one block (type, total length, body, total length) and adds its length fields to <paramref name="fields"/>.</summary>
    private static void Block(MemoryStream stream, List<FuzzField> fields, uint type, bool bigEndian, Func<int, byte[]> body, (int Offset, int Width)[] bodyFields)
    {
        var at = (int)stream.Position;
        var content = body(0);
        var length = 12 + content.Length;
        var block = new byte[length];
        U32(block, type, bigEndian);
        U32(block.AsSpan(4), (uint)length, bigEndian);
        content.CopyTo(block.AsSpan(8));
        U32(block.AsSpan(length - 4), (uint)length, bigEndian);
        stream.Write(block);
        fields.Add(new FuzzField(at + 4, 4, bigEndian));
        fields.Add(new FuzzField(at + length - 4, 4, bigEndian));
        fields.Add(new FuzzField(at, 4, bigEndian));
        foreach (var (offset, width) in bodyFields)
        {
            fields.Add(new FuzzField(at + offset, width, bigEndian));
        }
    }

    private static void U32(Span<byte> span, uint value, bool bigEndian)
    {
        if (bigEndian)
        {
            BinaryPrimitives.WriteUInt32BigEndian(span, value);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(span, value);
        }
    }

    private static void U16(Span<byte> span, ushort value, bool bigEndian)
    {
        if (bigEndian)
        {
            BinaryPrimitives.WriteUInt16BigEndian(span, value);
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(span, value);
        }
    }
}
