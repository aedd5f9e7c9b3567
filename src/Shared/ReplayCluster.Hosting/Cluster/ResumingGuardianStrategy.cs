using Akka.Actor;

namespace ReplayCluster.Cluster;

/// <summary>
/// Supervises the nodes' top-level actors (the children of <c>/user</c>): an exception in one of them is
/// logged and counted, the message that caused it is dropped, and the actor goes on with its state.
/// </summary>
/// <remarks>
/// <para>
/// Akka's default restarts a failing actor, which starts it again from its constructor: the coordinator's plan
/// keeper would fall back to the configured plan and version, its slice allocator would forget which slices it
/// granted (and grant them again: colliding client identities), the statistics aggregator would lose the run,
/// the intercept's reply router its route table, and a capture shard every live session it supervises. Each
/// of these holds the state the cluster agreed on; one bad message must not cost it. A failure while an actor
/// is created stops it (Akka's rule), as it has no state worth keeping and would fail again.
/// </para>
/// <para>
/// Selected by <c>akka.actor.guardian-supervisor-strategy</c> in hocon/common.hocon. The count is per process
/// (one node per process), reported as <c>actor_faults_resumed</c> beside the refused messages.
/// </para>
/// </remarks>
public sealed class ResumingGuardianStrategy : SupervisorStrategyConfigurator
{
    private static long _resumed;

    /// <summary>Exceptions of top-level actors resumed in this process since it started.</summary>
    public static long Resumed => Interlocked.Read(ref _resumed);

    /// <inheritdoc />
    public override SupervisorStrategy Create() => new OneForOneStrategy(-1, -1, Decide, loggingEnabled: true);

    internal static Directive Decide(Exception exception) => exception switch
    {
        ActorInitializationException or ActorKilledException or DeathPactException => Directive.Stop,
        _ => Count(),
    };

    private static Directive Count()
    {
        Interlocked.Increment(ref _resumed);
        return Directive.Resume;
    }
}
