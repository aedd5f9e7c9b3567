using Akka;
using Akka.Actor;
using Microsoft.Extensions.Logging;

namespace ReplayCluster.Cluster;

/// <summary>
/// Says why a node's actor system shuts down, as the first step of its CoordinatedShutdown, and makes every stop
/// the node was not asked for end the process with a failure status.
/// </summary>
/// <remarks>
/// A node is asked to stop by its host (SIGTERM, Ctrl-C, or a role that stopped it for a failure and set the exit
/// status itself): Akka.Hosting runs CoordinatedShutdown with <see cref="CoordinatedShutdown.ClrExitReason"/> then.
/// Anything else ends the node from inside Akka: the cluster downed it, another member made it leave, its join
/// was given up, or something terminated the actor system. Without this, such a node logged only Akka's own
/// "Exiting completed" and exited 0 (Akka.Hosting's exit status covers downing and leaving only), so a service
/// manager with Restart=on-failure left it stopped and the log did not say why.
/// </remarks>
internal static class NodeStopReason
{
    /// <summary>Registers the log line and the exit status on <paramref name="system"/>'s CoordinatedShutdown.</summary>
    public static void Register(ActorSystem system, ILogger logger)
    {
        var shutdown = CoordinatedShutdown.Get(system);
        shutdown.AddTask(CoordinatedShutdown.PhaseBeforeServiceUnbind, "replaycluster-stop-reason", () =>
        {
            var (asked, text) = Describe(shutdown.ShutdownReason);
            if (asked)
            {
                ClusterLog.NodeStopping(logger, text);
            }
            else
            {
                ClusterLog.NodeStoppingUnasked(logger, text);
                if (Environment.ExitCode == 0)
                {
                    Environment.ExitCode = 1;
                }
            }

            return Task.FromResult(Done.Instance);
        });
    }

    /// <summary>Whether the stop was asked for by the node's host, and why it happens in words.</summary>
    public static (bool Asked, string Text) Describe(CoordinatedShutdown.Reason? reason) => reason switch
    {
        CoordinatedShutdown.ClrExitReason => (true, "the host stops (a signal, or the node's own failure named above)"),
        CoordinatedShutdown.ClusterDowningReason => (false, "the cluster downed this node (unreachable for too long, or downed by the coordinator)"),
        CoordinatedShutdown.ClusterLeavingReason => (false, "another member made this node leave the cluster"),
        CoordinatedShutdown.ClusterJoinUnsuccessfulReason => (false, "joining the seed nodes was given up"),
        CoordinatedShutdown.ActorSystemTerminateReason => (false, "the actor system was terminated"),
        null => (false, "no reason given"),
        _ => (false, reason.GetType().Name),
    };
}
