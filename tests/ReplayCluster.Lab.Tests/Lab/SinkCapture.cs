using System.Collections.Concurrent;
using ReplayCluster.Packets;
using ReplayCluster.PacketIO;

namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>Parses one captured frame of <paramref name="linkType"/> into <paramref name="packet"/> (IPv4 or IPv6 TCP).</summary>
public delegate ParseResult PacketParse<TPacket>(ReadOnlySpan<byte> frame, LinkType linkType, out TPacket packet);

/// <summary>
/// What the target sends into the lab's reply sink, captured with a BPF filter and parsed (IPv4 or IPv6 TCP, by
/// <c>parse</c>), for tests that send packets of their own and wait for the target's answer.
/// </summary>
public sealed class SinkCapture<TPacket> : IDisposable
    where TPacket : struct
{
    private readonly LiveCapture _capture;

    private SinkCapture(LiveCapture capture) => _capture = capture;

    /// <summary>Every packet parsed so far, in capture order.</summary>
    public ConcurrentQueue<TPacket> Packets { get; } = new();

    /// <summary>Opens the capture on <see cref="Lab.SinkInterface"/> in <see cref="Lab.SinkNamespace"/> and starts it.</summary>
    public static SinkCapture<TPacket> Start(Lab lab, string filter, PacketParse<TPacket> parse)
    {
        ArgumentNullException.ThrowIfNull(lab);
        ArgumentNullException.ThrowIfNull(parse);
        var capture = NetworkNamespace.RunIn(lab.SinkNamespace, () => LiveCapture.Open(new LiveCaptureOptions { Interface = lab.SinkInterface, Filter = filter }));
        var sink = new SinkCapture<TPacket>(capture);
        var linkType = LinkTypes.FromPcap(capture.LinkType);
        capture.Start((frame, in _) =>
        {
            if (parse(frame, linkType, out var packet) == ParseResult.Ok)
            {
                sink.Packets.Enqueue(packet);
            }
        });
        return sink;
    }

    /// <summary>The first packet that matches, waiting up to <paramref name="timeout"/>; null when none came.</summary>
    public async Task<TPacket?> WaitForAsync(Func<TPacket, bool> match, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(match);
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            foreach (var packet in Packets)
            {
                if (match(packet))
                {
                    return packet;
                }
            }

            await Task.Delay(20, cancellationToken);
        }

        return null;
    }

    /// <summary>Stops the capture; <see cref="Packets"/> stays readable.</summary>
    public void Stop() => _capture.Stop();

    public void Dispose() => _capture.Dispose();
}
