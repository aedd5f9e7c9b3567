namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// How the connection closes: the client's FIN as captured and ours toward the target, the target's
/// FIN, resets from either side, and the wait for the target's FIN once ours was acknowledged.
/// </summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Auto)]
internal struct CloseState
{
    /// <summary>Sequence number of the client's FIN; null until it is captured.</summary>
    public uint? ClientFinSeq { get; private set; }

    /// <summary>The client's acknowledgment on its FIN: how much response it had seen before closing.</summary>
    public uint ClientFinAck { get; private set; }

    /// <summary>Capture time of the client's FIN, in Unix nanoseconds (0: unknown).</summary>
    public long ClientFinCapturedAt { get; private set; }

    /// <summary>The pacer let our FIN go (it waits like a request).</summary>
    public bool FinReleased { get; set; }

    /// <summary>Our FIN was sent on the current connection.</summary>
    public bool FinSent { get; set; }

    /// <summary>The target acknowledged our FIN.</summary>
    public bool FinAcked { get; private set; }

    /// <summary>The target's FIN arrived on the current connection.</summary>
    public bool TargetFin { get; set; }

    /// <summary>The target reset the current connection.</summary>
    public bool TargetGone { get; set; }

    /// <summary>The client reset its connection (captured RST).</summary>
    public bool ClientReset { get; set; }

    /// <summary>The acknowledgment on the client's reset, when it carried one: how much response it had seen.</summary>
    public uint? ClientResetAck { get; private set; }

    /// <summary>Once our FIN is acknowledged, how long the target may take to close its side.</summary>
    public DateTimeOffset? FinWaitDeadline { readonly get => PackedMoment.Unpack(_finWaitDeadline); set => _finWaitDeadline = PackedMoment.Pack(value); }

    private long _finWaitDeadline;

    /// <summary>True while the client's FIN is captured and not yet acknowledged by the target.</summary>
    public bool FinPending => ClientFinSeq.HasValue && !FinAcked;

    /// <summary>A new client connection: nothing closed.</summary>
    public void Reset()
    {
        ClientFinSeq = null;
        ClientFinAck = 0;
        ClientFinCapturedAt = 0;
        FinReleased = false;
        FinAcked = false;
        ClientReset = false;
        ClientResetAck = null;
        ResetConnection();
    }

    /// <summary>A new connection to the target: its FINs and resets are the old connection's.</summary>
    public void ResetConnection()
    {
        FinSent = false;
        TargetFin = false;
        TargetGone = false;
        FinWaitDeadline = null;
    }

    /// <summary>The client's FIN was captured (the first one counts).</summary>
    public void OnClientFin(uint sequence, uint acknowledgment, long capturedAtNanos)
    {
        if (ClientFinSeq.HasValue)
        {
            return;
        }

        ClientFinSeq = sequence;
        ClientFinAck = acknowledgment;
        ClientFinCapturedAt = capturedAtNanos;
    }

    /// <summary>The client's reset was captured; <paramref name="ack"/> when it carried an acknowledgment.</summary>
    public void OnClientReset(uint? ack)
    {
        if (!ClientReset)
        {
            ClientReset = true;
            ClientResetAck = ack;
        }
    }

    /// <summary>True when <paramref name="sequence"/> is where our FIN goes and it was not sent yet.</summary>
    public bool IsFinDue(uint sequence) => ClientFinSeq == sequence && !FinSent;

    /// <summary>The target acknowledged up to <paramref name="ack"/>.</summary>
    public void OnAcknowledged(uint ack)
    {
        if (FinSent && ClientFinSeq.HasValue && ack == ClientFinSeq.Value + 1)
        {
            FinAcked = true;
        }
    }
}
