namespace ReplayCluster.PacketIO;

/// <summary>
/// Receives one link-layer frame from a packet source (a capture file or a live interface).
/// </summary>
/// <param name="frame">
/// The captured bytes. The span points into a buffer the source reuses (a file read buffer or the
/// kernel capture ring), so it is valid only for the duration of the call: parse it in place and copy
/// whatever must outlive the call.
/// </param>
/// <param name="info">Timestamp, lengths and link type of the frame.</param>
public delegate void FrameHandler(ReadOnlySpan<byte> frame, in FrameInfo info);

/// <summary>
/// Metadata of one captured frame.
/// </summary>
/// <param name="TimestampNanos">Capture time in nanoseconds since the Unix epoch (UTC).</param>
/// <param name="CapturedLength">Number of bytes captured (the length of the frame span).</param>
/// <param name="OriginalLength">Length of the frame on the wire; larger than <paramref name="CapturedLength"/> when the snap length cut it.</param>
/// <param name="LinkType">The pcap LINKTYPE_/DLT_ number of the frame (1 = Ethernet, 113 = Linux cooked, 101 = raw IP, ...).</param>
public readonly record struct FrameInfo(long TimestampNanos, int CapturedLength, int OriginalLength, int LinkType);
