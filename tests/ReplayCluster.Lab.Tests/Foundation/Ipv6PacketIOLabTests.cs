using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Packets;
using ReplayCluster.PacketIO;

namespace ReplayCluster.Lab.Tests.Foundation;

/// <summary>
/// The IPv6 packet I/O under the replay (issue 12), against the real kernel in a dual-stack lab: client traffic
/// captured with an <c>ip6</c> filter parses and rebuilds byte for byte, a SYN we build from the fake IPv6 range and
/// send through a raw IPv6 socket (alone, or batched in one <c>sendmmsg</c>) is answered by the target, whose answer goes
/// to the reply sink and never to the client, and a packet longer than the link's MTU is refused and counted rather than
/// fragmented.
/// </summary>
public sealed class Ipv6PacketIOLabTests(Ipv6PacketIOLabTests.DualStackLab fixture, ITestOutputHelper output) : IClassFixture<Ipv6PacketIOLabTests.DualStackLab>
{
    private readonly Lab.Lab _lab = fixture.Lab;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private LabFacts.Ipv6Facts Ipv6 => _lab.Ipv6 ?? throw new InvalidOperationException("the fixture's lab is not dual stack");

    [Fact]
    public async Task Ipv6_client_packets_captured_with_an_ip6_filter_rebuild_byte_identical()
    {
        var online = Ipv6.Onlines[0];
        var frames = new ConcurrentQueue<byte[]>();
        using var capture = NetworkNamespace.RunIn(
            _lab.OnlineNamespace,
            () => LiveCapture.Open(new LiveCaptureOptions
            {
                Interface = _lab.OnlineInterface,
                Filter = $"ip6 and tcp port {_lab.OnlineNginxPort} and host {online.Ip}",
            }));
        var linkType = LinkTypes.FromPcap(capture.LinkType);
        capture.Start((frame, in _) => frames.Enqueue(frame.ToArray()));

        // /64k: many full-MSS segments (1440 bytes of payload over IPv6's 40-byte header), so long checksums are covered.
        // -g: curl would read the brackets of the IPv6 literal as a glob range.
        var curl = await _lab.CurlAsync($"http://[{online.Ip}]:{_lab.OnlineNginxPort}/64k", extraArguments: ["-g"], cancellationToken: Ct);
        Assert.Equal(200, curl.HttpStatus);
        await Task.Delay(300, Ct); // the close's last ACK follows the response
        var statistics = capture.Statistics;
        capture.Stop();

        var buffer = new byte[Ipv6TcpPacketBuilder.MaxPacketLength];
        var (syns, data, fins) = (0, 0, 0);
        foreach (var frame in frames)
        {
            Assert.Equal(ParseResult.Ok, PacketParser.TryParseIpv6(frame, linkType, out var packet));
            var captured = frame.AsSpan(packet.IpOffset, packet.TotalLength);
            Assert.Equal(Ipv6TcpPacket.FixedHeaderLength, packet.IpHeaderLength); // Linux sends no extension headers here
            Assert.True(Checksum.VerifyTcp(packet.SourceAddress, packet.DestinationAddress, captured[packet.IpHeaderLength..]), $"captured checksum is not valid: {packet}");

            var length = Ipv6TcpPacketBuilder.Write(SpecOf(packet), packet.SourceAddress, packet.DestinationAddress,
                frame.AsSpan(packet.TcpOffset + packet.TcpHeaderLength, packet.PayloadLength), buffer, packet.FlowLabel);

            Assert.True(
                captured.SequenceEqual(buffer.AsSpan(0, length)),
                $"rebuilt packet differs from the captured one: {packet}\ncaptured {Convert.ToHexString(captured)}\nrebuilt  {Convert.ToHexString(buffer, 0, length)}");
            syns += packet.HasFlag(TcpFlags.Syn) ? 1 : 0;
            data += packet.PayloadLength > 0 ? 1 : 0;
            fins += packet.HasFlag(TcpFlags.Fin) ? 1 : 0;
        }

        output.WriteLine($"{frames.Count} IPv6 packets rebuilt byte-identical: {syns} SYN, {data} with data, {fins} FIN; kernel dropped {statistics.KernelDropped}");
        Assert.Equal(2, syns);
        Assert.True(data >= 1 + (65536 / 1440), $"only {data} data segments");
        Assert.Equal(2, fins);
    }

    [Fact]
    public async Task A_spoofed_ipv6_syn_is_answered_into_the_sink_and_a_packet_over_the_mtu_is_refused_not_fragmented()
    {
        var online = Ipv6.Onlines[0];
        var fakeNetwork = Ipv6Address.FromIPAddress(IPAddress.Parse(Ipv6.FakeRange[..Ipv6.FakeRange.IndexOf('/', StringComparison.Ordinal)]));
        var source = Ipv6Address.FromValue(fakeNetwork.Value + 0x0001_0002); // fd00:251:f000::1:2, inside the fake /48
        var target = Ipv6Address.FromIPAddress(online.TargetIp);
        const ushort Port = 40001;
        const uint Isn = 0x1234_5678;

        using var sink = SinkCapture<Ipv6TcpPacket>.Start(_lab, $"ip6 and tcp and src host {online.TargetIp} and src port {_lab.TargetNginxPort}", PacketParser.TryParseIpv6);
        using var clientWitness = NetworkNamespace.RunIn(
            _lab.ClientNamespace,
            () => LiveCapture.Open(new LiveCaptureOptions { Interface = _lab.ClientInterface, Filter = $"ip6 and src host {online.TargetIp}" }));
        var atTheClient = 0;
        clientWitness.Start((_, in _) => Interlocked.Increment(ref atTheClient));
        using var sender = NetworkNamespace.RunIn(_lab.OnlineNamespace, () => new RawIpSender(AddressFamily.InterNetworkV6));
        var buffer = new byte[2048];

        var syn = new TcpSegmentSpec
        {
            SourcePort = Port,
            DestinationPort = (ushort)_lab.TargetNginxPort,
            Sequence = Isn,
            Flags = TcpFlags.Syn,
            Window = 64800,
            Mss = 1440,
            SackPermitted = true,
            Timestamp = new TcpTimestamp(1, 0),
            WindowScale = 7,
        };
        var length = Ipv6TcpPacketBuilder.Write(syn, source, target, [], buffer);
        Assert.True(sender.Send(buffer.AsSpan(0, length)), $"send failed, errno {sender.LastErrno}");
        var synAck = await sink.WaitForAsync(p => p.DestinationAddress == source && p.DestinationPort == Port, TimeSpan.FromSeconds(3), Ct);
        Assert.NotNull(synAck);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Value.Flags & (TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Rst));
        Assert.Equal(Isn + 1, synAck.Value.Acknowledgment);
        Assert.True(synAck.Value.Options is { HasMss: true, Mss: <= 1440 }, synAck.Value.ToString());
        output.WriteLine($"answer on the reply sink ({_lab.SinkNamespace}/{_lab.SinkInterface}): {synAck.Value}");

        // Reset the half-open connection so the target stops retransmitting its SYN-ACK.
        length = Ipv6TcpPacketBuilder.Write(
            syn with { Flags = TcpFlags.Rst, Sequence = Isn + 1, Mss = null, WindowScale = null, SackPermitted = false, Timestamp = null, Window = 0 },
            source, target, [], buffer);
        Assert.True(sender.Send(buffer.AsSpan(0, length)));

        // 1,560 bytes on a 1,500-byte link: IPv6 routers never fragment, and neither does a raw socket with its own
        // header. The kernel refuses it (EMSGSIZE) and the sender counts it as too big.
        var payload = new byte[1560 - Ipv6TcpPacket.FixedHeaderLength - 20];
        length = Ipv6TcpPacketBuilder.Write(syn with { Flags = TcpFlags.Ack | TcpFlags.Psh, Sequence = Isn + 1, Mss = null, WindowScale = null, SackPermitted = false, Timestamp = null }, source, target, payload, buffer);
        Assert.Equal(1560, length);
        Assert.False(sender.Send(buffer.AsSpan(0, length)), "a packet over the MTU went out");
        Assert.Equal(90, sender.LastErrno); // EMSGSIZE
        Assert.Equal(1, sender.FailedTooBig);

        // An IPv4 packet is not an IPv6 sender's to send.
        byte[] ipv4 = [0x45, .. new byte[59]];
        Assert.Throws<ArgumentException>(() => sender.Send(ipv4));

        await Task.Delay(300, Ct);
        sink.Stop();
        clientWitness.Stop();
        output.WriteLine($"raw IPv6 sends {sender.Sent}, failed {sender.Failed} (too big {sender.FailedTooBig}); packets from the target at the client {atTheClient}");
        Assert.Equal(2, sender.Sent);
        Assert.Equal(0, Volatile.Read(ref atTheClient));
    }

    [Fact]
    public async Task A_batch_of_ipv6_syns_leaves_in_one_sendmmsg_and_each_is_answered()
    {
        var online = Ipv6.Onlines[0];
        var fakeNetwork = Ipv6Address.FromIPAddress(IPAddress.Parse(Ipv6.FakeRange[..Ipv6.FakeRange.IndexOf('/', StringComparison.Ordinal)]));
        var target = Ipv6Address.FromIPAddress(online.TargetIp);
        var sources = Enumerable.Range(0, 3).Select(i => Ipv6Address.FromValue(fakeNetwork.Value + 0x0002_0000u + (uint)i)).ToArray();
        const ushort Port = 41000;
        const uint Isn = 0x0BAD_F00D;

        using var sink = SinkCapture<Ipv6TcpPacket>.Start(_lab, $"ip6 and tcp and src host {online.TargetIp} and dst port {Port}", PacketParser.TryParseIpv6);
        using var sender = NetworkNamespace.RunIn(_lab.OnlineNamespace, () => new RawIpSender(AddressFamily.InterNetworkV6));
        // Each message names its packet's fake source (IPV6_PKTINFO, allowed by IPV6_FREEBIND): no source selection per send.
        Assert.True(sender.NamesSourceInFlow);
        using var batch = new RawIpBatch(8, AddressFamily.InterNetworkV6);
        var syn = new TcpSegmentSpec { SourcePort = Port, DestinationPort = (ushort)_lab.TargetNginxPort, Sequence = Isn, Flags = TcpFlags.Syn, Window = 64800, Mss = 1440 };

        // An IPv4 packet has no place in an IPv6 batch, and an IPv6 batch none in an IPv4 socket.
        byte[] ipv4 = [0x45, .. new byte[39]];
        ipv4.CopyTo(batch.NextSlot);
        Assert.Throws<ArgumentException>(() => batch.Commit(ipv4.Length));
        foreach (var source in sources)
        {
            batch.Commit(Ipv6TcpPacketBuilder.Write(syn, source, target, [], batch.NextSlot));
        }

        using (var ipv4Sender = NetworkNamespace.RunIn(_lab.OnlineNamespace, () => new RawIpSender()))
        {
            Assert.Throws<ArgumentException>(() => batch.Send(ipv4Sender));
        }

        Assert.Equal(3, batch.Send(sender));
        Assert.Equal(0, batch.Count);
        foreach (var source in sources)
        {
            var synAck = await sink.WaitForAsync(p => p.DestinationAddress == source, TimeSpan.FromSeconds(3), Ct);
            Assert.NotNull(synAck);
            Assert.Equal(Isn + 1, synAck.Value.Acknowledgment);
        }

        sink.Stop();
        output.WriteLine($"3 IPv6 SYNs in one batch, {sink.Packets.Select(r => r.DestinationAddress).Distinct().Count()} sources answered; sends {sender.Sent}, failed {sender.Failed}");
        Assert.Equal(3, sender.Sent);
        Assert.Equal(0, sender.Failed);

        // Reset the three half-open connections so the target stops retransmitting its SYN-ACKs.
        var buffer = new byte[128];
        foreach (var source in sources)
        {
            var written = Ipv6TcpPacketBuilder.Write(syn with { Flags = TcpFlags.Rst, Sequence = Isn + 1, Mss = null, Window = 0 }, source, target, [], buffer);
            Assert.True(sender.Send(buffer.AsSpan(0, written)));
        }
    }

    [Fact]
    public async Task The_dual_stack_lab_keeps_ipv6_inside_and_routes_the_targets_ipv6_replies_to_the_sink()
    {
        var online = Ipv6.Onlines[0];

        // The client reaches its online host over IPv6 and never the target: no route, and the online host does not forward.
        var toOnline = await _lab.CurlAsync($"http://[{online.Ip}]:{_lab.OnlineNginxPort}/", extraArguments: ["-g"], cancellationToken: Ct);
        Assert.Equal(200, toOnline.HttpStatus);
        var toTarget = await _lab.CurlAsync($"http://[{online.TargetIp}]:{_lab.TargetNginxPort}/", extraArguments: ["-g"], cancellationToken: Ct);
        Assert.Equal(0, toTarget.HttpStatus);
        Assert.NotEqual(0, (await _lab.ExecAsync(LabRole.Client, ["ip", "-6", "route", "get", online.TargetIp.ToString()], cancellationToken: Ct)).ExitCode);
        Assert.Equal("0", (await _lab.ExecAsync(LabRole.Online, ["sysctl", "-n", "net.ipv6.conf.all.forwarding"], cancellationToken: Ct)).EnsureSuccess("sysctl").StdOut.Trim());

        // The target answers the client's /64 and the fake /48 through the sink, never back through the online host.
        foreach (var destination in new[] { online.ClientIp.ToString(), "fd00:251:f000::1" })
        {
            var route = (await _lab.ExecAsync(LabRole.Target, ["ip", "-6", "route", "get", destination], cancellationToken: Ct)).EnsureSuccess("ip -6 route get").StdOut;
            Assert.Contains($"via {Ipv6.AssistantIp} dev {_lab.TargetSinkInterface}", route, StringComparison.Ordinal);
        }

        // No namespace has a way out: no IPv6 default route anywhere (router advertisements are off, none is added).
        foreach (var role in Enum.GetValues<LabRole>())
        {
            var routes = (await _lab.ExecAsync(role, ["ip", "-6", "route", "show"], cancellationToken: Ct)).EnsureSuccess("ip -6 route show").StdOut;
            Assert.DoesNotContain("default", routes, StringComparison.Ordinal);
        }
    }

    private static TcpSegmentSpec SpecOf(in Ipv6TcpPacket p) => new TcpSegmentSpec
    {
        SourcePort = p.SourcePort,
        DestinationPort = p.DestinationPort,
        Sequence = p.Sequence,
        Acknowledgment = p.Acknowledgment,
        Flags = p.Flags,
        Window = p.Window,
        Ttl = p.HopLimit,
        Tos = p.TrafficClass,
    }.WithOptionsOf(p.Options);

    /// <summary>A dual-stack lab (<see cref="LabOptions.Ipv6"/>) for this class alone.</summary>
    public sealed class DualStackLab : IAsyncLifetime
    {
        private Lab.Lab? _lab;

        public Lab.Lab Lab => _lab ?? throw new InvalidOperationException("The dual-stack lab is not initialized.");

        public async ValueTask InitializeAsync() => _lab = await ReplayCluster.Lab.Tests.Lab.Lab.StartAsync(new LabOptions { Ipv6 = true }, TestContext.Current.CancellationToken);

        public async ValueTask DisposeAsync()
        {
            if (_lab is not null)
            {
                await _lab.DisposeAsync();
            }
        }
    }
}
