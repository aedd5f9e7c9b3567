using ReplayCluster.PacketIO;
using ReplayCluster.Capture.Identities;
using ReplayCluster.Capture.Admission;
using ReplayCluster.Protocol;
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

    /// <summary>
    /// Fake client range in CIDR form (-c), or an IPv4 and an IPv6 range separated by a comma; null to take a slice of
    /// the coordinator's range.
    /// </summary>
    public string? FakeClientRange { get; init; }

    /// <summary>
    /// The ranges of <see cref="FakeClientRange"/>, one per family (empty without one): what the conntrack exemption
    /// and its doctor check cover.
    /// </summary>
    public IReadOnlyList<System.Net.IPNetwork> FakeClientRanges =>
        FakeClientRange is { } text ? [.. text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(System.Net.IPNetwork.Parse)] : [];

    /// <summary>
    /// Whether sessions keep the real client addresses when the node has no fake range of its own. Defaults to
    /// false: without -c the node replays only from a slice of the coordinator's range, and waits until it has one.
    /// </summary>
    public bool RealClientAddresses { get; init; }

    /// <summary>Whether a fake client range (own, the plan's, a slice) may be public address space. Defaults to false.</summary>
    public bool AllowPublicFakeRange { get; init; }

    /// <summary>
    /// The targets (networks) a plan may name (<c>allowed-targets</c>); empty allows only the target addresses
    /// of the node's own -x. No remote plan widens it.
    /// </summary>
    public IReadOnlyList<Plans.AllowedNetwork> AllowedTargets { get; init; } = [];

    /// <summary>How client identities are reused (<c>identity</c>): the quarantine after a session ends.</summary>
    public ClientIdentityOptions Identities { get; init; } = new();

    public required SessionOptions Session { get; init; }

    /// <summary>Kernel capture ring size in bytes (<c>capture-buffer-size</c>). Defaults to 32 MiB (hocon/capture.hocon says why).</summary>
    public int CaptureBufferSize { get; init; } = 32 * 1024 * 1024;

    /// <summary>
    /// What reads the interface (<c>capture-reader</c>). Defaults to <see cref="LiveCaptureReader.Ring"/>, our own
    /// TPACKET_V3 ring; libpcap remains for interfaces the ring does not support.
    /// </summary>
    public LiveCaptureReader CaptureReader { get; init; } = LiveCaptureReader.Ring;

    /// <summary>Block size of the ring reader (<c>capture-ring-block-size</c>). Defaults to 128 KiB.</summary>
    public int CaptureRingBlockSize { get; init; } = 128 * 1024;

    /// <summary>Captured bytes all sessions together may hold. Defaults to 1 GiB.</summary>
    public long MaxNodeBufferedBytes { get; init; } = 1L << 30;

    public TimeSpan StatisticsInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Whether each shard and its sessions run on a dedicated thread (segments batched per shard turn into one
    /// sendmmsg) rather than on the shared thread pool (one sendto per segment). Defaults to true.
    /// </summary>
    public bool ShardThreads { get; init; } = true;

    /// <summary>
    /// Each shard thread reads its own capture ring, one member of a PACKET_FANOUT group that gives every connection
    /// to one member (<c>capture-on-shard-threads</c>), instead of one capture thread handing each burst over. Applies
    /// with <see cref="ShardThreads"/>, the ring reader and a live interface it supports; the capture thread otherwise.
    /// Defaults to false: on the 2-core lab it saved no CPU beyond the noise, and a shard thread compiling its first
    /// sessions left its ring (half the blocks) unread long enough for kernel drops (bench/README.md, "Capture on the
    /// shard threads").
    /// </summary>
    public bool CaptureOnShardThreads { get; init; }

    /// <summary>Session shards; each demultiplexes and supervises the sessions of its connections. Defaults to one per core.</summary>
    public int Shards { get; init; } = Environment.ProcessorCount;

    /// <summary>Captured packets one shard may have queued before capture refuses more (counted). Defaults to 262,144.</summary>
    public int ShardQueueLimit { get; init; } = 262_144;

    /// <summary>Sessions (copies included) live at once on this node; new ones beyond it are refused (counted). Defaults to 200,000.</summary>
    public long MaxLiveSessions { get; init; } = 200_000;

    /// <summary>
    /// Whether a connection whose SYN this node did not see is replayed from its first captured byte. Defaults to
    /// false: one spoofed data segment must not open a connection into the test network.
    /// </summary>
    public bool JoinMidStream { get; init; }

    /// <summary>
    /// Whether the node offers intercepts a direct reply channel beside Akka.Remote (<c>reply-channel.enabled</c>).
    /// Defaults to true; off, every reply travels through remoting.
    /// </summary>
    public bool ReplyChannel { get; init; } = true;

    /// <summary>TCP port of the reply channel on the node's cluster address (<c>reply-channel.port</c>); 0, the default, takes a free one.</summary>
    public int ReplyChannelPort { get; init; }

    /// <summary>On a planned stop, how long sessions may finish what they hold after capture stopped. Defaults to 10 s.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(10);
}
