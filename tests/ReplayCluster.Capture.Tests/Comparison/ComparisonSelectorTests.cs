using System.Buffers.Binary;
using ReplayCluster.Capture.Comparison;
using ReplayCluster.Packets;
using ReplayCluster.Protocol;
using SharpPcap.LibPcap;

namespace ReplayCluster.Capture.Tests.Comparison;

public sealed class ComparisonSelectorTests
{
    private const uint Server = 0x0A0B0B01;

    [Fact]
    public void The_choice_is_a_pure_function_of_the_client_and_takes_about_the_planned_share_of_consecutive_ports()
    {
        var chosen = Enumerable.Range(32768, 20000).Count(p => ComparisonSelector.Chooses(0x0A000001, (ushort)p, 10));
        Assert.InRange(chosen, 1700, 2300);
        Assert.Equal(ComparisonSelector.Chooses(0x0A000001, 40000, 10), ComparisonSelector.Chooses(0x0A000001, 40000, 10));
        Assert.False(ComparisonSelector.Chooses(0x0A000001, 40000, 0));
        Assert.True(ComparisonSelector.Chooses(0x0A000001, 40000, 100));
        // Raising the share only adds sessions: the ones chosen at 10 % stay chosen at 20 %.
        Assert.All(Enumerable.Range(32768, 2000).Where(p => ComparisonSelector.Chooses(0x0A000001, (ushort)p, 10)),
            p => Assert.True(ComparisonSelector.Chooses(0x0A000001, (ushort)p, 20)));

        // Clients of one address spread too, and so do addresses at one port.
        var byAddress = Enumerable.Range(1, 5000).Count(a => ComparisonSelector.Chooses(0x0A000000 + (uint)a, 40000, 10));
        Assert.InRange(byAddress, 400, 600);
    }

    [Theory]
    [InlineData(10)]
    [InlineData(0.5)]
    [InlineData(37.25)]
    public void The_kernel_filter_chooses_exactly_the_connections_the_selector_does_in_both_directions(double percent)
    {
        var targets = TargetMapping.Parse(["80-10.251.21.2:8080"], "test");
        var filter = OnlineComparisonCapture.FilterOf(targets, percent)!;
        using var program = BpfProgram.Create(PacketDotNet.LinkLayers.Ethernet, filter);
        var random = new Random(7);
        var (agreed, chosen) = (0, 0);
        for (var i = 0; i < 4000; i++)
        {
            var client = 0x0A000000u + (uint)random.Next(1, 1 << 24);
            var port = (ushort)random.Next(1024, 65536);
            var expected = ComparisonSelector.Chooses(client, port, percent);
            chosen += expected ? 1 : 0;

            // The request and the reply of the connection, each with a byte of data; a pure ACK never passes.
            Assert.Equal(expected, program.Matches(Frame(client, port, Server, 80, payload: 1)));
            Assert.Equal(expected, program.Matches(Frame(Server, 80, client, port, payload: 1)));
            Assert.False(program.Matches(Frame(client, port, Server, 80, payload: 0, flags: TcpFlags.Ack)));
            agreed++;
        }

        Assert.Equal(4000, agreed);
        Assert.InRange(chosen, 4000 * percent / 100 * 0.7, (4000 * percent / 100 * 1.3) + 5);

        // Another service's packets never pass, chosen or not.
        Assert.False(program.Matches(Frame(0x0A000001, 40000, Server, 443, payload: 1)));
    }

    [Fact]
    public void At_every_session_the_filter_has_no_hash_and_the_service_with_an_address_names_it()
    {
        var targets = TargetMapping.Parse(["10.11.11.1:80-10.251.21.2:8080"], "test");
        var filter = OnlineComparisonCapture.FilterOf(targets, 100)!;
        Assert.DoesNotContain("10000", filter, StringComparison.Ordinal);
        Assert.Contains("dst host 10.11.11.1 and dst port 80", filter, StringComparison.Ordinal);
        using var program = BpfProgram.Create(PacketDotNet.LinkLayers.Ethernet, filter);
        Assert.True(program.Matches(Frame(0x0A000001, 40000, Server, 80, payload: 1)));
        Assert.Null(OnlineComparisonCapture.FilterOf(null, 10));
    }

    [Theory]
    [InlineData(10)]
    [InlineData(62.5)]
    public void Ipv6_clients_are_chosen_alike_by_the_kernel_filter_and_the_selector(double percent)
    {
        // A dual-stack service: port 80 on every address, so both families' clients reach it.
        var targets = TargetMapping.Parse(["80-[fd00:251:21::2]:8080"], "test");
        var filter = OnlineComparisonCapture.FilterOf(targets, percent)!;
        using var program = BpfProgram.Create(PacketDotNet.LinkLayers.Ethernet, filter);
        var server = Ipv6Address.Parse("fd00:251:11::1");
        var random = new Random(11);
        var chosen = 0;
        for (var i = 0; i < 3000; i++)
        {
            var client = new Ipv6Address(0xfd00_0251_0000_0000UL | (uint)random.Next(), (ulong)random.NextInt64());
            var port = (ushort)random.Next(1024, 65536);
            var expected = ComparisonSelector.Chooses(client, port, percent);
            chosen += expected ? 1 : 0;
            Assert.Equal(expected, program.Matches(Frame6(client, port, server, 80, payload: 3)));
            Assert.Equal(expected, program.Matches(Frame6(server, 80, client, port, payload: 3)));
            Assert.Equal(expected, program.Matches(Frame6(client, port, server, 80, payload: 0, flags: TcpFlags.Syn)));
            Assert.Equal(expected, program.Matches(Frame6(server, 80, client, port, payload: 0, flags: TcpFlags.Fin | TcpFlags.Ack)));
            Assert.False(program.Matches(Frame6(client, port, server, 80, payload: 0, flags: TcpFlags.Ack)), "a pure ACK never passes");
        }

        Assert.InRange(chosen, 3000 * percent / 100 * 0.7, (3000 * percent / 100 * 1.3) + 5);

        // IPv4 clients of the same service still pass the IPv4 half as before.
        var ipv4Client = Enumerable.Range(0, 1000).Select(i => 0x0A000000u + (uint)i).First(a => ComparisonSelector.Chooses(a, 40000, percent));
        Assert.True(program.Matches(Frame(ipv4Client, 40000, Server, 80, payload: 1)));
    }

    [Fact]
    public void The_ipv6_key_is_the_xor_of_the_address_words_and_an_ipv4_address_is_its_own_key()
    {
        Assert.Equal(0x0A000001u, ComparisonSelector.Key(0x0A000001u));
        Assert.Equal(0x11111111u ^ 0x22222222u ^ 0x33333333u ^ 0x44444444u,
            ComparisonSelector.Key(new Ipv6Address(0x11111111_22222222UL, 0x33333333_44444444UL)));
    }

    // Ethernet + IPv6 (40 bytes, TCP next) + TCP (20 bytes) + payload.
    private static byte[] Frame6(Ipv6Address source, ushort sourcePort, Ipv6Address destination, ushort destinationPort, int payload,
        TcpFlags flags = TcpFlags.Ack | TcpFlags.Psh)
    {
        var frame = new byte[14 + 40 + 20 + payload];
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x86DD);
        var ip = frame.AsSpan(14);
        ip[0] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], (ushort)(20 + payload));
        ip[6] = 6;
        ip[7] = 64;
        BinaryPrimitives.WriteUInt64BigEndian(ip[8..], source.Upper);
        BinaryPrimitives.WriteUInt64BigEndian(ip[16..], source.Lower);
        BinaryPrimitives.WriteUInt64BigEndian(ip[24..], destination.Upper);
        BinaryPrimitives.WriteUInt64BigEndian(ip[32..], destination.Lower);
        var tcp = ip[40..];
        BinaryPrimitives.WriteUInt16BigEndian(tcp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], destinationPort);
        tcp[12] = 0x50;
        tcp[13] = (byte)flags;
        return frame;
    }

    // Ethernet + IPv4 (20 bytes) + TCP (20 bytes) + payload.
    private static byte[] Frame(uint source, ushort sourcePort, uint destination, ushort destinationPort, int payload, TcpFlags flags = TcpFlags.Ack | TcpFlags.Psh)
    {
        var frame = new byte[14 + 20 + 20 + payload];
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x0800);
        var ip = frame.AsSpan(14);
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(20 + 20 + payload));
        ip[8] = 64;
        ip[9] = 6;
        BinaryPrimitives.WriteUInt32BigEndian(ip[12..], source);
        BinaryPrimitives.WriteUInt32BigEndian(ip[16..], destination);
        var tcp = ip[20..];
        BinaryPrimitives.WriteUInt16BigEndian(tcp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], destinationPort);
        tcp[12] = 0x50;
        tcp[13] = (byte)flags;
        return frame;
    }
}
