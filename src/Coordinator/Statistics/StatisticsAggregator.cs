using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using ReplayCluster.Configuration;
using ReplayCluster.Membership;
using ReplayCluster.Statistics;

namespace ReplayCluster.Coordinator.Statistics;

/// <summary>A node's standing as the coordinator sees it (the <c>state</c> of a node in /api/status).</summary>
internal static class NodeStates
{
    /// <summary>A cluster member in good standing.</summary>
    public const string Up = "up";

    /// <summary>The failure detector lost it (crashed, hung or cut off); it may come back, or be downed and removed.</summary>
    public const string Unreachable = "unreachable";

    /// <summary>It left the cluster (or was downed); listed for a while so users see it went, its counters stay in the totals.</summary>
    public const string Removed = "removed";
}

/// <summary>One node's latest report with rates from the one before, and its standing.</summary>
internal sealed record NodeStatistics(string Address, string Role, long AgeMs, IReadOnlyDictionary<string, long> Counters, IReadOnlyDictionary<string, double> Rates,
    string State = NodeStates.Up)
{
    private bool IsCapture => Role == NodeRoles.Capture;

    /// <summary>A capture node's requests held by its live sessions, not acknowledged yet; null for other roles.</summary>
    public long? RequestsInFlight => IsCapture ? Counters.GetValueOrDefault("requests_in_flight") : null;

    /// <summary>A capture node's requests lost, all reasons; null for other roles.</summary>
    public long? RequestsLost => IsCapture ? Counters.GetValueOrDefault("requests_lost") : null;

    /// <summary>A capture node's lost requests by the end reason of their sessions; null for other roles.</summary>
    public IReadOnlyDictionary<string, long>? RequestsLostByReason => IsCapture ? ReplayBacklog.LostByReason(Counters) : null;

    /// <summary>
    /// How far a capture node's replay is behind, in seconds (<see cref="ReplayBacklog"/>); null for other roles, before
    /// its second report (no rates yet), or while it holds requests and none left in the last interval.
    /// </summary>
    public double? BehindSeconds => IsCapture && Rates.Count > 0
        ? ReplayBacklog.BehindSeconds(RequestsInFlight ?? 0, Rates.GetValueOrDefault("requests_delivered"), Rates.GetValueOrDefault("requests_lost"))
        : null;
}

/// <summary>Reply latency percentiles over the last few seconds and since the nodes started.</summary>
/// <param name="WindowSeconds">How far back <paramref name="Recent"/> looks.</param>
/// <param name="Recent">Replies timed in the last <paramref name="WindowSeconds"/>, by the capture nodes still in the cluster.</param>
/// <param name="SinceStart">Every reply timed since the capture nodes started, departed nodes included.</param>
internal sealed record ReplyLatencyStatistics(double WindowSeconds, LatencyPercentiles Recent, LatencyPercentiles SinceStart);

/// <summary>
/// The cluster at a glance: every node, and the totals tcpcopy users compute from access logs by hand.
/// </summary>
/// <param name="Nodes">Every node that reported, with its counters, rates and state; removed nodes for a minute after they went.</param>
/// <param name="CaptureTotals">The capture nodes' counters added up, those of capture nodes that left the cluster included.</param>
/// <param name="OnlineRequestRate">Online requests per second (each counted once, however many copies replay it).</param>
/// <param name="ReplayedRequestRate">Requests per second the target acknowledges.</param>
/// <param name="LossRatio">lost / captured over all capture nodes: requests whose session ended before the target
/// acknowledged them. Requests still in flight (a replay that is behind) are not lost: see <see cref="RequestsInFlight"/>.</param>
/// <param name="ReplyLatency">Reply latency percentiles of the whole cluster.</param>
/// <param name="RelayLatency">Relay latency percentiles (reply captured at the intercept to received by its capture node), same windows.</param>
/// <param name="Coordinator">The coordinator's own counters: the cluster messages it refused (<c>messages_refused</c>, by reason).</param>
/// <param name="LostRequestRate">Requests lost per second (their sessions ended before the target acknowledged them).</param>
/// <param name="CaptureLatency">Capture latency percentiles (kernel capture timestamp to handled by the session), same windows; live capture only.</param>
internal sealed record ClusterStatistics(IReadOnlyList<NodeStatistics> Nodes, IReadOnlyDictionary<string, long> CaptureTotals,
    double OnlineRequestRate, double ReplayedRequestRate, double LossRatio, ReplyLatencyStatistics? ReplyLatency = null, ReplyLatencyStatistics? RelayLatency = null,
    IReadOnlyDictionary<string, long>? Coordinator = null, double LostRequestRate = 0, ReplyLatencyStatistics? CaptureLatency = null)
{
    /// <summary>Replayed / online request rate: the copies at work (0 while nothing is online).</summary>
    public double Amplification => OnlineRequestRate > 0 ? ReplayedRequestRate / OnlineRequestRate : 0;

    /// <summary>Requests the live sessions of every capture node hold and the target has not acknowledged yet.</summary>
    public long RequestsInFlight => CaptureTotals.GetValueOrDefault("requests_in_flight");

    /// <summary>Requests lost, all reasons (their sessions ended without the target acknowledging them).</summary>
    public long RequestsLost => CaptureTotals.GetValueOrDefault("requests_lost");

    /// <summary><see cref="RequestsLost"/> by the end reason of their sessions (only reasons that lost some).</summary>
    public IReadOnlyDictionary<string, long> RequestsLostByReason => ReplayBacklog.LostByReason(CaptureTotals);

    /// <summary>
    /// How far the replay is behind, in seconds: requests in flight / requests leaving per second over all capture
    /// nodes (<see cref="ReplayBacklog"/>); null while requests are held and none left in the last interval.
    /// </summary>
    public double? BehindSeconds => ReplayBacklog.BehindSeconds(RequestsInFlight, ReplayedRequestRate, LostRequestRate);
}

/// <summary>Asks the aggregator for a <see cref="ClusterStatistics"/>.</summary>
internal sealed class GetClusterStatistics
{
    public static readonly GetClusterStatistics Instance = new();
}

/// <summary>
/// Keeps each node's recent reports and its state from the cluster's membership and reachability
/// events; runs with their reports.
/// </summary>
/// <remarks>
/// A node that leaves (or is downed) stays listed as removed for <see cref="RemovedRetention"/>. The
/// cumulative counters of a capture node that left move into a departed sum that the totals include:
/// without it a node crashing mid-run would take its requests out of the totals and the run's
/// difference between start and stop would go wrong, even negative.
/// Reports are taken only from members whose role is the role the report names, capture or intercept;
/// others are refused, counted and logged (a non-member could otherwise invent nodes and totals).
/// </remarks>
internal sealed class StatisticsAggregator : ReceiveActor
{
    /// <summary>How long a removed node stays listed.</summary>
    public static readonly TimeSpan RemovedRetention = TimeSpan.FromSeconds(60);

    /// <summary>The window of the recent reply latency percentiles.</summary>
    public static readonly TimeSpan RecentWindow = TimeSpan.FromSeconds(10);

    // Counters that say how much there is now, not how much happened: a departed node has none of
    // these any more, so they never enter the departed sum.
    private static readonly HashSet<string> Gauges = new(StringComparer.Ordinal) { "sessions_live", "buffered_bytes", "process_memory_bytes", "plan_version", "requests_in_flight", "identities_in_use", "identities_quarantined" };

    // Keyed by node address and role: one reporter per node in a cluster, several in one test process.
    private readonly Dictionary<(Address Address, string Role), NodeEntry> _nodes = [];
    private readonly HashSet<Address> _unreachable = [];
    private readonly Dictionary<string, long> _departedCaptureTotals = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Microsoft.Extensions.Logging.ILogger _logger;
    private readonly ClusterSenders _senders;
    private readonly MessageRefusals _refusals;
    private readonly NodeMetrics _metrics;
    private (DateTimeOffset At, IReadOnlyDictionary<string, long> Totals)? _runStart;
    private (DateTimeOffset At, IReadOnlyDictionary<string, long> Totals)? _runStop;
    private TimeSpan? _runPlannedDuration;
    private ITimer? _runTimer;
    private int _runNumber;

    public StatisticsAggregator(TimeProvider time, Microsoft.Extensions.Logging.ILogger? logger = null, ClusterSenders? senders = null, MessageRefusals? refusals = null,
        NodeMetrics? metrics = null)
    {
        _time = time;
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _senders = senders ?? ClusterSenders.Of(Context.System);
        _refusals = refusals ?? new MessageRefusals();
        _metrics = metrics ?? CoordinatorMetrics(_refusals);
        Receive<NodeStatisticsReport>(OnReport);
        Receive<ClusterEvent.MemberRemoved>(OnMemberRemoved);
        Receive<ClusterEvent.UnreachableMember>(e => _unreachable.Add(e.Member.Address));
        Receive<ClusterEvent.ReachableMember>(e => _unreachable.Remove(e.Member.Address));
        Receive<ClusterEvent.IClusterDomainEvent>(_ => { });
        Receive<GetClusterStatistics>(_ => Sender.Tell(Snapshot()));
        Receive<StartRun>(start =>
        {
            _runTimer?.Dispose();
            _runTimer = null;
            _runNumber++;
            _runStart = (_time.GetUtcNow(), Snapshot().CaptureTotals);
            _runStop = null;
            _runPlannedDuration = start.Duration;
            if (start.Duration is { } duration)
            {
                // The injected clock's timer (tests move it by hand); its callback only mails us.
                var self = Self;
                var elapsed = new RunDurationElapsed(_runNumber);
                _runTimer = _time.CreateTimer(_ => self.Tell(elapsed), null, duration, Timeout.InfiniteTimeSpan);
            }

            Sender.Tell(Report());
        });
        Receive<StopRun>(_ =>
        {
            if (_runStart is null || _runStop is not null)
            {
                Sender.Tell(NoRun.Instance);
                return;
            }

            Stop();
            Sender.Tell(Report());
        });
        Receive<RunDurationElapsed>(elapsed =>
        {
            // A timer of an earlier run, or a run already stopped by hand, has nothing left to stop.
            if (elapsed.RunNumber == _runNumber && _runStart is not null && _runStop is null)
            {
                Stop();
                _log.Info("The run stopped after its planned {0}", _runPlannedDuration);
            }
        });
        Receive<GetRunReport>(_ => Sender.Tell(_runStart is null ? NoRun.Instance : Report()));
    }

    public static Props Props(TimeProvider time, Microsoft.Extensions.Logging.ILogger? logger = null, ClusterSenders? senders = null, MessageRefusals? refusals = null,
        NodeMetrics? metrics = null) =>
        Akka.Actor.Props.Create(() => new StatisticsAggregator(time, logger, senders, refusals, metrics));

    /// <summary>The coordinator's own catalogue: what every node has (refused messages, resumed faults, the process).</summary>
    public static NodeMetrics CoordinatorMetrics(MessageRefusals refusals)
    {
        var metrics = new NodeMetrics(Configuration.NodeRoles.Coordinator);
        metrics.NodeWide(refusals);
        return metrics;
    }

    protected override void PreStart() => Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
        typeof(ClusterEvent.MemberRemoved), typeof(ClusterEvent.IReachabilityEvent));

    protected override void PostStop()
    {
        _runTimer?.Dispose();
        Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
    }

    private void OnReport(NodeStatisticsReport report)
    {
        if (report.Role is not (NodeRoles.Capture or NodeRoles.Intercept))
        {
            _refusals.Refuse(_logger, "statistics report", Sender.Path.ToString(), RefusalReasons.Impersonation, "only capture and intercept nodes report");
            return;
        }

        var verdict = _senders.Check(Sender, report.Role);
        if (verdict != SenderVerdict.Accepted)
        {
            _refusals.Refuse(_logger, $"{report.Role} statistics report", Sender.Path.ToString(), ClusterSenders.Reason(verdict),
                "reports come from members of the role they name");
            return;
        }

        var key = (Sender.Path.Address, report.Role);
        if (_nodes.TryGetValue(key, out var entry) && entry.RemovedMember is { } removed)
        {
            if (!IsNewIncarnation(key.Address, removed))
            {
                // A report that overtook the removal: its node's final counters are already departed.
                return;
            }

            _nodes.Remove(key);
            entry = null;
        }

        if (entry is null)
        {
            _nodes[key] = new NodeEntry(report);
            return;
        }

        entry.Add(report, (long)RecentWindow.TotalMilliseconds);
    }

    private void OnMemberRemoved(ClusterEvent.MemberRemoved e)
    {
        _unreachable.Remove(e.Member.Address);
        foreach (var ((address, role), entry) in _nodes)
        {
            if (address != e.Member.Address || entry.RemovedMember is not null)
            {
                continue;
            }

            entry.RemovedMember = e.Member.UniqueAddress;
            entry.RemovedAt = _time.GetUtcNow();
            if (role == NodeRoles.Capture)
            {
                foreach (var (counter, value) in entry.Latest.Counters.Where(c => !Gauges.Contains(c.Key)))
                {
                    _departedCaptureTotals[counter] = _departedCaptureTotals.GetValueOrDefault(counter) + value;
                }
            }
        }
    }

    // A restarted node on the same host and port has the same address; only the cluster knows it is new.
    private bool IsNewIncarnation(Address address, UniqueAddress removed) =>
        Akka.Cluster.Cluster.Get(Context.System).State.Members
            .Any(m => m.Address == address && m.UniqueAddress != removed && m.Status is MemberStatus.Joining or MemberStatus.WeaklyUp or MemberStatus.Up);

    private void Stop()
    {
        _runTimer?.Dispose();
        _runTimer = null;
        _runStop = (_time.GetUtcNow(), Snapshot().CaptureTotals);
    }

    private ClusterStatistics Snapshot()
    {
        var now = _time.GetUtcNow();
        foreach (var key in _nodes.Where(n => n.Value.RemovedAt + RemovedRetention <= now).Select(n => n.Key).ToList())
        {
            _nodes.Remove(key);
        }

        var nowMs = now.ToUnixTimeMilliseconds();
        var ordered = _nodes.OrderBy(n => n.Key.Role, StringComparer.Ordinal).ThenBy(n => n.Key.Address.ToString(), StringComparer.Ordinal).ToList();
        var nodes = ordered
            .Select(n => new NodeStatistics(n.Key.Address.ToString(), n.Key.Role, nowMs - n.Value.Latest.TimestampMs, n.Value.Latest.Counters, Rates(n.Value), StateOf(n.Key.Address, n.Value)))
            .ToList();

        // Removed capture nodes count through the departed sum, not twice.
        var captures = ordered.Where(n => n.Key.Role == NodeRoles.Capture && n.Value.RemovedMember is null).Select(n => n.Value).ToList();
        var totals = new Dictionary<string, long>(_departedCaptureTotals, StringComparer.Ordinal);
        foreach (var (counter, value) in captures.SelectMany(n => n.Latest.Counters))
        {
            totals[counter] = totals.GetValueOrDefault(counter) + value;
        }

        var recentStart = new Dictionary<string, long>(StringComparer.Ordinal);
        var recentEnd = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var node in captures)
        {
            AddHistogram(recentStart, node.WindowStart.Counters);
            AddHistogram(recentEnd, node.Latest.Counters);
        }

        var captured = totals.GetValueOrDefault("requests_captured");
        var lost = totals.GetValueOrDefault("requests_lost");
        var rates = captures.Select(Rates).ToList();
        return new ClusterStatistics(nodes, totals,
            rates.Sum(r => r.GetValueOrDefault("requests_online")),
            rates.Sum(r => r.GetValueOrDefault("requests_delivered")),
            captured == 0 ? 0 : (double)lost / captured,
            new ReplyLatencyStatistics(RecentWindow.TotalSeconds, LatencyPercentiles.Between(recentStart, recentEnd), LatencyPercentiles.From(totals)),
            new ReplyLatencyStatistics(RecentWindow.TotalSeconds, LatencyPercentiles.Between(recentStart, recentEnd, LatencyHistogramLayout.RelayLatency),
                LatencyPercentiles.From(totals, LatencyHistogramLayout.RelayLatency)),
            CoordinatorCounters(),
            rates.Sum(r => r.GetValueOrDefault("requests_lost")),
            new ReplyLatencyStatistics(RecentWindow.TotalSeconds, LatencyPercentiles.Between(recentStart, recentEnd, LatencyHistogramLayout.CaptureLatency),
                LatencyPercentiles.From(totals, LatencyHistogramLayout.CaptureLatency)));
    }

    private Dictionary<string, long> CoordinatorCounters() => _metrics.Read();

    private string StateOf(Address address, NodeEntry entry) =>
        entry.RemovedMember is not null ? NodeStates.Removed : _unreachable.Contains(address) ? NodeStates.Unreachable : NodeStates.Up;

    private static void AddHistogram(Dictionary<string, long> sum, IReadOnlyDictionary<string, long> counters)
    {
        foreach (var (counter, value) in counters)
        {
            if (ReplyLatencyHistogram.IsHistogramCounter(counter) || LatencyHistogramLayout.RelayLatency.IsHistogramCounter(counter)
                || LatencyHistogramLayout.CaptureLatency.IsHistogramCounter(counter))
            {
                sum[counter] = sum.GetValueOrDefault(counter) + value;
            }
        }
    }

    private RunReport Report()
    {
        var (startedAt, start) = _runStart!.Value;
        var (endAt, end) = _runStop ?? (_time.GetUtcNow(), Snapshot().CaptureTotals);
        long Delta(string counter) => end.GetValueOrDefault(counter) - start.GetValueOrDefault(counter);
        var seconds = Math.Max(0.001, (endAt - startedAt).TotalSeconds);
        var online = Delta("requests_online");
        var captured = Delta("requests_captured");
        var replayed = Delta("requests_delivered");
        var lost = Delta("requests_lost");
        var ended = end.Keys.Where(k => k.StartsWith("sessions_ended_", StringComparison.Ordinal))
            .ToDictionary(k => k["sessions_ended_".Length..], Delta, StringComparer.Ordinal);
        var lostBy = end.Keys.Where(k => k.StartsWith("requests_lost_", StringComparison.Ordinal))
            .ToDictionary(k => k["requests_lost_".Length..], Delta, StringComparer.Ordinal);
        return new RunReport(startedAt, _runStop?.At, seconds, online, replayed, captured == 0 ? 0 : (double)lost / captured,
            online / seconds, replayed / seconds, Delta("retransmissions"), ended)
        {
            CapturedRequests = captured,
            LostRequests = lost,
            LostByReason = lostBy,
            InFlightRequests = end.GetValueOrDefault("requests_in_flight"),
            PlannedDurationSeconds = _runPlannedDuration?.TotalSeconds,
            ReplyLatency = LatencyPercentiles.Between(start, end),
            RelayLatency = LatencyPercentiles.Between(start, end, LatencyHistogramLayout.RelayLatency),
        };
    }

    private static Dictionary<string, double> Rates(NodeEntry node)
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

    /// <summary>One node's reports: the latest, the one before (for rates) and the oldest within the recent window.</summary>
    private sealed class NodeEntry(NodeStatisticsReport first)
    {
        // Reports of the recent window, oldest first: a node reports once a second, so about ten.
        private readonly Queue<NodeStatisticsReport> _window = new([first]);

        public NodeStatisticsReport Latest { get; private set; } = first;

        public NodeStatisticsReport? Previous { get; private set; }

        /// <summary>Where the recent window starts; with a single report nothing is known to be recent.</summary>
        public NodeStatisticsReport WindowStart => _window.Count > 1 ? _window.Peek() : Latest;

        public UniqueAddress? RemovedMember { get; set; }

        public DateTimeOffset? RemovedAt { get; set; }

        public void Add(NodeStatisticsReport report, long windowMs)
        {
            Previous = Latest;
            Latest = report;
            _window.Enqueue(report);
            while (_window.Peek().TimestampMs < report.TimestampMs - windowMs)
            {
                _window.Dequeue();
            }
        }
    }
}

/// <summary>A run's planned duration is over (sent by the run's own timer).</summary>
internal sealed record RunDurationElapsed(int RunNumber);
