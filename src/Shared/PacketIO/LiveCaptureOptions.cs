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

    /// <summary>Put the interface in promiscuous mode. Defaults to false (frames addressed to the host only, which is all a replay needs).</summary>
    public bool Promiscuous { get; init; }
}

/// <summary>
/// Counters as libpcap reports them for a live capture (<c>pcap_stats</c>). libpcap's counters are 32-bit and wrap.
/// </summary>
/// <param name="Received">Frames that passed the filter (on Linux this includes frames later dropped for lack of ring space).</param>
/// <param name="KernelDropped">Frames dropped because the capture ring was full: the capture fell behind.</param>
/// <param name="InterfaceDropped">Frames the interface or driver dropped before capture (not supported on every driver).</param>
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
