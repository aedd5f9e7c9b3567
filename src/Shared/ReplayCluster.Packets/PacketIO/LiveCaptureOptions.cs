namespace ReplayCluster.PacketIO;

/// <summary>
/// How <see cref="LiveCapture"/> opens an interface. Defaults follow measurements on our lab hosts
/// (TPACKET_V3 with a 1 ms block timeout captured 500k/500k packets at ~390k packets/s on one thread).
/// </summary>
public sealed record LiveCaptureOptions
{
    /// <summary>Interface name as <c>ip link</c> shows it (e.g. <c>eth0</c>, <c>veth1</c>, or <c>any</c>). Required.</summary>
    public required string Interface { get; init; }

    /// <summary>
    /// BPF filter in tcpdump syntax, compiled by libpcap and run in the kernel. Defaults to null (every frame).
    /// </summary>
    public string? Filter { get; init; }

    /// <summary>Bytes kept per frame. Defaults to 262144 (libpcap's maximum, whole GSO super-segments fit).</summary>
    public int SnapLength { get; init; } = 262144;

    /// <summary>
    /// Size of the kernel capture ring in bytes. Defaults to 64 MiB, which absorbs bursts of ~40k full-size
    /// frames while the handler is busy. Frames that do not fit are counted in <see cref="CaptureStatistics.KernelDropped"/>.
    /// </summary>
    public int BufferSizeBytes { get; init; } = 64 * 1024 * 1024;

    /// <summary>
    /// Ring block timeout in milliseconds: the longest a captured frame waits in a partly filled block before it is
    /// delivered. Defaults to 1 (sub-millisecond latency measured); larger values add that much latency.
    /// </summary>
    public int ReadTimeoutMs { get; init; } = 1;

    /// <summary>
    /// libpcap immediate mode. Defaults to false: with immediate mode libpcap falls back to a ring of small slots
    /// (~500 slots at snaplen 65535 measured) that drops bursts; the 1 ms block timeout gives comparable latency.
    /// </summary>
    public bool Immediate { get; init; }

    /// <summary>
    /// What reads the interface. Defaults to <see cref="LiveCaptureReader.Libpcap"/>; <see cref="LiveCaptureReader.Ring"/>
    /// is taken only where it applies (an Ethernet or loopback interface, not immediate mode), libpcap otherwise.
    /// </summary>
    public LiveCaptureReader Reader { get; init; } = LiveCaptureReader.Libpcap;

    /// <summary>
    /// Block size of the <see cref="LiveCaptureReader.Ring"/> reader's TPACKET_V3 ring, a power of two of at least
    /// 4096. Defaults to 128 KiB: a block must hold the largest frame (a 64 KiB GRO super-segment on veth), and
    /// below the rate that fills a block the kernel hands one over per block timeout, so the ring covers
    /// (<see cref="BufferSizeBytes"/> / block size) block timeouts of reader stall.
    /// </summary>
    public int RingBlockSizeBytes { get; init; } = 128 * 1024;

    /// <summary>Put the interface in promiscuous mode. Defaults to false (frames addressed to the host only, which is all a replay needs).</summary>
    public bool Promiscuous { get; init; }
}

/// <summary>What a <see cref="LiveCapture"/> reads the interface with.</summary>
public enum LiveCaptureReader
{
    /// <summary>libpcap (through SharpPcap): TPACKET_V3 with 256 KiB blocks, or TPACKET_V2 in immediate mode.</summary>
    Libpcap,

    /// <summary>Our own AF_PACKET TPACKET_V3 ring with <see cref="LiveCaptureOptions.RingBlockSizeBytes"/> blocks.</summary>
    Ring,
}

/// <summary>
/// Counters as libpcap reports them for a live capture (<c>pcap_stats</c>). libpcap's counters are 32-bit and wrap.
/// </summary>
/// <param name="Received">Frames that passed the filter (on Linux this includes frames later dropped for lack of ring space).</param>
/// <param name="KernelDropped">Frames dropped because the capture ring was full: the capture fell behind.</param>
/// <param name="InterfaceDropped">Frames the interface or driver dropped before capture (not supported on every driver; always 0 with the ring reader).</param>
public readonly record struct CaptureStatistics(long Received, long KernelDropped, long InterfaceDropped);

/// <summary>A live capture could not be opened or failed while running; the message names the interface (and filter).</summary>
public sealed class LiveCaptureException : Exception
{
    public LiveCaptureException()
    {
    }

    public LiveCaptureException(string message)
        : base(message)
    {
    }

    public LiveCaptureException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
