using ReplayCluster.Capture.Replay;
using ReplayCluster.Replay;
using ReplayCluster.Capture.Sessions;

namespace ReplayCluster.Capture;

/// <summary>The capture node's validated settings (<c>replaycluster.capture</c>).</summary>
internal sealed record CaptureNodeSettings
{
    /// <summary>Interface to capture on; null for offline replay.</summary>
    public string? Interface { get; init; }

    /// <summary>The BPF filter given (-F); null to derive it from the targets in effect.</summary>
    public string? ExplicitFilter { get; init; }

    /// <summary>Pcap file to replay; null for live capture.</summary>
    public string? PcapFile { get; init; }

    /// <summary>Offline speed factor (2 = twice as fast as recorded).</summary>
    public double Speed { get; init; } = 1;

    /// <summary>Times the pcap file is replayed.</summary>
    public int Loop { get; init; } = 1;

    /// <summary>Online services and their targets (-x); null when they come from the coordinator's plan.</summary>
    public TargetMapping? Targets { get; init; }

    /// <summary>Copies of every captured session, each with its own identity. Defaults to 1.</summary>
    public int Copies { get; init; } = 1;

    /// <summary>Percentage of sessions replayed. Defaults to 100.</summary>
    public double SamplePercent { get; init; } = 100;

    /// <summary>Fake client range in CIDR form, or null to keep real client addresses.</summary>
    public string? FakeClientRange { get; init; }

    /// <summary>How client identities are reused (<c>identity</c>): the quarantine after a session ends.</summary>
    public ClientIdentityOptions Identities { get; init; } = new();

    public required SessionOptions Session { get; init; }

    public int CaptureBufferSize { get; init; } = 64 * 1024 * 1024;

    /// <summary>Captured bytes all sessions together may hold. Defaults to 1 GiB.</summary>
    public long MaxNodeBufferedBytes { get; init; } = 1L << 30;

    public TimeSpan StatisticsInterval { get; init; } = TimeSpan.FromSeconds(5);
}
