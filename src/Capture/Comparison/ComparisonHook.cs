using Akka.Actor;
using ReplayCluster.Capture.Plans;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Comparison;
using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Comparison;

/// <summary>
/// What a session shard asks when it starts the replay of a connection: one plan read and a hash per new connection,
/// nothing per packet. A compared connection is told to the collector with the replayed sessions' endpoints at the
/// target and at the secondary reference (only the shard knows them: identities are chosen there).
/// </summary>
internal sealed class ComparisonHook(PlanInEffect plan, IActorRef collector, ComparisonSwitch comparing)
{
    /// <summary>Null when <paramref name="connection"/> is not compared; else whether to replay it to a secondary reference too.</summary>
    public ComparisonChoice? Choose(OnlineConnection connection)
    {
        if (!comparing.On || plan.Current.Plan is not { ComparePercent: > 0 and var percent } current
            || !ComparisonSelector.Chooses(connection.ClientAddress, connection.ClientPort, percent))
        {
            return null;
        }

        return new ComparisonChoice(ComparisonPlan.Secondary(current));
    }

    /// <summary>The compared connection's replay started: its first copy's endpoints, and the secondary reference's session if any.</summary>
    public void Started(OnlineConnection connection, SessionEndpoints target, SessionEndpoints? secondary) =>
        collector.Tell(new ComparedSessionStarted(connection, target, secondary), ActorRefs.NoSender);
}

/// <summary>A connection chosen for comparison; <see cref="Secondary"/> is the secondary reference to replay it to as well, if any.</summary>
internal readonly record struct ComparisonChoice((uint Address, ushort Port)? Secondary);

/// <summary>
/// Whether the online reply capture runs (set by <see cref="OnlineComparisonCapture"/>): without it (comparison off, a
/// pcap file replay, a capture that failed to open) no session is compared, and the shards' hook does nothing.
/// </summary>
internal sealed class ComparisonSwitch
{
    private volatile bool _on;

    public bool On
    {
        get => _on;
        set => _on = value;
    }
}
