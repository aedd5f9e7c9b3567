namespace ReplayCluster.Intercept.Routing;

/// <summary>The intercept node's counters, written by the capture thread and the router.</summary>
internal sealed class InterceptStatistics
{
    private long _repliesCaptured;
    private long _packetsRejected;

    public long RepliesCaptured => Interlocked.Read(ref _repliesCaptured);

    public long PacketsRejected => Interlocked.Read(ref _packetsRejected);

    public long RepliesRouted { get; set; }

    public long RepliesDroppedUnrouted { get; set; }

    public long BatchesSent { get; set; }

    public int Routes { get; set; }

    public int Parked { get; set; }

    public void CountCaptured() => Interlocked.Increment(ref _repliesCaptured);

    public void CountRejected() => Interlocked.Increment(ref _packetsRejected);

    /// <summary>The counters reported to the coordinator (cumulative, snake_case as in /metrics).</summary>
    public IReadOnlyDictionary<string, long> ToCounters() => new Dictionary<string, long>
    {
        ["replies_captured"] = RepliesCaptured,
        ["packets_rejected"] = PacketsRejected,
        ["replies_routed"] = RepliesRouted,
        ["replies_dropped_unrouted"] = RepliesDroppedUnrouted,
        ["batches_sent"] = BatchesSent,
        ["routes"] = Routes,
        ["replies_parked"] = Parked,
    };

    public string Summary() =>
        $"replies captured={RepliesCaptured} rejected={PacketsRejected} routed={RepliesRouted} dropped-unrouted={RepliesDroppedUnrouted} " +
        $"parked={Parked} routes={Routes} batches={BatchesSent}";
}
