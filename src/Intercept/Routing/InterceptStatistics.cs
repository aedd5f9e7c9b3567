using ReplayCluster.Statistics;

namespace ReplayCluster.Intercept.Routing;

/// <summary>The intercept node's counters, written by the capture thread and the router.</summary>
internal sealed class InterceptStatistics
{
    /// <summary>Capture to hand-over to a reply channel or remoting, in the relay's buckets: <c>handoff_latency_us_*</c>.</summary>
    public static readonly LatencyHistogramLayout HandOffLayout = new("handoff_latency_us", LatencyHistogramLayout.RelayLatency.UpperBoundsMicroseconds);

    private long _repliesCaptured;
    private long _packetsRejected;

    public long RepliesCaptured => Interlocked.Read(ref _repliesCaptured);

    public long PacketsRejected => Interlocked.Read(ref _packetsRejected);


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

    public void CountRejected() => Interlocked.Increment(ref _packetsRejected);


    /// <summary>The counters reported to the coordinator (cumulative, snake_case as in /metrics).</summary>
    public IReadOnlyDictionary<string, long> ToCounters()
    {
        var counters = new Dictionary<string, long>
        {
            ["replies_captured"] = RepliesCaptured,
            ["packets_rejected"] = PacketsRejected,
            ["replies_routed"] = RepliesRouted,
            ["replies_dropped_unrouted"] = RepliesDroppedUnrouted,
            ["batches_sent"] = BatchesSent,
            ["batches_by_channel"] = BatchesByChannel,
            ["reply_channels"] = ReplyChannels,
            ["reply_channel_failures"] = ReplyChannelFailures,
            ["routes"] = Routes,
            ["replies_parked"] = Parked,
            ["claims_awaiting_member"] = ClaimsAwaitingMember,
        };
        HandOffLatency.WriteCounters(counters);
        Refusals.WriteCounters(counters);
        return counters;
    }

    public string Summary() =>
        $"replies captured={RepliesCaptured} rejected={PacketsRejected} routed={RepliesRouted} dropped-unrouted={RepliesDroppedUnrouted} " +
        $"parked={Parked} routes={Routes} batches={BatchesSent} by-channel={BatchesByChannel} channels={ReplyChannels} channel-failures={ReplyChannelFailures}{Refusals.Summary()}";
}
