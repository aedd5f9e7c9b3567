using ReplayCluster.Statistics;

namespace ReplayCluster.Capture.Comparison;

/// <summary>Why the capture node's comparison wiring left bytes or sessions out. Each is counted; none slows the replay.</summary>
internal enum CaptureComparisonDrop
{
    /// <summary>The online reply capture's queue to the collector held <see cref="ComparisonCollectorOptions.MaxQueuedBytes"/>: packets dropped.</summary>
    OnlineQueueFull,

    /// <summary>A chosen connection started while the node compared <see cref="ComparisonCollectorOptions.MaxSessions"/> sessions already.</summary>
    SessionsFull,

    /// <summary>A compared session passed <see cref="ComparisonCollectorOptions.MaxSessionBytes"/>: not compared further.</summary>
    SessionTooLarge,

    /// <summary>A direction of a compared session lost order beyond the reassembler's bounds, or began before its SYN was seen.</summary>
    StreamBroken,

    /// <summary>Target reply segments for no session compared here (it ended, or was never ours).</summary>
    TargetUnknown,

    /// <summary>Target reply segments from a sender that is not an intercept node of the cluster.</summary>
    TargetRefused,

    /// <summary>A compared session was abandoned because the plan's noise rules changed (a new engine started).</summary>
    RulesChanged,

    /// <summary>A chosen connection that was not replayed (sampled out, no identity, a ceiling): nothing to compare with.</summary>
    NotReplayed,
}

/// <summary>
/// The wiring's drop counters: in the node's catalogue as <c>comparison_dropped</c> by reason (the statistics line,
/// <c>/metrics</c>, the coordinator's status) and in every comparison summary the node sends (as <c>capture_*</c>).
/// </summary>
internal sealed class CaptureComparisonCounters
{
    private static readonly CaptureComparisonDrop[] Drops = Enum.GetValues<CaptureComparisonDrop>();

    // The reasons' names, made once: the catalogue reads the family at every statistics line and scrape, and making
    // them there was ~4 % of what the node allocated at ~1k connections/s (bench/README.md, "Allocations on the
    // capture path").
    private static readonly string[] Reasons = [.. Drops.Select(d => NodeMetrics.SnakeCase(d.ToString()))];
    private readonly long[] _counts = new long[Drops.Length];

    public void Count(CaptureComparisonDrop drop, long count = 1) => Interlocked.Add(ref _counts[(int)drop], count);

    public long Get(CaptureComparisonDrop drop) => Interlocked.Read(ref _counts[(int)drop]);

    /// <summary>Every non-zero counter by name, e.g. <c>capture_online_queue_full</c>.</summary>
    public Dictionary<string, long> Snapshot()
    {
        var snapshot = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var drop in Drops)
        {
            if (Get(drop) is > 0 and var value)
            {
                snapshot[NameOf(drop)] = value;
            }
        }

        return snapshot;
    }

    public static string NameOf(CaptureComparisonDrop drop) => "capture_" + Reasons[(int)drop];

    /// <summary>Adds the drops to the node's catalogue as one counter family, by reason (<c>online_queue_full</c>, ...).</summary>
    public void Publish(NodeMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        metrics.CounterFamily("comparison_dropped", "reason", "{event}",
            "Response comparison: packets, segments or sessions the capture node left out of the comparison, by reason.",
            () => Drops.Select(d => KeyValuePair.Create(Reasons[(int)d], Get(d))));
    }
}

/// <summary>Bounds of a capture node's comparison work (documented defaults; every overflow counted).</summary>
internal sealed record ComparisonCollectorOptions
{
    /// <summary>Sessions compared at once on the node. Defaults to 512: at 1.2 KB of parser state each plus what they hold, a few MiB.</summary>
    public int MaxSessions { get; init; } = 512;

    /// <summary>Bytes one compared session may feed (both sides, all directions). Defaults to 4 MiB; beyond, it is abandoned.</summary>
    public long MaxSessionBytes { get; init; } = 4L * 1024 * 1024;

    /// <summary>Bytes the online reply capture may have queued for the collector. Defaults to 16 MiB; beyond, packets are dropped.</summary>
    public long MaxQueuedBytes { get; init; } = 16L * 1024 * 1024;

    /// <summary>Silence after which a session whose online side closed is completed although its target side did not. Defaults to 3 s.</summary>
    public TimeSpan CloseGrace { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Silence after which any compared session is completed. Defaults to 60 s (longer than keep-alive pauses).</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How often the node sends what it compared to the coordinator (only when something changed). Defaults to 1 s.</summary>
    public TimeSpan ReportInterval { get; init; } = TimeSpan.FromSeconds(1);
}
