using ReplayCluster.Statistics;

namespace ReplayCluster.Intercept.Routing;

/// <summary>The intercept node's counters, written by the capture thread and the router.</summary>
internal sealed class InterceptStatistics
{
    /// <summary>Capture to hand-over to a reply channel or remoting, in the relay's buckets: <c>handoff_latency_us_*</c>.</summary>
    public static readonly LatencyHistogramLayout HandOffLayout = new("handoff_latency_us", LatencyHistogramLayout.RelayLatency.UpperBoundsMicroseconds);

    private long _repliesCaptured;

    public InterceptStatistics()
    {
        Metrics = new NodeMetrics(Configuration.NodeRoles.Intercept);
        var m = Metrics;
        m.Counter("replies_captured", "{packet}", "Target reply packets captured on the sink interface.", () => RepliesCaptured);
        m.PacketsRejected(ParseRejects);
        m.Counter("replies_routed", "{record}", "Reply records sent toward the capture node that owns their session.", () => RepliesRouted);
        m.Counter("replies_dropped_unrouted", "{record}", "Reply records of no claimed route, dropped after the parking time.", () => RepliesDroppedUnrouted);
        m.Gauge("replies_parked", "{record}", "Reply records waiting for their route's claim.", () => Parked);
        m.Gauge("routes", "{route}", "Routes claimed by capture nodes.", () => Routes);
        m.Gauge("claims_awaiting_member", "{message}", "Route-claim messages from nodes not yet seen as members.", () => ClaimsAwaitingMember);
        m.Counter("batches_sent", "{batch}", "Reply record batches sent.", () => BatchesSent);
        m.Counter("batches_by_channel", "{batch}", "Batches written to a reply channel instead of remoting.", () => BatchesByChannel);
        m.Gauge("reply_channels", "{connection}", "Reply channels open now.", () => ReplyChannels);
        m.Counter("reply_channel_failures", "{connection}", "Reply channels that could not open or failed while open.", () => ReplyChannelFailures);
        Comparison.Publish(m);

        m.NodeWide(Refusals);
        m.Histogram("Capture of a reply to its hand-over to a reply channel or remoting.", HandOffLatency);
    }

    /// <summary>This node's instruments: what the report, the log line and /metrics show.</summary>
    public NodeMetrics Metrics { get; }

    /// <summary>The response comparison tap's counters (issue 11).</summary>
    public Comparison.ComparisonTapCounters Comparison { get; } = new();

    /// <summary>Captured packets the parser refused, by reason.</summary>
    public Packets.ParseRejectCounters ParseRejects { get; } = new();

    public long RepliesCaptured => Interlocked.Read(ref _repliesCaptured);

    public long PacketsRejected => ParseRejects.Rejected;


    /// <summary>How long each routed reply took from its capture to being handed to remoting (written by the router).</summary>
    public LatencyHistogram HandOffLatency { get; } = new(HandOffLayout);

    public long RepliesRouted { get; set; }

    public long RepliesDroppedUnrouted { get; set; }

    public long BatchesSent { get; set; }

    /// <summary>Batches written to a reply channel instead of remoting.</summary>
    public long BatchesByChannel { get; set; }

    /// <summary>Reply channels open now.</summary>
    public int ReplyChannels { get; set; }

    /// <summary>Reply channels that could not open or failed while open (remoting carried their replies).</summary>
    public long ReplyChannelFailures { get; set; }

    public int Routes { get; set; }

    public int Parked { get; set; }

    /// <summary>Route-claim messages from nodes not yet seen as members, waiting for their membership.</summary>
    public int ClaimsAwaitingMember { get; set; }

    /// <summary>Cluster messages this node refused (route claims from a non-capture node, ...), by reason.</summary>
    public Membership.MessageRefusals Refusals { get; } = new();

    public void CountCaptured() => Interlocked.Increment(ref _repliesCaptured);

    public void CountRejected(Packets.ParseResult reason) => ParseRejects.Count(reason);


    /// <summary>The counters reported to the coordinator: the catalogue's reading (cumulative, snake_case as in /metrics).</summary>
    public IReadOnlyDictionary<string, long> ToCounters() => Metrics.Read();

    /// <summary>One line for the log: every counter and gauge of the catalogue as <c>name=value</c> (a family as <c>name=total (value=n ...)</c>).</summary>
    public string Summary() => Metrics.Line(Metrics.Read());
}
