namespace ReplayCluster.Capture.Sessions;

/// <summary>What one session did; the node adds these up into its statistics.</summary>
internal sealed class SessionCounters
{
    public long SegmentsSent { get; set; }

    public long Retransmissions { get; set; }

    public long FastRetransmits { get; set; }

    public long SynRetransmissions { get; set; }

    public long ZeroWindowProbes { get; set; }

    public long Reconnects { get; set; }

    public long PortReuses { get; set; }

    public long RequestsCaptured { get; set; }

    public long RequestsSent { get; set; }

    public long RequestsDelivered { get; set; }

    /// <summary>Requests sent because the target stayed silent for the response wait limit.</summary>
    public long ResponseWaitsExpired { get; set; }

    public long BytesCaptured { get; set; }

    public long BytesAcknowledged { get; set; }

    public long ResponseBytes { get; set; }

    /// <summary>Client retransmissions and overlaps that carried nothing new.</summary>
    public long ClientDuplicateBytes { get; set; }

    /// <summary>Bytes the capture never saw, skipped after waiting for them.</summary>
    public long GapBytesSkipped { get; set; }

    /// <summary>Packets from either side after the session ended.</summary>
    public long LatePacketsAbsorbed { get; set; }
}
