namespace ReplayCluster.Statistics;

/// <summary>
/// Which of the counters a node reports (<see cref="NodeStatisticsReport"/>) are levels, not running totals. Every
/// other one only grows while the node lives, so the coordinator exports it as a Prometheus <c>counter</c> (named
/// <c>..._total</c>, where <c>rate()</c> and reset detection apply); these are exported as <c>gauge</c>s.
/// </summary>
/// <remarks>
/// A name listed here that no node reports any more fails a test, as does a level a node reports that is missing from
/// the list (<c>CaptureNodeStatisticsTests</c>, <c>InterceptStatisticsTests</c>).
/// </remarks>
public static class NodeCounterKinds
{
    /// <summary>The level counters: live sessions, requests in flight, buffered bytes, identities, routes, channels.</summary>
    public static IReadOnlySet<string> Gauges { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        // capture nodes
        "sessions_live",
        "requests_in_flight",
        "buffered_bytes",
        "reply_channels",
        "identities_in_use",
        "identities_quarantined",
        "plan_version",
        // intercept nodes (reply_channels too)
        "routes",
        "replies_parked",
        "claims_awaiting_member",
        // every node
        "process_memory_bytes",
    };

    /// <summary>True when <paramref name="name"/> is a level (a Prometheus gauge) rather than a running total.</summary>
    public static bool IsGauge(string name) => Gauges.Contains(name);
}
