using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Packets;
using ReplayCluster.PacketIO;

namespace ReplayCluster.Lab.Tests.Foundation;

/// <summary>
/// The packet codec against the real kernel: packets captured from a curl session rebuild byte for byte, and a SYN
/// built by <see cref="TcpPacketBuilder"/> with a spoofed source is answered by the target, while the same SYN with a
/// broken TCP checksum is dropped and counted as a checksum error.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class CodecLabTests(LabFixture fixture, ITestOutputHelper output)
{
    private readonly Lab.Lab _lab = fixture.Lab;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Every_packet_of_a_curl_session_rebuilds_byte_identical_from_its_parsed_fields()
    {
        var frames = new ConcurrentQueue<byte[]>();
        using var capture = NetworkNamespace.RunIn(
            _lab.OnlineNamespace,
            () => LiveCapture.Open(new LiveCaptureOptions
            {
                Interface = _lab.OnlineInterface,
                Filter = $"tcp port {_lab.OnlineNginxPort} and host {_lab.OnlineIp}",
            }));
        var linkType = LinkTypes.FromPcap(capture.LinkType);
        capture.Start((frame, in _) => frames.Enqueue(frame.ToArray()));

        // /64k: the response spans many full-MSS segments, so payload checksums over 1448 bytes are covered too.
        var curl = await _lab.CurlAsync($"http://{_lab.OnlineIp}:{_lab.OnlineNginxPort}/64k", cancellationToken: Ct);
        Assert.Equal(200, curl.HttpStatus);
        await Task.Delay(300, Ct); // the final ACK of the close follows the response
        var statistics = capture.Statistics;
        capture.Stop();

        var buffer = new byte[TcpPacketBuilder.MaxPacketLength];
        var (syns, data, fins) = (0, 0, 0);
        foreach (var frame in frames)
        {
            Assert.Equal(ParseResult.Ok, PacketParser.TryParse(frame, linkType, out var packet));
            Assert.False(packet.Truncated, packet.ToString());
            var captured = frame.AsSpan(packet.IpOffset, packet.TotalLength);
            Assert.True(Checksum.VerifyTcp(packet.SourceAddress, packet.DestinationAddress, captured[packet.IpHeaderLength..]), $"captured checksum is not valid: {packet}");
            Assert.Equal(0, packet.Options.SackBlockCount); // the builder writes no SACK blocks; a clean session has none

            var length = TcpPacketBuilder.Write(SpecOf(packet), frame.AsSpan(packet.PayloadOffset, packet.PayloadLength), buffer);

            Assert.True(
                captured.SequenceEqual(buffer.AsSpan(0, length)),
                $"rebuilt packet differs from the captured one: {packet}\ncaptured {Convert.ToHexString(captured)}\nrebuilt  {Convert.ToHexString(buffer, 0, length)}");
            syns += packet.HasFlag(TcpFlags.Syn) ? 1 : 0;
            data += packet.PayloadLength > 0 ? 1 : 0;
            fins += packet.HasFlag(TcpFlags.Fin) ? 1 : 0;
        }

        output.WriteLine($"{frames.Count} packets rebuilt byte-identical: {syns} SYN, {data} with data, {fins} FIN; kernel dropped {statistics.KernelDropped}");
        Assert.Equal(2, syns); // SYN and SYN-ACK, both with MSS, SACK-permitted, timestamp and window scale
        Assert.True(data >= 1 + (65536 / 1448), $"only {data} data segments");
        Assert.Equal(2, fins);
        var syn = frames.Select(f => Parse(f, linkType)).First(p => p.Flags == TcpFlags.Syn);
        Assert.True(syn.Options is { HasMss: true, HasWindowScale: true, SackPermitted: true, HasTimestamp: true }, syn.ToString());
    }

    [Fact]
    public async Task Spoofed_syn_built_by_us_is_answered_and_one_with_a_bad_checksum_is_dropped_and_counted()
    {
        var (fakeNetwork, _) = ParseCidr(_lab.FakeRange);
        var goodSource = fakeNetwork + 0x0102; // x.y.1.2 inside the fake range
        var badSource = fakeNetwork + 0x0103;
        var target = Ipv4Address.FromIPAddress(_lab.TargetIp);
        const ushort GoodPort = 40001;
        const ushort BadPort = 40002;
        const uint Isn = 0x1234_5678;

        using var sink = SinkCapture<TcpPacket>.Start(
            _lab,
            $"tcp and src host {_lab.TargetIp} and src port {_lab.TargetNginxPort} and (dst host {Ipv4Address.Format(goodSource)} or dst host {Ipv4Address.Format(badSource)})",
            PacketParser.TryParse);
        using var sender = NetworkNamespace.RunIn(_lab.OnlineNamespace, () => new RawIpSender());
        var buffer = new byte[128];

        // A good SYN: answered with a SYN-ACK that the target routes to the reply sink.
        var good = Syn(goodSource, GoodPort, target, Isn);
        var length = TcpPacketBuilder.Write(good, [], buffer);
        Assert.True(sender.Send(buffer.AsSpan(0, length)), $"send failed, errno {sender.LastErrno}");
        var synAck = await sink.WaitForAsync(p => p.DestinationAddress == goodSource && p.DestinationPort == GoodPort, TimeSpan.FromSeconds(3), Ct);
        Assert.NotNull(synAck);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Value.Flags & (TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Rst));
        Assert.Equal(Isn + 1, synAck.Value.Acknowledgment);
        output.WriteLine($"answer on the reply sink ({_lab.SinkNamespace}/{_lab.SinkInterface}): {synAck.Value}");

        // Reset the half-open connection so the target stops retransmitting its SYN-ACK into the shared lab.
        length = TcpPacketBuilder.Write(good with { Flags = TcpFlags.Rst, Sequence = Isn + 1, Mss = null, WindowScale = null, SackPermitted = false, Timestamp = null, Window = 0 }, [], buffer);
        Assert.True(sender.Send(buffer.AsSpan(0, length)));

        // The same SYN from another source with one bit of the TCP checksum flipped: dropped, counted, unanswered.
        var errorsBefore = await TargetTcpCounterAsync("InCsumErrors");
        length = TcpPacketBuilder.Write(Syn(badSource, BadPort, target, Isn), [], buffer);
        buffer[20 + 16] ^= 0x01;
        Assert.True(sender.Send(buffer.AsSpan(0, length)), $"send failed, errno {sender.LastErrno}");
        var unexpected = await sink.WaitForAsync(p => p.DestinationAddress == badSource, TimeSpan.FromSeconds(1.5), Ct);
        var errorsAfter = await TargetTcpCounterAsync("InCsumErrors");
        sink.Stop();

        output.WriteLine($"target Tcp InCsumErrors {errorsBefore} -> {errorsAfter}; raw sends {sender.Sent}, failed {sender.Failed}");
        Assert.Null(unexpected);
        Assert.True(errorsAfter > errorsBefore, $"InCsumErrors did not rise ({errorsBefore} -> {errorsAfter})");
    }

    private TcpSegmentSpec Syn(uint source, ushort port, uint target, uint isn) => new()
    {
        SourceAddress = source,
        DestinationAddress = target,
        SourcePort = port,
        DestinationPort = (ushort)_lab.TargetNginxPort,
        Sequence = isn,
        Flags = TcpFlags.Syn,
        Window = 64240,
        IpId = 1,
        Mss = 1460,
        SackPermitted = true,
        Timestamp = new TcpTimestamp(1, 0),
        WindowScale = 7,
    };

    private static TcpSegmentSpec SpecOf(in TcpPacket p) => new TcpSegmentSpec
    {
        SourceAddress = p.SourceAddress,
        DestinationAddress = p.DestinationAddress,
        SourcePort = p.SourcePort,
        DestinationPort = p.DestinationPort,
        Sequence = p.Sequence,
        Acknowledgment = p.Acknowledgment,
        Flags = p.Flags,
        Window = p.Window,
        IpId = p.IpId,
        Ttl = p.Ttl,
        Tos = p.Tos,
        DontFragment = p.DontFragment,
    }.WithOptionsOf(p.Options);

    private static TcpPacket Parse(byte[] frame, LinkType linkType)
    {
        Assert.Equal(ParseResult.Ok, PacketParser.TryParse(frame, linkType, out var packet));
        return packet;
    }

    private static (uint Network, int PrefixLength) ParseCidr(string cidr)
    {
        var slash = cidr.IndexOf('/', StringComparison.Ordinal);
        return (Ipv4Address.FromIPAddress(IPAddress.Parse(cidr[..slash])), int.Parse(cidr[(slash + 1)..], CultureInfo.InvariantCulture));
    }

    /// <summary>Reads one counter of the <c>Tcp:</c> lines of /proc/net/snmp inside the target namespace.</summary>
    private async Task<long> TargetTcpCounterAsync(string name)
    {
        var snmp = (await _lab.ExecAsync(LabRole.Target, ["cat", "/proc/net/snmp"], cancellationToken: Ct)).EnsureSuccess("cat /proc/net/snmp").StdOut;
        var tcp = snmp.Split('\n').Where(l => l.StartsWith("Tcp:", StringComparison.Ordinal)).ToArray();
        Assert.Equal(2, tcp.Length);
        var names = tcp[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var values = tcp[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var index = Array.IndexOf(names, name);
        Assert.True(index > 0, $"no Tcp {name} in /proc/net/snmp");
        return long.Parse(values[index], CultureInfo.InvariantCulture);
    }
}
