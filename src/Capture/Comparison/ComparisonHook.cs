using Akka.Actor;
using ReplayCluster.Capture.Plans;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Comparison;
using ReplayCluster.Replay;

namespace ReplayCluster.Capture.Comparison;

/// <summary>
/// What a session shard calls when it starts the replay of a connection (its first copy): one plan read and a
/// comparison per new session, nothing per packet. A compared connection is told to the collector, which learns the
/// replayed session's endpoints at the target (only the shard knows them: the identity is chosen there).
/// </summary>
internal sealed class ComparisonHook(PlanInEffect plan, IActorRef collector, ComparisonSwitch comparing)
{
    public void SessionStarted(OnlineConnection connection, SessionEndpoints target, bool firstCopy)
    {
        if (firstCopy && comparing.On && plan.Current.Plan?.ComparePercent is > 0 and var percent
            && ComparisonSelector.Chooses(connection.ClientAddress, connection.ClientPort, percent))
        {
            collector.Tell(new ComparedSessionStarted(connection, target), ActorRefs.NoSender);
        }
    }
}

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
