using System.Buffers.Binary;
using System.Diagnostics;
using ReplayCluster.Packets;
using ReplayCluster.Protocol;

namespace ReplayCluster.Benchmarks.Fuzz;

/// <summary>
/// A valid captured frame to mutate: its bytes, its pcap link-type number and its length/type fields. IPv6 seeds go
/// through <see cref="PacketParser.TryParseDualStack"/> (so a mutation that turns them into IPv4 reaches that parse
/// too); IPv4 seeds through <see cref="PacketParser.TryParse"/>, as the nodes call it today.
/// </summary>
internal sealed record PacketSeed(string Name, byte[] Frame, int PcapLinkType, FuzzField[] Fields, bool DualStack = false);

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

    private readonly ParseRejectCounters _uncounted = new();
    private bool _again;

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
                (result, failure) = seed.DualStack ? ProcessDualStack(_buffer.AsSpan(0, length), linkType) : Process(_buffer.AsSpan(0, length), linkType);
            }
#pragma warning disable CA1031 // any exception is the finding
            catch (Exception ex)
#pragma warning restore CA1031
            {
                (result, failure) = (ParseResult.Ok, $"{ex.GetType().FullName}: {ex.Message} (link type {linkType})");
            }

            var input = (Fuzzer: this, Length: length, LinkType: linkType, seed.DualStack);
            var allocated = FuzzTally.RemeasureIfOverBudget(GC.GetAllocatedBytesForCurrentThread() - before, length, input, DecodeAgain);
            start = tally.RetimeIfSlow(start, input, DecodeAgain);

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

    // One more decode of the input in the buffer, for a second measure of its time or its allocations (FuzzTally); what
    // it counts is thrown away, so that every input is counted once.
    private static void DecodeAgain((PacketFuzzer Fuzzer, int Length, int LinkType, bool DualStack) s)
    {
        s.Fuzzer._again = true;
        try
        {
            _ = s.DualStack ? s.Fuzzer.ProcessDualStack(s.Fuzzer._buffer.AsSpan(0, s.Length), s.LinkType) : s.Fuzzer.Process(s.Fuzzer._buffer.AsSpan(0, s.Length), s.LinkType);
        }
        finally
        {
            s.Fuzzer._again = false;
        }
    }

    // Where a decode counts its result: the counters, or a scratch set during a second decode of the same input.
    private ParseRejectCounters CountsNow => _again ? _uncounted : Counters;

    /// <summary>One frame as the nodes handle it; a non-null failure is a crash.</summary>
    private (ParseResult Result, string? Failure) Process(ReadOnlySpan<byte> frame, int pcapLinkType)
    {
        var result = PacketParser.TryParse(frame, LinkTypes.FromPcap(pcapLinkType), out var packet);
        CountsNow.Count(result);
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
            Truncated += _again ? 0 : 1;
            return (result, null);
        }

        var payload = packet.PayloadLength == 0 ? [] : frame.Slice(packet.PayloadOffset, packet.PayloadLength).ToArray();
        return payload.Length == packet.PayloadLength ? (result, null) : (result, "payload copy of the wrong length");
    }

    /// <summary>
    /// One frame through the dual-stack parse; an IPv4 result is handled as <see cref="Process"/> handles it, an IPv6
    /// one checked against what <see cref="PacketParser.TryParseIpv6"/> promises and its payload copied (the response
    /// record has no IPv6 form yet).
    /// </summary>
    private (ParseResult Result, string? Failure) ProcessDualStack(ReadOnlySpan<byte> frame, int pcapLinkType)
    {
        var result = PacketParser.TryParseDualStack(frame, LinkTypes.FromPcap(pcapLinkType), out var ipv4, out var ipv6, out var family);
        if (result != ParseResult.Ok || family == System.Net.Sockets.AddressFamily.InterNetwork)
        {
            // An IPv4 frame (or any rejection): the IPv4 path must have said exactly the same.
            var ipv4Result = PacketParser.TryParse(frame, LinkTypes.FromPcap(pcapLinkType), out var expected);
            if (family != System.Net.Sockets.AddressFamily.InterNetworkV6 && (ipv4Result != result || !SameHeaders(expected, ipv4)))
            {
                return (result, $"dual-stack parse gave {result}, the IPv4 parse {ipv4Result} (link type {pcapLinkType})");
            }

            return result == ParseResult.Ok ? Process(frame, pcapLinkType) : CountOnly(result);
        }

        CountsNow.Count(result);
        if (CheckInvariants(frame, ipv6) is { } broken)
        {
            return (result, $"accepted with {broken}: {ipv6} (link type {pcapLinkType})");
        }

        if (ipv6.Truncated)
        {
            Truncated += _again ? 0 : 1;
            return (result, null);
        }

        var payload = ipv6.PayloadLength == 0 ? [] : frame.Slice(ipv6.PayloadOffset, ipv6.PayloadLength).ToArray();
        return payload.Length == ipv6.PayloadLength ? (result, null) : (result, "payload copy of the wrong length");
    }

    // Field by field: ValueType.Equals would box, and the harness counts allocations per input.
    private static bool SameHeaders(in TcpPacket a, in TcpPacket b) =>
        a.IpOffset == b.IpOffset && a.IpHeaderLength == b.IpHeaderLength && a.TotalLength == b.TotalLength && a.TcpHeaderLength == b.TcpHeaderLength
        && a.CapturedPayloadLength == b.CapturedPayloadLength && a.SourceAddress == b.SourceAddress && a.DestinationAddress == b.DestinationAddress
        && a.SourcePort == b.SourcePort && a.DestinationPort == b.DestinationPort && a.Sequence == b.Sequence && a.Acknowledgment == b.Acknowledgment
        && a.Flags == b.Flags && a.Window == b.Window && a.Options.Equals(b.Options);

    private (ParseResult Result, string? Failure) CountOnly(ParseResult result)
    {
        CountsNow.Count(result);
        return (result, null);
    }

    /// <summary>What <see cref="PacketParser.TryParseIpv6"/> promises of an accepted frame; null when it holds.</summary>
    private static string? CheckInvariants(ReadOnlySpan<byte> frame, in Ipv6TcpPacket packet)
    {
        if (packet.IpHeaderLength < 40 || packet.ExtensionHeadersLength % 8 != 0
            || packet.ExtensionHeadersLength > PacketParser.MaxIpv6ExtensionHeaders * 2048 || packet.TcpHeaderLength is < 20 or > 60)
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
            || packet.TotalLength > 40 + ushort.MaxValue)
        {
            return "inconsistent lengths";
        }

        return null;
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

/// <summary>
/// Valid frames built with <see cref="TcpPacketBuilder"/> and <see cref="Ipv6TcpPacketBuilder"/>, in every link framing
/// the parsers read.
/// </summary>
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

        foreach (var (name, ip) in Ipv6Packets())
        {
            seeds.Add(Ipv6Seed($"{name}/raw", ip, (int)LinkType.Raw));
            seeds.Add(Ipv6Seed($"{name}/ipv6", ip, (int)LinkType.Ipv6));
            seeds.Add(Ipv6Seed($"{name}/ethernet", Ethernet(ip, [], PacketParser.EtherTypeIpv6), (int)LinkType.Ethernet));
            seeds.Add(Ipv6Seed($"{name}/vlan", Ethernet(ip, [PacketParser.EtherTypeVlan], PacketParser.EtherTypeIpv6), (int)LinkType.Ethernet));
            seeds.Add(Ipv6Seed($"{name}/sll", Sll(ip, PacketParser.EtherTypeIpv6), (int)LinkType.LinuxSll));
            seeds.Add(Ipv6Seed($"{name}/sll2", Sll2(ip, sll2Types++, PacketParser.EtherTypeIpv6), (int)LinkType.LinuxSll2));
            var ethernet = Ethernet(ip, [], PacketParser.EtherTypeIpv6);
            if (ethernet.Length > 256)
            {
                seeds.Add(Ipv6Seed($"{name}/ethernet-snap256", ethernet[..256], (int)LinkType.Ethernet));
            }
        }

        return seeds;
    }

    /// <summary>
    /// The IPv6 packets: handshake and data as the IPv4 ones, and each extension header the parser walks (hop-by-hop,
    /// destination options, routing with no segments left, atomic fragment), alone and chained.
    /// </summary>
    public static IReadOnlyList<(string Name, byte[] Packet)> Ipv6Packets()
    {
        var syn = new TcpSegmentSpec
        {
            SourcePort = 40_000, DestinationPort = 80, Sequence = 1000, Flags = TcpFlags.Syn, Window = 64_800, Mss = 1440,
            SackPermitted = true, Timestamp = new TcpTimestamp(7, 0), WindowScale = 7,
        };
        var data = syn with { Sequence = 1001, Acknowledgment = 5001, Flags = TcpFlags.Ack | TcpFlags.Psh, Mss = null, SackPermitted = false, WindowScale = null, Timestamp = new TcpTimestamp(8, 9) };
        byte[] hopByHop = [0, 0, 1, 4, 0, 0, 0, 0];
        byte[] destinationOptions = [0, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        byte[] routing = [0, 2, 2, 0, 0, 0, 0, 0, .. new byte[16]];
        byte[] atomicFragment = [0, 0, 0, 0, 0, 0, 0x12, 0x34];
        var packets = new List<(string, byte[])>
        {
            ("v6-syn", BuildIpv6(syn, 0)),
            ("v6-ack-ts", BuildIpv6(data with { Flags = TcpFlags.Ack }, 0)),
            ("v6-fin", BuildIpv6(data with { Flags = TcpFlags.Fin | TcpFlags.Ack, Timestamp = null }, 0)),
            ("v6-data-100", BuildIpv6(data, 100)),
            ("v6-data-1428", BuildIpv6(data with { Timestamp = null }, 1428)),
            ("v6-hbh", WithIpv6Headers(BuildIpv6(data, 20), (0, hopByHop))),
            ("v6-dstopts", WithIpv6Headers(BuildIpv6(syn, 0), (60, destinationOptions))),
            ("v6-routing", WithIpv6Headers(BuildIpv6(data, 20), (43, routing))),
            ("v6-atomic-fragment", WithIpv6Headers(BuildIpv6(data, 20), (44, atomicFragment))),
            ("v6-chain", WithIpv6Headers(BuildIpv6(data, 300), (0, hopByHop), (60, destinationOptions), (43, routing), (44, atomicFragment), (60, hopByHop))),
        };
        return packets;
    }

    private static byte[] BuildIpv6(in TcpSegmentSpec spec, int payloadLength)
    {
        var payload = new byte[payloadLength];
        for (var i = 0; i < payload.Length; i++)
        {
            payload[i] = (byte)('a' + (i % 26));
        }

        var packet = new byte[Ipv6TcpPacketBuilder.GetPacketLength(spec, payloadLength)];
        Ipv6TcpPacketBuilder.Write(spec, new Ipv6Address(0x2001_0db8_0001_0000, 2), new Ipv6Address(0x2001_0db8_0002_0000, 3), payload, packet);
        return packet;
    }

    /// <summary>Inserts extension headers (type, body) after the fixed header, chaining next-header bytes and fixing the payload length.</summary>
    private static byte[] WithIpv6Headers(byte[] packet, params (byte Type, byte[] Body)[] headers)
    {
        var result = new byte[packet.Length + headers.Sum(h => h.Body.Length)];
        packet.AsSpan(0, 40).CopyTo(result);
        var offset = 40;
        for (var i = 0; i < headers.Length; i++)
        {
            headers[i].Body.CopyTo(result.AsSpan(offset));
            result[offset] = i + 1 < headers.Length ? headers[i + 1].Type : packet[6];
            offset += headers[i].Body.Length;
        }

        result[6] = headers[0].Type;
        packet.AsSpan(40).CopyTo(result.AsSpan(offset));
        BinaryPrimitives.WriteUInt16BigEndian(result.AsSpan(4), (ushort)(result.Length - 40));
        return result;
    }

    private static PacketSeed Ipv6Seed(string name, byte[] frame, int pcapLinkType)
    {
        var result = PacketParser.TryParseIpv6(frame, LinkTypes.FromPcap(pcapLinkType), out var packet);
        if (result != ParseResult.Ok)
        {
            throw new InvalidOperationException($"corpus frame {name} does not parse: {result}");
        }

        var ip = packet.IpOffset;
        var fields = new List<FuzzField>
        {
            new(ip, 1, true, 0xF0), // version
            new(ip + 4, 2, true), // payload length
            new(ip + 6, 1, true), // next header
            new(packet.TcpOffset + 12, 1, true, 0xF0), // data offset
        };
        if (ip >= 2)
        {
            fields.Add(new FuzzField(ip - 2, 2, true)); // EtherType / SLL protocol
        }

        if (pcapLinkType == (int)LinkType.LinuxSll2)
        {
            fields.Add(new FuzzField(0, 2, true));
        }

        // Each extension header's next header and length bytes, the fragment offset/M word and routing segments left.
        var next = frame[ip + 6];
        for (var offset = ip + 40; offset < packet.TcpOffset;)
        {
            fields.Add(new FuzzField(offset, 1, true));
            fields.Add(new FuzzField(offset + 1, 1, true));
            if (next == 44)
            {
                fields.Add(new FuzzField(offset + 2, 2, true));
            }
            else if (next == 43)
            {
                fields.Add(new FuzzField(offset + 3, 1, true));
            }

            var length = next == 44 ? 8 : (frame[offset + 1] + 1) * 8;
            next = frame[offset];
            offset += length;
        }

        for (var i = packet.TcpOffset + 20; i < packet.PayloadOffset && frame[i] != 0;)
        {
            if (frame[i] == 1)
            {
                i++;
                continue;
            }

            fields.Add(new FuzzField(i + 1, 1, true));
            i += Math.Max((int)frame[i + 1], 2);
        }

        return new PacketSeed(name, frame, pcapLinkType, [.. fields], DualStack: true);
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
    private static byte[] Ethernet(byte[] ip, ushort[] tags, ushort etherType = PacketParser.EtherTypeIpv4)
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

        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(offset), etherType);
        ip.CopyTo(frame.AsSpan(header));
        return frame;
    }

    private static byte[] Sll(byte[] ip, ushort protocol = PacketParser.EtherTypeIpv4)
    {
        var frame = new byte[16 + ip.Length];
        BinaryPrimitives.WriteUInt16BigEndian(frame, 0); // to us
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), 1); // ARPHRD_ETHER
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(4), 6);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(14), protocol);
        ip.CopyTo(frame.AsSpan(16));
        return frame;
    }

    private static byte[] Sll2(byte[] ip, int variant, ushort protocol = PacketParser.EtherTypeIpv4)
    {
        var frame = new byte[20 + ip.Length];
        BinaryPrimitives.WriteUInt16BigEndian(frame, protocol);
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
