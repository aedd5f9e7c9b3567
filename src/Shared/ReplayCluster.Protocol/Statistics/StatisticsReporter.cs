using Akka.Actor;
using Akka.Cluster;
using ReplayCluster.Configuration;

namespace ReplayCluster.Statistics;

/// <summary>Sends this node's counters to every coordinator in the cluster once a second.</summary>
public sealed class StatisticsReporter : ReceiveActor, IWithTimers
{
    private readonly string _role;
    private readonly Func<IReadOnlyDictionary<string, long>> _snapshot;
    private readonly Akka.Cluster.Cluster _cluster;

    public StatisticsReporter(string role, Func<IReadOnlyDictionary<string, long>> snapshot)
    {
        _role = role;
        _snapshot = snapshot;
        _cluster = Akka.Cluster.Cluster.Get(Context.System);
        Receive<Report>(_ => SendReport());
        Receive<ReportNow>(_ =>
        {
            SendReport();
            Sender.Tell(ReportNow.Sent);
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string role, Func<IReadOnlyDictionary<string, long>> snapshot) =>
        Akka.Actor.Props.Create(() => new StatisticsReporter(role, snapshot));

    protected override void PreStart() => Timers.StartPeriodicTimer("report", Report.Instance, TimeSpan.FromSeconds(1));

    private void SendReport()
    {
        var coordinators = _cluster.State.Members.Where(m => m.Status == MemberStatus.Up && m.HasRole(NodeRoles.Coordinator)).ToList();
        if (coordinators.Count == 0)
        {
            return;
        }

        var counters = _snapshot();
        var report = new NodeStatisticsReport(_role, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), counters);
        foreach (var coordinator in coordinators)
        {
            Context.ActorSelection(new RootActorPath(coordinator.Address) / "user" / Cluster.ActorNames.Statistics).Tell(report);
        }
    }

    /// <summary>
    /// Sends a report at once and answers <see cref="Sent"/>: a node that stops sends its final counters
    /// before it leaves the cluster, so the coordinator's totals include its last second.
    /// </summary>
    public sealed class ReportNow
    {
        public static readonly ReportNow Instance = new();

        /// <summary>The answer: the report went out.</summary>
        public static readonly object Sent = new();
    }

    private sealed class Report
    {
        public static readonly Report Instance = new();
    }
}
