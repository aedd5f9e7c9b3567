using ReplayCluster.Packets;
using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// The target's side of the connection as we receive it (relayed by the intercept): its sequence
/// space, which we acknowledge, and its timestamps, which we echo. Response bytes are counted, not kept.
/// </summary>
/// <remarks>
/// It also keeps the acknowledgment we owe, and acknowledges as a client's kernel does (RFC 1122 4.2.3.2, RFC 5681
/// 4.2): every segment we send carries it, so the owner sends a segment of its own only at the end of a turn in which
/// none left (<see cref="DecideAck"/>): at once for every second segment, a FIN, or a segment out of order or repeated
/// (the target's loss recovery counts duplicate ACKs); otherwise after <see cref="SessionOptions.DelayedAck"/>, unless
/// the next request (or our FIN) carries it first. Acknowledging every reply segment on its own made the target take
/// 3.0 segments per keep-alive request where tcpcopy's 1.2 (bench/README.md, "Acknowledgments a client would send").
/// </remarks>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Auto)]
internal struct ReceiveSpace
{
    /// <summary>The target's initial sequence number (its SYN-ACK).</summary>
    public uint Irs { get; private set; }

    /// <summary>Next target byte expected: the acknowledgment we send.</summary>
    public uint Nxt { get; private set; }

    /// <summary>Both sides use timestamps on this connection.</summary>
    public bool TimestampsOn { get; private set; }

    /// <summary>The target's latest TSval, echoed in our segments.</summary>
    public uint TsRecent { get; private set; }

    // The acknowledgment owed: in-order segments not yet acknowledged, whether it must leave at the end of this turn,
    // and when a delayed one is due (PackedMoment).
    private int _unacknowledged;
    private bool _ackNow;
    private long _ackDeadline;

    /// <summary>An acknowledgment is owed (no segment of ours carried <see cref="Nxt"/> yet).</summary>
    public readonly bool AckOwed => _unacknowledged > 0 || _ackNow;

    /// <summary>When the delayed acknowledgment is due, or null when none waits.</summary>
    public readonly DateTimeOffset? AckDeadline => PackedMoment.Unpack(_ackDeadline);

    /// <summary>Forgets the connection (a new one starts).</summary>
    public void Reset()
    {
        Irs = 0;
        Nxt = 0;
        TimestampsOn = false;
        TsRecent = 0;
        Acknowledged();
    }

    /// <summary>A segment of ours carried the acknowledgment of everything received: nothing is owed.</summary>
    public void Acknowledged()
    {
        _unacknowledged = 0;
        _ackNow = false;
        _ackDeadline = 0;
    }

    /// <summary>The handshake's acknowledgment: it leaves at the end of this turn, carried by the first request if that goes too.</summary>
    public void OweAckNow() => _ackNow = true;

    /// <summary>
    /// At the end of a turn in which no segment of ours carried the acknowledgment: true when one must be sent now;
    /// otherwise a delayed one is armed (once) for <paramref name="delay"/> after <paramref name="now"/>.
    /// </summary>
    public bool DecideAck(DateTimeOffset now, TimeSpan delay)
    {
        if (_ackNow || _unacknowledged >= 2)
        {
            return true;
        }

        if (_unacknowledged > 0 && _ackDeadline == 0)
        {
            _ackDeadline = PackedMoment.Pack(now + delay);
        }

        return false;
    }

    /// <summary>The target's SYN-ACK opened (or, newer, replaced) the connection.</summary>
    public void Open(in ResponseRecord synAck, bool timestampsOffered)
    {
        Irs = synAck.Sequence;
        Nxt = synAck.Sequence + 1;
        TimestampsOn = timestampsOffered && synAck.HasTimestamp;
        TsRecent = synAck.TsVal;
        Acknowledged(); // what an earlier connection was owed is not this one's
    }

    /// <summary>True when <paramref name="synAck"/> is a handshake other than the one we accepted.</summary>
    public bool IsOtherHandshake(in ResponseRecord synAck) => synAck.Sequence != Irs;

    /// <summary>True while no byte of the target was received after its SYN.</summary>
    public bool NothingReceived => Nxt == Irs + 1;

    /// <summary>
    /// Takes the payload and FIN of one segment of the target. Returns the bytes new in order (counted
    /// as response); <paramref name="finReceived"/> tells that the target's FIN arrived in order now.
    /// What the segment makes us owe is kept (<see cref="AckOwed"/>, <see cref="DecideAck"/>).
    /// </summary>
    public int Accept(in ResponseRecord reply, bool finAlreadyReceived, out bool finReceived)
    {
        var fresh = 0;
        finReceived = false;
        var flags = (TcpFlags)reply.Flags;
        var end = reply.Sequence + reply.PayloadLength;
        if (reply.PayloadLength > 0)
        {
            var inOrder = reply.Sequence == Nxt;
            if (SeqNum.AfterOrEqual(Nxt, reply.Sequence) && SeqNum.After(end, Nxt))
            {
                fresh = SeqNum.Diff(Nxt, end);
                Nxt = end;
            }

            // Only a segment that starts where we are may wait for company; a repeat or one beyond a hole is answered
            // at once (a duplicate ACK is the target's signal to retransmit).
            if (inOrder)
            {
                _unacknowledged++;
            }
            else
            {
                _ackNow = true;
            }
        }

        if (TimestampsOn && reply.HasTimestamp && SeqNum.BeforeOrEqual(reply.Sequence, Nxt))
        {
            TsRecent = reply.TsVal;
        }

        if ((flags & TcpFlags.Fin) != 0)
        {
            if (!finAlreadyReceived && end == Nxt)
            {
                Nxt++;
                finReceived = true;
                _ackNow = true;
            }
            else if (finAlreadyReceived)
            {
                _ackNow = true;
            }
        }

        return fresh;
    }
}
