namespace ReplayCluster.Capture.Sessions;

/// <summary>Where a session's parts count what they do: the session's current counters.</summary>
internal interface ISessionCounting
{
    SessionCounters Counters { get; }
}

/// <summary>What one session did; the node adds these up into its statistics.</summary>
internal sealed class SessionCounters : ISessionCounting
{
    /// <summary>Counts go straight here (a part used on its own, in tests).</summary>
    SessionCounters ISessionCounting.Counters => this;

    public long SegmentsSent { get; set; }

    public long Retransmissions { get; set; }

    public long FastRetransmits { get; set; }

    public long SynRetransmissions { get; set; }

    /// <summary>
    /// Retransmission timeouts put off because the reply relay was behind, or held because no intercept was in the
    /// cluster (<see cref="RelayLag"/>).
    /// </summary>
    public long RetransmitTimeoutsDeferred { get; set; }

    public long ZeroWindowProbes { get; set; }

    public long Reconnects { get; set; }

    public long PortReuses { get; set; }

    /// <summary>Handshakes replaced by the target's newer SYN-ACK (cookie SYN-ACK raced a retransmitted SYN).</summary>
    public long HandshakesAdopted { get; set; }

    public long RequestsCaptured { get; set; }

    public long RequestsSent { get; set; }

    public long RequestsDelivered { get; set; }

    /// <summary>Requests sent because the target stayed silent for the response wait limit.</summary>
    public long ResponseWaitsExpired { get; set; }

    /// <summary>Requests released with nothing to wait for (the first, pipelined ones, no-wait pacing).</summary>
    public long RequestsReleasedAtOnce { get; set; }

    /// <summary>Requests released once the target sent as much response as the recorded client had seen.</summary>
    public long RequestsReleasedOnAnswer { get; set; }

    /// <summary>Requests released after the target answered less than online and fell silent.</summary>
    public long RequestsReleasedAfterSilence { get; set; }

    /// <summary>Requests released on the recorded client's gap, before their predecessor's answer was relayed.</summary>
    public long RequestsReleasedOnRecordedGap { get; set; }

    /// <summary>Requests whose recorded gap had passed but that waited: the bound of unanswered requests was reached.</summary>
    public long RequestsHeldAtBound { get; set; }

    /// <summary>
    /// Stale connections of our 4-tuple the target still held (TIME_WAIT, or ESTABLISHED from before a
    /// restart), which answered our SYN with a plain ACK and were reset so the SYN could go at once.
    /// </summary>
    public long StaleConnectionsReset { get; set; }

    public long BytesCaptured { get; set; }

    public long BytesAcknowledged { get; set; }

    public long ResponseBytes { get; set; }

    /// <summary>Client retransmissions and overlaps that carried nothing new.</summary>
    public long ClientDuplicateBytes { get; set; }

    /// <summary>Bytes the capture never saw, skipped after waiting for them.</summary>
    public long GapBytesSkipped { get; set; }

    /// <summary>Packets from either side after the session ended.</summary>
    public long LatePacketsAbsorbed { get; set; }

    /// <summary>
    /// Target resets not taken (RFC 5961): out of the receive window (a late reset of an earlier
    /// connection of the same 4-tuple) or in it but not exact (answered with a challenge ACK).
    /// </summary>
    public long TargetResetsIgnored { get; set; }

    /// <summary>A copy, for reporting what changed since.</summary>
    public SessionCounters Snapshot() => (SessionCounters)MemberwiseClone();

    /// <summary>Adds <paramref name="other"/> times <paramref name="sign"/> (use -1 to subtract).</summary>
    public void Add(SessionCounters other, int sign = 1)
    {
        ArgumentNullException.ThrowIfNull(other);
        SegmentsSent += sign * other.SegmentsSent;
        Retransmissions += sign * other.Retransmissions;
        FastRetransmits += sign * other.FastRetransmits;
        SynRetransmissions += sign * other.SynRetransmissions;
        RetransmitTimeoutsDeferred += sign * other.RetransmitTimeoutsDeferred;
        ZeroWindowProbes += sign * other.ZeroWindowProbes;
        Reconnects += sign * other.Reconnects;
        PortReuses += sign * other.PortReuses;
        HandshakesAdopted += sign * other.HandshakesAdopted;
        RequestsCaptured += sign * other.RequestsCaptured;
        RequestsSent += sign * other.RequestsSent;
        RequestsDelivered += sign * other.RequestsDelivered;
        ResponseWaitsExpired += sign * other.ResponseWaitsExpired;
        RequestsReleasedAtOnce += sign * other.RequestsReleasedAtOnce;
        RequestsReleasedOnAnswer += sign * other.RequestsReleasedOnAnswer;
        RequestsReleasedAfterSilence += sign * other.RequestsReleasedAfterSilence;
        RequestsReleasedOnRecordedGap += sign * other.RequestsReleasedOnRecordedGap;
        RequestsHeldAtBound += sign * other.RequestsHeldAtBound;
        StaleConnectionsReset += sign * other.StaleConnectionsReset;
        BytesCaptured += sign * other.BytesCaptured;
        BytesAcknowledged += sign * other.BytesAcknowledged;
        ResponseBytes += sign * other.ResponseBytes;
        ClientDuplicateBytes += sign * other.ClientDuplicateBytes;
        GapBytesSkipped += sign * other.GapBytesSkipped;
        LatePacketsAbsorbed += sign * other.LatePacketsAbsorbed;
        TargetResetsIgnored += sign * other.TargetResetsIgnored;
    }
}
