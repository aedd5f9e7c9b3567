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
/// IPv6 segments are not batched yet: each goes alone through the IPv6 socket (after what the thread's IPv4 batch
/// holds, so a thread's segments keep their order). A host without IPv6 (no socket) counts them as failed sends.
/// </remarks>
internal sealed class BatchingSegmentTransport(RawIpSender sender, Ipv6RawSocket? ipv6 = null) : ISegmentTransport
{
    [ThreadStatic]
    private static byte[]? t_buffer;

    [ThreadStatic]
    private static byte[]? t_buffer6;

    [ThreadStatic]
    private static RawIpBatch? t_batch;

    /// <summary>Gives the calling thread a batch: its sends wait for <see cref="FlushThread"/> (or a full batch).</summary>
    public static void AttachBatch(RawIpBatch batch) => t_batch = batch;

    /// <summary>Sends what the calling thread's batch holds; called at the end of every shard turn.</summary>
    public void FlushThread()
    {
        if (t_batch is { Count: > 0 } batch)
        {
            batch.Send(sender);
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
        FlushThread();
        if (ipv6?.Sender is not { } ipv6Sender)
        {
            ipv6?.CountUnsendable();
            return;
        }

        var buffer = t_buffer6 ??= new byte[Ipv6TcpPacketBuilder.MaxPacketLength];
        var length = Ipv6TcpPacketBuilder.Write(segment, segment.SourceAddress.Ipv6, segment.DestinationAddress.Ipv6, payload, buffer);
        ipv6Sender.Send(buffer.AsSpan(0, length));
    }
}
