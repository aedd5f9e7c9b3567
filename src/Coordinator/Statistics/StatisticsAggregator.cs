using Akka.Actor;
using Akka.Cluster;
using ReplayCluster.Configuration;
using ReplayCluster.Statistics;

namespace ReplayCluster.Coordinator.Statistics;

/// <summary>One node's latest report with rates from the one before.</summary>
internal sealed record NodeStatistics(string Address, string Role, long AgeMs, IReadOnlyDictionary<string, long> Counters, IReadOnlyDictionary<string, double> Rates);

/// <summary>
/// The cluster at a glance: every node, and the totals tcpcopy users compute from access logs by hand.
/// </summary>
/// <param name="Nodes">Every node that reported, with its counters and rates.</param>
/// <param name="CaptureTotals">The capture nodes' counters added up.</param>
/// <param name="OnlineRequestRate">Requests per second the capture nodes capture.</param>
/// <param name="ReplayedRequestRate">Requests per second the target acknowledges.</param>
/// <param name="LossRatio">(captured - delivered) / captured over all capture nodes; requests still in flight count until delivered.</param>
internal sealed record ClusterStatistics(IReadOnlyList<NodeStatistics> Nodes, IReadOnlyDictionary<string, long> CaptureTotals,
    double OnlineRequestRate, double ReplayedRequestRate, double LossRatio);

/// <summary>Asks the aggregator for a <see cref="ClusterStatistics"/>.</summary>
internal sealed class GetClusterStatistics
{
    public static readonly GetClusterStatistics Instance = new();
}

/// <summary>Keeps each node's last two reports; drops a node when it leaves the cluster.</summary>
internal sealed class StatisticsAggregator : ReceiveActor
{
    // Keyed by node address and role: one reporter per node in a cluster, several in one test process.
    private readonly Dictionary<(Address Address, string Role), (NodeStatisticsReport Latest, NodeStatisticsReport? Previous)> _nodes = [];
    private readonly TimeProvider _time;
    private (DateTimeOffset At, IReadOnlyDictionary<string, long> Totals)? _runStart;
    private (DateTimeOffset At, IReadOnlyDictionary<string, long> Totals)? _runStop;

    public StatisticsAggregator(TimeProvider time)
    {
        _time = time;
        Receive<NodeStatisticsReport>(report =>
        {
            var key = (Sender.Path.Address, report.Role);
            _nodes[key] = (report, _nodes.TryGetValue(key, out var known) ? known.Latest : null);
        });
        Receive<ClusterEvent.MemberRemoved>(e =>
        {
            foreach (var key in _nodes.Keys.Where(k => k.Address == e.Member.Address).ToList())
            {
                _nodes.Remove(key);
            }
        });
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<GetClusterStatistics>(_ => Sender.Tell(Snapshot()));
        Receive<StartRun>(_ =>
        {
            _runStart = (_time.GetUtcNow(), Snapshot().CaptureTotals);
            _runStop = null;
            Sender.Tell(Report());
        });
        Receive<StopRun>(_ =>
        {
            if (_runStart is null || _runStop is not null)
            {
                Sender.Tell(NoRun.Instance);
                return;
            }

            _runStop = (_time.GetUtcNow(), Snapshot().CaptureTotals);
            Sender.Tell(Report());
        });
        Receive<GetRunReport>(_ => Sender.Tell(_runStart is null ? NoRun.Instance : Report()));
    }

    public static Props Props(TimeProvider time) => Akka.Actor.Props.Create(() => new StatisticsAggregator(time));

    protected override void PreStart() => Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, typeof(ClusterEvent.MemberRemoved));

    protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);

    private ClusterStatistics Snapshot()
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var nodes = _nodes.OrderBy(n => n.Key.Role, StringComparer.Ordinal).ThenBy(n => n.Key.Address.ToString(), StringComparer.Ordinal)
            .Select(n => new NodeStatistics(n.Key.Address.ToString(), n.Key.Role, now - n.Value.Latest.TimestampMs, n.Value.Latest.Counters, Rates(n.Value)))
            .ToList();
        var captures = nodes.Where(n => n.Role == NodeRoles.Capture).ToList();
        var totals = captures.SelectMany(n => n.Counters)
            .GroupBy(c => c.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Sum(c => c.Value), StringComparer.Ordinal);
        var captured = totals.GetValueOrDefault("requests_captured");
        var delivered = totals.GetValueOrDefault("requests_delivered");
        return new ClusterStatistics(nodes, totals,
            captures.Sum(n => n.Rates.GetValueOrDefault("requests_captured")),
            captures.Sum(n => n.Rates.GetValueOrDefault("requests_delivered")),
            captured == 0 ? 0 : (double)(captured - delivered) / captured);
    }

    private RunReport Report()
    {
        var (startedAt, start) = _runStart!.Value;
        var (endAt, end) = _runStop ?? (_time.GetUtcNow(), Snapshot().CaptureTotals);
        long Delta(string counter) => end.GetValueOrDefault(counter) - start.GetValueOrDefault(counter);
        var seconds = Math.Max(0.001, (endAt - startedAt).TotalSeconds);
        var online = Delta("requests_captured");
        var replayed = Delta("requests_delivered");
        var ended = end.Keys.Where(k => k.StartsWith("sessions_ended_", StringComparison.Ordinal))
            .ToDictionary(k => k["sessions_ended_".Length..], Delta, StringComparer.Ordinal);
        return new RunReport(startedAt, _runStop?.At, seconds, online, replayed, online == 0 ? 0 : (double)(online - replayed) / online,
            online / seconds, replayed / seconds, Delta("retransmissions"), ended);
    }

    private static Dictionary<string, double> Rates((NodeStatisticsReport Latest, NodeStatisticsReport? Previous) node)
    {
        if (node.Previous is not { } previous || node.Latest.TimestampMs <= previous.TimestampMs)
        {
            return [];
        }

        var seconds = (node.Latest.TimestampMs - previous.TimestampMs) / 1000.0;
        return node.Latest.Counters
            .Where(c => previous.Counters.ContainsKey(c.Key))
            .ToDictionary(c => c.Key, c => (c.Value - previous.Counters[c.Key]) / seconds, StringComparer.Ordinal);
    }
}
