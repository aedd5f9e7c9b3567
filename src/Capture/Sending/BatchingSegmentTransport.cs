using ReplayCluster.Capture.Sessions;
using ReplayCluster.Packets;
using ReplayCluster.PacketIO;

namespace ReplayCluster.Capture.Sending;

/// <summary>
/// Sends session segments through the node's raw IPv4 socket, and IPv6 segments through its raw IPv6 socket. On a shard thread (see
/// <see cref="ShardThreadExecutor"/>) segments are built straight into that thread's <see cref="RawIpBatch"/> and go
/// out with one <c>sendmmsg</c> when the shard's turn ends (its queue is empty) or the batch is full: a busy shard
/// pays one syscall per batch, an idle one sends at once. Elsewhere (tests, other threads) each segment is built
/// into a per-thread buffer and sent alone. No lock and no allocation per segment either way.
/// </summary>
/// <remarks>
/// IPv6 segments go the same way through the thread's IPv6 batch and the IPv6 socket (one sendmmsg per family per turn;
/// a session's segments are all of one family, so each keeps its order). A host without IPv6 (no socket) counts
/// them as failed sends.
/// </remarks>
internal sealed class BatchingSegmentTransport(RawIpSender sender, Ipv6RawSocket? ipv6 = null) : ISegmentTransport
{
    [ThreadStatic]
    private static byte[]? t_buffer;

    [ThreadStatic]
    private static byte[]? t_buffer6;

    [ThreadStatic]
    private static RawIpBatch? t_batch;

    [ThreadStatic]
    private static RawIpBatch? t_batch6;

    /// <summary>Gives the calling thread a batch per family: its sends wait for <see cref="FlushThread"/> (or a full batch).</summary>
    public static void AttachBatches(RawIpBatch ipv4, RawIpBatch ipv6)
    {
        t_batch = ipv4;
        t_batch6 = ipv6;
    }

    /// <summary>Sends what the calling thread's batches hold; called at the end of every shard turn.</summary>
    public void FlushThread()
    {
        if (t_batch is { Count: > 0 } batch)
        {
            batch.Send(sender);
        }

        if (t_batch6 is { Count: > 0 } batch6 && ipv6?.Sender is { } ipv6Sender)
        {
            batch6.Send(ipv6Sender);
        }
    }

    public void Send(in TcpSegmentSpec segment, ReadOnlySpan<byte> payload)
    {
        if (!segment.DestinationAddress.IsIpv4)
        {
            SendIpv6(segment, payload);
            return;
        }

        var length = TcpPacketBuilder.GetPacketLength(segment, payload.Length);
        if (t_batch is { } batch && length <= RawIpBatch.SlotLength)
        {
            if (batch.IsFull)
            {
                batch.Send(sender);
            }

            batch.Commit(TcpPacketBuilder.Write(segment, payload, batch.NextSlot));
            return;
        }

        // Too long for a slot (a jumbo MSS) or no batch on this thread: what the batch holds goes first, so a
        // session's segments leave in the order it sent them.
        FlushThread();
        var buffer = t_buffer ??= new byte[TcpPacketBuilder.MaxPacketLength];
        sender.Send(buffer.AsSpan(0, TcpPacketBuilder.Write(segment, payload, buffer)));
    }

    private void SendIpv6(in TcpSegmentSpec segment, ReadOnlySpan<byte> payload)
    {
        if (ipv6?.Sender is not { } ipv6Sender)
        {
            ipv6?.CountUnsendable();
            return;
        }

        var (source, destination) = (segment.SourceAddress.Ipv6, segment.DestinationAddress.Ipv6);
        if (t_batch6 is { } batch && Ipv6TcpPacketBuilder.GetPacketLength(segment, payload.Length) <= RawIpBatch.SlotLength)
        {
            if (batch.IsFull)
            {
                batch.Send(ipv6Sender);
            }

            batch.Commit(Ipv6TcpPacketBuilder.Write(segment, source, destination, payload, batch.NextSlot));
            return;
        }

        // As for IPv4: what the IPv6 batch holds goes first.
        if (t_batch6 is { Count: > 0 } held)
        {
            held.Send(ipv6Sender);
        }

        var buffer = t_buffer6 ??= new byte[Ipv6TcpPacketBuilder.MaxPacketLength];
        ipv6Sender.Send(buffer.AsSpan(0, Ipv6TcpPacketBuilder.Write(segment, source, destination, payload, buffer)));
    }
}
