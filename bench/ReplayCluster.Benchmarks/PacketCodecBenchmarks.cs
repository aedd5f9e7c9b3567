using BenchmarkDotNet.Attributes;
using ReplayCluster.Packets;

namespace ReplayCluster.Benchmarks;

/// <summary>
/// Per-packet costs of the packet layer: what the capture and replay hot paths pay for each frame. Inputs are built
/// once in <see cref="Setup"/>; every benchmark works on preallocated buffers, so "Allocated" must read "-".
/// </summary>
[MemoryDiagnoser]
public class PacketCodecBenchmarks
{
    private const int Mss = 1448; // 1460 minus the 12-byte timestamp option, as Linux sends with timestamps on.

    private static readonly TcpSegmentSpec DataSpec = new()
    {
        SourceAddress = 0x0A4D0002,
        DestinationAddress = 0x0A4D0001,
        SourcePort = 80,
        DestinationPort = 44500,
        Sequence = 2126778078,
        Acknowledgment = 851506363,
        Flags = TcpFlags.Ack | TcpFlags.Psh,
        Window = 64,
        IpId = 4242,
        Timestamp = new TcpTimestamp(165538640, 4206581493),
    };

    private byte[] _synFrame = [];
    private byte[] _dataFrame = [];
    private byte[] _payload = [];
    private byte[] _buffer = [];
    private TcpPacket _data;

    [GlobalSetup]
    public void Setup()
    {
        var syn = DataSpec with
        {
            Flags = TcpFlags.Syn,
            Acknowledgment = 0,
            Mss = 1460,
            SackPermitted = true,
            WindowScale = 7,
            Timestamp = new TcpTimestamp(922476703, 0),
        };
        _synFrame = EthernetFrame(syn, 0);
        _dataFrame = EthernetFrame(DataSpec, Mss); // 14 + 20 + 32 + 1448 = 1514 bytes: a full-MTU Ethernet frame.
        _payload = new byte[Mss];
        _buffer = new byte[2048];
        PacketParser.TryParse(_dataFrame, LinkType.Ethernet, out _data);
    }

    [Benchmark]
    public ParseResult ParseSynWithOptions() => PacketParser.TryParse(_synFrame, LinkType.Ethernet, out _);

    [Benchmark]
    public ParseResult ParseDataSegment1514() => PacketParser.TryParse(_dataFrame, LinkType.Ethernet, out _);

    [Benchmark]
    public int BuildDataSegmentWithChecksums() => TcpPacketBuilder.Write(DataSpec, _payload, _buffer);

    [Benchmark]
    public bool RewriteAndFixChecksums()
    {
        var frame = _dataFrame.AsSpan();
        TcpPacketRewriter.SetDestination(frame, _data, 0x0A630102, 8080);
        TcpPacketRewriter.SetAcknowledgment(frame, _data, 12345);
        TcpPacketRewriter.TrySetTimestampEcr(frame, _data, 777);
        return TcpPacketRewriter.FixChecksums(frame, _data);
    }

    private static byte[] EthernetFrame(in TcpSegmentSpec spec, int payloadLength)
    {
        var frame = new byte[14 + TcpPacketBuilder.GetPacketLength(spec, payloadLength)];
        frame[12] = 0x08; // EtherType IPv4; zero MAC addresses as on loopback.
        var payload = new byte[payloadLength];
        new Random(1).NextBytes(payload);
        TcpPacketBuilder.Write(spec, payload, frame.AsSpan(14));
        return frame;
    }
}
