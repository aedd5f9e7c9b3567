using ReplayCluster.Packets;

namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// Our send side of the connection to the target, in the client's sequence space as captured (only
/// acknowledgments are translated, tcpcopy's model): what was sent, what the target acknowledged, the
/// window it allows and the zero-window probe timer (RFC 9293 3.8.6.1).
/// </summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Auto)]
internal struct SendSpace(SessionOptions options)
{
    private TimeSpan _persistInterval;

    /// <summary>Initial sequence number of the current connection (our SYN).</summary>
    public uint Isn { get; private set; }

    /// <summary>First byte the target has not acknowledged (the SYN itself until the handshake is done).</summary>
    public uint Una { get; private set; }

    /// <summary>Next byte to send; moves back to <see cref="Una"/> on a retransmission timeout.</summary>
    public uint Nxt { get; private set; }

    /// <summary>Highest byte sent on this connection, plus one.</summary>
    public uint Max { get; private set; }

    /// <summary>
    /// Highest data byte sent on any connection of this client connection, plus one: data below it is a
    /// resend (counted as a retransmission, never paced again) and above it is new.
    /// </summary>
    public uint High { get; private set; }

    /// <summary>The target's receive window in bytes (scaled).</summary>
    public long PeerWindow { get; private set; }

    /// <summary>The target's window scale shift, from its SYN-ACK.</summary>
    public int PeerWindowScale { get; private set; }

    /// <summary>Segment size: the smallest of ours, the client's and the target's MSS.</summary>
    public int Mss { get; private set; } = options.Mss;

    /// <summary>When the next zero-window probe is due; null while the window is open or nothing waits.</summary>
    public DateTimeOffset? PersistDeadline { readonly get => PackedMoment.Unpack(_persistDeadline); private set => _persistDeadline = PackedMoment.Pack(value); }

    private long _persistDeadline;

    /// <summary>Bytes sent and not yet acknowledged.</summary>
    public int InFlight => SeqNum.Diff(Una, Nxt);

    /// <summary>True when everything sent was acknowledged.</summary>
    public bool AllAcknowledged => Una == Nxt;

    /// <summary>Forgets everything: a new client connection starts whose first new byte is <paramref name="high"/>.</summary>
    public void Reset(uint high)
    {
        Isn = Una = Nxt = Max = 0;
        High = high;
        PeerWindow = 0;
        PeerWindowScale = 0;
        Mss = options.Mss;
        PersistDeadline = null;
    }

    /// <summary>Caps the segment size at <paramref name="mss"/> (0: no such option).</summary>
    public void LimitMss(int mss)
    {
        if (mss > 0)
        {
            Mss = Math.Min(Mss, mss);
        }
    }

    /// <summary>A new connection whose SYN carries <paramref name="isn"/>: nothing sent, no window yet.</summary>
    public void Open(uint isn)
    {
        Isn = isn;
        Una = isn;
        Nxt = isn + 1;
        Max = Nxt;
        PeerWindow = 0;
        PeerWindowScale = 0;
        PersistDeadline = null;
    }

    /// <summary>The target accepted our SYN with this window (raw, unscaled) and scale.</summary>
    public void Established(ushort window, int windowScale)
    {
        Una = Isn + 1;
        PeerWindowScale = windowScale;
        PeerWindow = window;
    }

    /// <summary>The target's newer handshake replaced ours: what we sent is to be sent again.</summary>
    public void Rewind() => Nxt = Una;

    /// <summary>True when <paramref name="ack"/> acknowledges something new that we did send.</summary>
    public bool IsNewAcknowledgment(uint ack) => SeqNum.After(ack, Una) && SeqNum.BeforeOrEqual(ack, Max);

    /// <summary>Takes an acknowledgment <see cref="IsNewAcknowledgment"/> accepted; returns the bytes newly acknowledged.</summary>
    public int Acknowledge(uint ack)
    {
        var acknowledged = SeqNum.Diff(Una, ack);
        Una = ack;
        if (SeqNum.Before(Nxt, Una))
        {
            Nxt = Una;
        }

        return acknowledged;
    }

    /// <summary>The window the target announced, already scaled; an open window stops probing.</summary>
    public void UpdateWindow(long window)
    {
        PeerWindow = window;
        if (window > 0)
        {
            PersistDeadline = null;
        }
    }

    /// <summary>A raw window field of a segment scaled by the target's shift.</summary>
    public long Scale(ushort window) => (long)window << PeerWindowScale;

    /// <summary>True when data at <paramref name="sequence"/> was already sent on this or an earlier connection.</summary>
    public bool IsResend(uint sequence) => SeqNum.Before(sequence, High);

    /// <summary>Records <paramref name="length"/> bytes (or the FIN, 1) sent at <see cref="Nxt"/>.</summary>
    public void Advance(int length, bool data)
    {
        Nxt += (uint)length;
        Max = SeqNum.Max(Max, Nxt);
        if (data)
        {
            High = SeqNum.Max(High, Nxt);
        }
    }

    /// <summary>Goes back to the first unacknowledged byte after a retransmission timeout.</summary>
    public void GoBackToUnacknowledged() => Nxt = Una;

    /// <summary>Gives up on the bytes before <paramref name="sequence"/> (never captured): the stream goes on there.</summary>
    public void SkipTo(uint sequence)
    {
        Una = sequence;
        Nxt = sequence;
    }

    /// <summary>The window is closed with nothing in flight: probe it after one RTO, then backing off.</summary>
    public void StartPersist(DateTimeOffset now, TimeSpan rto)
    {
        if (PersistDeadline.HasValue)
        {
            return;
        }

        _persistInterval = rto;
        PersistDeadline = now + _persistInterval;
    }

    /// <summary>A probe was sent (or is no longer needed, <paramref name="stop"/>): arm the next one.</summary>
    public void NextPersist(DateTimeOffset now, bool stop)
    {
        if (stop)
        {
            PersistDeadline = null;
            return;
        }

        _persistInterval = _persistInterval * 2 > options.MaxRto ? options.MaxRto : _persistInterval * 2;
        PersistDeadline = now + _persistInterval;
    }
}
