using ReplayCluster.Packets;
using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// What an ended session keeps through its linger, our TIME-WAIT (<see cref="SessionOptions.Linger"/>, 6 s by
/// default): late packets of either direction are absorbed, a new SYN on the client's port is told from a late copy
/// of the ended connection's own, and the target's challenge ACK to our closing reset (RFC 5961) gets the one reset
/// it asks for. The rest of the session is done with: its shard keeps this (tens of bytes) and puts the session's
/// actor back in its pool at the end. Holding the whole session and its actor through the linger kept ~6 s of
/// connections alive: at ~6k new connections/s ~36k actors, and a shard created actors for the first 6 s of every
/// load (bench/README.md, "Lingering without an actor").
/// </summary>
internal sealed class EndedSession
{
    private readonly uint? _clientIsn;
    private readonly uint _resetSequence;
    private readonly ushort _ipId;
    private bool _resetAnswerable;

    /// <param name="endpoints">The session's identity at the target.</param>
    /// <param name="clientIsn">The ISN of the client's SYN that started it (null: joined mid-stream).</param>
    /// <param name="resetSequence">The sequence number of the reset that ended it (our next sequence number).</param>
    /// <param name="resetAnswerable">A reset ended an established connection: the target may challenge it once.</param>
    /// <param name="ipId">The IP id of the session's next packet.</param>
    /// <param name="until">When the linger ends.</param>
    public EndedSession(SessionEndpoints endpoints, uint? clientIsn, uint resetSequence, bool resetAnswerable, ushort ipId, DateTimeOffset until)
    {
        Endpoints = endpoints;
        _clientIsn = clientIsn;
        _resetSequence = resetSequence;
        _resetAnswerable = resetAnswerable;
        _ipId = ipId;
        Until = until;
    }

    /// <summary>The ended session's identity at the target.</summary>
    public SessionEndpoints Endpoints { get; }

    /// <summary>When the linger ends: the identity and the route are free again.</summary>
    public DateTimeOffset Until { get; }

    /// <summary>
    /// True for a SYN that opens a new connection on the client's port; false for anything else of the ended
    /// connection, its own SYN included (a late copy), which is only absorbed.
    /// </summary>
    public bool IsNewConnection(in CapturedSegment segment) =>
        segment.HasFlag(TcpFlags.Syn) && !segment.HasFlag(TcpFlags.Ack) && segment.Sequence != _clientIsn;

    /// <summary>
    /// A late reply of the target. When it challenges our closing reset (a plain ACK naming another sequence
    /// number: in window, not exact) the reset goes again at the sequence it names, once, and this returns true;
    /// anything else is only late (false). An ACK of exactly our reset's sequence was sent before the reset arrived.
    /// </summary>
    public bool AnswerLateReply(in ResponseRecord reply, ISegmentTransport transport)
    {
        ArgumentNullException.ThrowIfNull(transport);
        if (!_resetAnswerable || !ReplaySession.IsPlainAck(reply) || reply.Acknowledgment == _resetSequence)
        {
            return false;
        }

        _resetAnswerable = false;

        // A bare reset, no timestamp: PAWS must not drop it.
        transport.Send(new TcpSegmentSpec
        {
            SourceAddress = Endpoints.ClientAddress,
            SourcePort = Endpoints.ClientPort,
            DestinationAddress = Endpoints.TargetAddress,
            DestinationPort = Endpoints.TargetPort,
            Sequence = reply.Acknowledgment,
            Acknowledgment = 0,
            Flags = TcpFlags.Rst,
            Window = 0,
            IpId = _ipId,
        }, ReadOnlySpan<byte>.Empty);
        return true;
    }
}
