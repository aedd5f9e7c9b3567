using System.Buffers.Binary;
using System.Diagnostics;
using ReplayCluster.Packets;
using ReplayCluster.Replay;

namespace ReplayCluster.Benchmarks.Fuzz;

/// <summary>A valid captured frame to mutate: its bytes, its pcap link-type number and its length/type fields.</summary>
internal sealed record PacketSeed(string Name, byte[] Frame, int PcapLinkType, FuzzField[] Fields);

/// <summary>
/// Mutated captured frames through what the capture and intercept nodes run on each frame they capture:
/// <see cref="PacketParser.TryParse"/> with the link type mapped by <see cref="LinkTypes.FromPcap"/>, the count in
/// <see cref="ParseRejectCounters"/>, and for an accepted frame what CapturePump.OnFrame (payload copy unless
/// truncated, options) and ReplyCapturePump.OnFrame (a <see cref="ResponseRecord"/>) do with it. Every input ends as an
/// accepted parse, a rejection counted by its <see cref="ParseResult"/>, or a crash: an exception, an accepted packet
/// whose offsets leave the frame, or an allocation larger than the frame.
/// </summary>
internal sealed class PacketFuzzer
{
    public const string TargetName = "packets";

    private static readonly string[] ResultNames = Enum.GetNames<ParseResult>();

    // Pcap link-type numbers a mutated input is also tried with (one in 32): unknown numbers must be refused too.
    private static readonly int[] OtherLinkTypes = [0, 2, 105, 127, 0x1_0001, -1, int.MaxValue];

    private readonly Mutator _mutator;
    private readonly IReadOnlyList<PacketSeed> _corpus;
    private readonly byte[] _buffer;

    public PacketFuzzer(int seed, IReadOnlyList<PacketSeed>? corpus = null)
    {
        _mutator = new Mutator(seed);
        _corpus = corpus ?? PacketCorpus.Build();
        _buffer = new byte[_corpus.Max(s => s.Frame.Length) + Mutator.MaxGrowth];
    }

    /// <summary>Every parse result, Ok included, as the capture node counts them.</summary>
    public ParseRejectCounters Counters { get; } = new();

    /// <summary>Accepted frames the capture node drops because the snap length cut their payload.</summary>
    public long Truncated { get; private set; }

    /// <summary>Runs <paramref name="count"/> mutated frames; the watchdog, when given, sees each one.</summary>
    public FuzzTally Run(long count, FuzzWatchdog? watchdog = null)
    {
        var tally = new FuzzTally(TargetName);
        var random = _mutator.Random;
        tally.Start();
        for (long i = 0; i < count; i++)
        {
            var seed = _corpus[random.Next(_corpus.Count)];
            var length = _mutator.Mutate(seed.Frame, _buffer, seed.Fields);
#pragma warning disable CA5394 // reproducible fuzz input, nothing secret
            var linkType = random.Next(32) == 0 ? OtherLinkTypes[random.Next(OtherLinkTypes.Length)] : seed.PcapLinkType;
#pragma warning restore CA5394
            var start = Stopwatch.GetTimestamp();
            watchdog?.Begin(TargetName, _buffer, length, start);
            var before = GC.GetAllocatedBytesForCurrentThread();
            string? failure;
            ParseResult result;
            try
            {
                (result, failure) = Process(_buffer.AsSpan(0, length), linkType);
            }
#pragma warning disable CA1031 // any exception is the finding
            catch (Exception ex)
#pragma warning restore CA1031
            {
                (result, failure) = (ParseResult.Ok, $"{ex.GetType().FullName}: {ex.Message} (link type {linkType})");
            }

            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            watchdog?.End();
            failure ??= tally.Measure(start, allocated, length, allocationBudget: length);
            if (failure is not null)
            {
                tally.Crash(failure, _buffer.AsSpan(0, length));
            }
            else if (result == ParseResult.Ok)
            {
                tally.Accept(ResultNames[0]);
            }
            else
            {
                tally.Reject(ResultNames[(int)result]);
            }
        }

        tally.Stop();
        return tally;
    }

    /// <summary>One frame as the nodes handle it; a non-null failure is a crash.</summary>
    private (ParseResult Result, string? Failure) Process(ReadOnlySpan<byte> frame, int pcapLinkType)
    {
        var result = PacketParser.TryParse(frame, LinkTypes.FromPcap(pcapLinkType), out var packet);
        Counters.Count(result);
        if (result != ParseResult.Ok)
        {
            return (result, null);
        }

        if (CheckInvariants(frame, packet) is { } broken)
        {
            return (result, $"accepted with {broken}: {packet} (link type {pcapLinkType})");
        }

        // ReplyCapturePump.OnFrame: headers only, the payload length as sent.
        var options = packet.Options;
        var record = new ResponseRecord
        {
            ClientAddress = packet.DestinationAddress,
            ClientPort = packet.DestinationPort,
            TargetAddress = packet.SourceAddress,
            TargetPort = packet.SourcePort,
            Sequence = packet.Sequence,
            Acknowledgment = packet.Acknowledgment,
            Window = packet.Window,
            Flags = (byte)packet.Flags,
            PayloadLength = (ushort)packet.PayloadLength,
            Mss = options.HasMss ? options.Mss : (ushort)0,
            WindowScale = options.HasWindowScale ? options.WindowScale : ResponseRecord.NoWindowScale,
            HasTimestamp = options.HasTimestamp,
            SackPermitted = options.SackPermitted,
            TsVal = options.TsVal,
            TsEcr = options.TsEcr,
        };
        if (record.PayloadLength != packet.PayloadLength)
        {
            return (result, $"payload length {packet.PayloadLength} does not fit a response record");
        }

        // CapturePump.OnFrame: a truncated frame is dropped; otherwise the payload is copied once.
        if (packet.Truncated)
        {
            Truncated++;
            return (result, null);
        }

        var payload = packet.PayloadLength == 0 ? [] : frame.Slice(packet.PayloadOffset, packet.PayloadLength).ToArray();
        return payload.Length == packet.PayloadLength ? (result, null) : (result, "payload copy of the wrong length");
    }

    /// <summary>What <see cref="PacketParser.TryParse"/> promises of an accepted frame; null when it holds.</summary>
    private static string? CheckInvariants(ReadOnlySpan<byte> frame, in TcpPacket packet)
    {
        if (packet.IpHeaderLength is < 20 or > 60 || packet.TcpHeaderLength is < 20 or > 60)
        {
            return "a header length out of range";
        }

        if (packet.IpOffset < 0 || packet.PayloadOffset > frame.Length)
        {
            return "headers outside the frame";
        }

        if (packet.CapturedPayloadLength < 0 || packet.PayloadOffset + packet.CapturedPayloadLength > frame.Length)
        {
            return "a captured payload outside the frame";
        }

        if (packet.PayloadLength < 0 || packet.TotalLength != packet.IpHeaderLength + packet.TcpHeaderLength + packet.PayloadLength
            || packet.TotalLength > ushort.MaxValue)
        {
            return "inconsistent lengths";
        }

        return packet.IsFragment ? "a fragment" : null;
    }
}

/// <summary>Valid frames built with <see cref="TcpPacketBuilder"/>, in every link framing the parser reads.</summary>
internal static class PacketCorpus
{
    private const uint Client = 0x0A01_0002; // 10.1.0.2
    private const uint Server = 0x0A02_0003; // 10.2.0.3

    /// <summary>The IPv4 packets: handshake, data of several sizes, FIN, RST, every option the parser decodes.</summary>
    public static IReadOnlyList<(string Name, byte[] Packet)> IpPackets()
    {
        var syn = new TcpSegmentSpec
        {
            SourceAddress = Client, DestinationAddress = Server, SourcePort = 40_000, DestinationPort = 80, Sequence = 1000,
            Flags = TcpFlags.Syn, Window = 64_240, Mss = 1460, SackPermitted = true, Timestamp = new TcpTimestamp(7, 0), WindowScale = 7,
        };
        var synAck = syn with
        {
            SourceAddress = Server, DestinationAddress = Client, SourcePort = 80, DestinationPort = 40_000, Sequence = 5000,
            Acknowledgment = 1001, Flags = TcpFlags.Syn | TcpFlags.Ack, Mss = 1400, Timestamp = null, WindowScale = 9,
        };
        var ack = syn with { Sequence = 1001, Acknowledgment = 5001, Flags = TcpFlags.Ack, Mss = null, SackPermitted = false, WindowScale = null, Timestamp = new TcpTimestamp(8, 9) };
        var data = ack with { Flags = TcpFlags.Ack | TcpFlags.Psh };
        var plain = data with { Timestamp = null, DontFragment = false, Tos = 0x10 };
        var packets = new List<(string, byte[])>
        {
            ("syn", Build(syn, 0)),
            ("syn-ack", Build(synAck, 0)),
            ("syn-mss-only", Build(syn with { SackPermitted = false, Timestamp = null, WindowScale = null }, 0)),
            ("ack-ts", Build(ack, 0)),
            ("fin", Build(plain with { Flags = TcpFlags.Fin | TcpFlags.Ack }, 0)),
            ("rst", Build(plain with { Flags = TcpFlags.Rst, Window = 0 }, 0)),
        };
        foreach (var size in new[] { 1, 100, 517, 1448 })
        {
            packets.Add(($"data-ts-{size}", Build(data, size)));
        }

        packets.Add(("data-1460", Build(plain, 1460)));
        packets.Add(("data-8960", Build(plain, 8960)));

        // Options the builder does not write: SACK blocks (1 and 3), an unknown kind skipped by length, EOL padding.
        packets.Add(("ack-sack1", WithOptions(Build(plain, 0), [1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2])));
        packets.Add(("ack-sack3-ts", WithOptions(Build(plain, 20), [1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6, 1, 1, 5, 26, .. new byte[24]])));
        packets.Add(("syn-unknown-eol", WithOptions(Build(syn with { Timestamp = null, SackPermitted = false, WindowScale = null }, 0), [2, 4, 5, 180, 30, 4, 1, 2, 0, 0, 0, 0])));
        return packets;
    }

    /// <summary>Each IPv4 packet in each link framing, plus snap-length cuts as the intercept node captures (256 bytes).</summary>
    public static IReadOnlyList<PacketSeed> Build()
    {
        var seeds = new List<PacketSeed>();
        var sll2Types = 0;
        foreach (var (name, ip) in IpPackets())
        {
            seeds.Add(Seed($"{name}/raw", ip, (int)LinkType.Raw));
            seeds.Add(Seed($"{name}/ipv4", ip, (int)LinkType.Ipv4));
            seeds.Add(Seed($"{name}/dlt-raw", ip, 12));
            seeds.Add(Seed($"{name}/ethernet", Ethernet(ip, []), (int)LinkType.Ethernet));
            seeds.Add(Seed($"{name}/vlan", Ethernet(ip, [PacketParser.EtherTypeVlan]), (int)LinkType.Ethernet));
            seeds.Add(Seed($"{name}/qinq", Ethernet(ip, [PacketParser.EtherTypeQinQ, PacketParser.EtherTypeVlan]), (int)LinkType.Ethernet));
            seeds.Add(Seed($"{name}/sll", Sll(ip), (int)LinkType.LinuxSll));
            seeds.Add(Seed($"{name}/sll2", Sll2(ip, sll2Types++), (int)LinkType.LinuxSll2));
            var ethernet = Ethernet(ip, []);
            if (ethernet.Length > 256)
            {
                seeds.Add(Seed($"{name}/ethernet-snap256", ethernet[..256], (int)LinkType.Ethernet));
            }
        }

        return seeds;
    }

    private static byte[] Build(in TcpSegmentSpec spec, int payloadLength)
    {
        var payload = new byte[payloadLength];
        for (var i = 0; i < payload.Length; i++)
        {
            payload[i] = (byte)('a' + (i % 26));
        }

        var packet = new byte[TcpPacketBuilder.GetPacketLength(spec, payloadLength)];
        TcpPacketBuilder.Write(spec, payload, packet);
        return packet;
    }

    /// <summary>Replaces the option area of a packet the builder wrote without options.</summary>
    private static byte[] WithOptions(byte[] packet, byte[] options)
    {
        var result = new byte[packet.Length + options.Length];
        packet.AsSpan(0, 40).CopyTo(result);
        options.CopyTo(result.AsSpan(40));
        packet.AsSpan(40).CopyTo(result.AsSpan(40 + options.Length));
        BinaryPrimitives.WriteUInt16BigEndian(result.AsSpan(2), (ushort)result.Length);
        result[20 + 12] = (byte)((20 + options.Length) / 4 << 4);
        return result;
    }

    /// <summary>Ethernet II with the given tag types before the IPv4 type; short frames padded to 60 bytes as on the wire.</summary>
    private static byte[] Ethernet(byte[] ip, ushort[] tags)
    {
        var header = 14 + (tags.Length * 4);
        var frame = new byte[Math.Max(header + ip.Length, 60)];
        for (var i = 0; i < 12; i++)
        {
            frame[i] = (byte)(0x02 + i);
        }

        var offset = 12;
        foreach (var tag in tags)
        {
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(offset), tag);
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(offset + 2), 100); // VLAN id 100
            offset += 4;
        }

        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(offset), PacketParser.EtherTypeIpv4);
        ip.CopyTo(frame.AsSpan(header));
        return frame;
    }

    private static byte[] Sll(byte[] ip)
    {
        var frame = new byte[16 + ip.Length];
        BinaryPrimitives.WriteUInt16BigEndian(frame, 0); // to us
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), 1); // ARPHRD_ETHER
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(4), 6);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(14), PacketParser.EtherTypeIpv4);
        ip.CopyTo(frame.AsSpan(16));
        return frame;
    }

    private static byte[] Sll2(byte[] ip, int variant)
    {
        var frame = new byte[20 + ip.Length];
        BinaryPrimitives.WriteUInt16BigEndian(frame, PacketParser.EtherTypeIpv4);
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(4), 2 + variant); // interface index
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(8), 1);
        frame[10] = (byte)(variant % 5); // packet type: host, broadcast, multicast, otherhost, outgoing
        frame[11] = 6;
        ip.CopyTo(frame.AsSpan(20));
        return frame;
    }

    private static PacketSeed Seed(string name, byte[] frame, int pcapLinkType)
    {
        var result = PacketParser.TryParse(frame, LinkTypes.FromPcap(pcapLinkType), out var packet);
        if (result != ParseResult.Ok)
        {
            throw new InvalidOperationException($"corpus frame {name} does not parse: {result}");
        }

        var ip = packet.IpOffset;
        var tcp = packet.TcpOffset;
        var fields = new List<FuzzField>
        {
            new(ip, 1, true, 0x0F), // IHL
            new(ip, 1, true, 0xF0), // version
            new(ip + 2, 2, true), // total length
            new(ip + 6, 2, true), // flags and fragment offset
            new(ip + 9, 1, true), // protocol
            new(tcp + 12, 1, true, 0xF0), // data offset
        };
        if (ip >= 2)
        {
            fields.Add(new FuzzField(ip - 2, 2, true)); // EtherType / SLL protocol
        }

        if (pcapLinkType == (int)LinkType.LinuxSll2)
        {
            fields.Add(new FuzzField(0, 2, true));
        }
        else if (pcapLinkType == (int)LinkType.Ethernet)
        {
            fields.Add(new FuzzField(12, 2, true));
            fields.Add(new FuzzField(16, 2, true));
        }

        // Every option's length byte.
        for (var i = tcp + 20; i < packet.PayloadOffset && frame[i] != 0;)
        {
            if (frame[i] == 1)
            {
                i++;
                continue;
            }

            fields.Add(new FuzzField(i + 1, 1, true));
            i += Math.Max((int)frame[i + 1], 2);
        }

        return new PacketSeed(name, frame, pcapLinkType, [.. fields]);
    }
}
