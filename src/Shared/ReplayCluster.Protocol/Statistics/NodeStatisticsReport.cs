using ReplayCluster.Protocol;

namespace ReplayCluster.Statistics;

/// <summary>
/// A node's counters, sent to the coordinator once a second. Counters are cumulative since the node
/// started (rates come from differences), named in snake_case as they appear in /metrics.
/// </summary>
public sealed record NodeStatisticsReport(string Role, long TimestampMs, IReadOnlyDictionary<string, long> Counters) : IReplayWireMessage;
