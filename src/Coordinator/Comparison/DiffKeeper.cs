using Akka.Actor;
using ReplayCluster.Comparison;
using ReplayCluster.Configuration;
using ReplayCluster.Membership;

namespace ReplayCluster.Coordinator.Comparison;

/// <summary>Asks the <see cref="DiffKeeper"/> for the run's report under <paramref name="Noise"/> (the running plan's rules).</summary>
internal sealed record GetDiff(NoiseOptions Noise);

/// <summary>The answer to <see cref="GetDiff"/>.</summary>
/// <param name="Run">The run the report covers: 0 before the first <c>run start</c> (everything since the coordinator started).</param>
/// <param name="Since">When that run (or the coordinator) started.</param>
/// <param name="Nodes">Capture nodes whose summaries are in the report.</param>
/// <param name="Report">The report, under the running plan's noise rules.</param>
internal sealed record DiffAnswer(int Run, DateTimeOffset Since, int Nodes, ComparisonReport Report);

/// <summary>A run started: the report starts over.</summary>
internal sealed class StartDiffRun
{
    public static readonly StartDiffRun Instance = new();
}

/// <summary>
/// The coordinator's side of response comparison: capture nodes send what they compared since their previous report
/// (<see cref="ComparisonSummaryReport"/>, bounded deltas); this actor merges them into the run's summary (bounded by
/// the same budget) and builds the report, applying the noise rule to the whole, on demand. Summaries are taken only
/// from capture nodes of the cluster; anything else is refused and counted.
/// </summary>
internal sealed class DiffKeeper : ReceiveActor
{
    private readonly TimeProvider _time;
    private readonly ClusterSenders _senders;
    private readonly MessageRefusals _refusals;
    private readonly Microsoft.Extensions.Logging.ILogger _logger;
    private readonly HashSet<Address> _nodes = [];
    private ComparisonSummary _run = ComparisonSummary.Empty;
    private DateTimeOffset _since;
    private int _runNumber;

    public DiffKeeper(TimeProvider time, Microsoft.Extensions.Logging.ILogger logger, ClusterSenders? senders = null, MessageRefusals? refusals = null)
    {
        _time = time;
        _logger = logger;
        _senders = senders ?? ClusterSenders.Of(Context.System);
        _refusals = refusals ?? new MessageRefusals();
        _since = time.GetUtcNow();
        Receive<ComparisonSummaryReport>(OnReport);
        Receive<GetDiff>(get => Sender.Tell(new DiffAnswer(_runNumber, _since, _nodes.Count, ComparisonReport.Build(_run, get.Noise))));
        Receive<StartDiffRun>(_ =>
        {
            _runNumber++;
            _since = _time.GetUtcNow();
            _run = ComparisonSummary.Empty;
            _nodes.Clear();
        });
    }

    public static Props Props(TimeProvider time, Microsoft.Extensions.Logging.ILogger logger, ClusterSenders? senders = null, MessageRefusals? refusals = null) =>
        Akka.Actor.Props.Create(() => new DiffKeeper(time, logger, senders, refusals));

    private void OnReport(ComparisonSummaryReport report)
    {
        var verdict = _senders.Check(Sender, NodeRoles.Capture);
        if (verdict != SenderVerdict.Accepted)
        {
            _refusals.Refuse(_logger, "comparison summary", Sender.Path.ToString(), ClusterSenders.Reason(verdict), "summaries come from capture nodes");
            return;
        }

        if (ComparisonSummary.FromJson(report.Json, out var error) is not { } summary)
        {
            _refusals.Refuse(_logger, "comparison summary", Sender.Path.ToString(), RefusalReasons.BadFrame, error ?? "unreadable");
            return;
        }

        _nodes.Add(Sender.Path.Address);
        _run = ComparisonSummary.Merge(_run, summary);
    }
}
