using ReplayCluster.Packets;
using ReplayCluster.Replay;

namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// The target's side of the connection as we receive it (relayed by the intercept): its sequence
/// space, which we acknowledge, and its timestamps, which we echo. Response bytes are counted, not kept.
/// </summary>
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

    /// <summary>Forgets the connection (a new one starts).</summary>
    public void Reset()
    {
        Irs = 0;
        Nxt = 0;
        TimestampsOn = false;
        TsRecent = 0;
    }

    /// <summary>The target's SYN-ACK opened (or, newer, replaced) the connection.</summary>
    public void Open(in ResponseRecord synAck, bool timestampsOffered)
    {
        Irs = synAck.Sequence;
        Nxt = synAck.Sequence + 1;
        TimestampsOn = timestampsOffered && synAck.HasTimestamp;
        TsRecent = synAck.TsVal;
    }

    /// <summary>True when <paramref name="synAck"/> is a handshake other than the one we accepted.</summary>
    public bool IsOtherHandshake(in ResponseRecord synAck) => synAck.Sequence != Irs;

    /// <summary>True while no byte of the target was received after its SYN.</summary>
    public bool NothingReceived => Nxt == Irs + 1;

    /// <summary>
    /// Takes the payload and FIN of one segment of the target. Returns the bytes new in order (counted
    /// as response); <paramref name="finReceived"/> tells that the target's FIN arrived in order now,
    /// <paramref name="needAck"/> that the segment must be acknowledged.
    /// </summary>
    public int Accept(in ResponseRecord reply, bool finAlreadyReceived, out bool finReceived, out bool needAck)
    {
        var fresh = 0;
        needAck = false;
        finReceived = false;
        var flags = (TcpFlags)reply.Flags;
        var end = reply.Sequence + reply.PayloadLength;
        if (reply.PayloadLength > 0)
        {
            needAck = true;
            if (SeqNum.AfterOrEqual(Nxt, reply.Sequence) && SeqNum.After(end, Nxt))
            {
                fresh = SeqNum.Diff(Nxt, end);
                Nxt = end;
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
                needAck = true;
            }
            else if (finAlreadyReceived)
            {
                needAck = true;
            }
        }

        return fresh;
    }
}
