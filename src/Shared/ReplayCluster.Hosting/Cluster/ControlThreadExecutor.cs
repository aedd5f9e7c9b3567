using Akka.Configuration;
using Akka.Dispatch;

namespace ReplayCluster.Cluster;

/// <summary>
/// Runs a dispatcher's mailboxes on the node's control thread, the <see cref="DeadlineScheduler"/>'s, instead of the
/// .NET thread pool (<c>executor</c> of Akka's default, internal and remote dispatchers in hocon/common.hocon).
/// </summary>
/// <remarks>
/// An idle node's work is Akka's cluster and remoting ticks and our statistics ticks. On the thread pool each tick
/// woke the scheduler's thread, then a pool worker for the actor, then usually more workers for the actors it told
/// (a worker that queues work while busy wakes another one): ~80 of an idle node's ~105 context switches a second
/// were pool workers', at ~100 µs of CPU per wake-up on the lab's VM (bench/idle.sh, THREADS=1). Here the timer's
/// <c>Tell</c> and everything it sets off run in the scheduler thread's one wake-up. The control plane is light by
/// design (the capture data path runs on the shards' threads, replies on the capture and channel threads), and one
/// thread runs its actors as fairly as the pool did: each mailbox run handles at most the dispatcher's throughput,
/// then goes to the back of the queue. A mailbox run must not block: nothing else on the control plane would run.
/// </remarks>
internal sealed class ControlThreadExecutor(string id, DeadlineScheduler? scheduler) : ExecutorService(id)
{
    public override void Execute(IRunnable run)
    {
        if (scheduler is null || !scheduler.TryExecute(run))
        {
            // No control thread (a test scheduler), or it stopped (the actor system terminates): the pool runs it.
            ThreadPool.UnsafeQueueUserWorkItem(static r => r.Run(), run, preferLocal: false);
        }
    }

    // The thread is the scheduler's: it stops when the actor system disposes the scheduler, after the dispatchers.
    public override void Shutdown()
    {
    }
}

/// <summary>
/// Produces a <see cref="ControlThreadExecutor"/>: on the scheduler's thread when the actor system's scheduler is the
/// <see cref="DeadlineScheduler"/>, on the thread pool otherwise (a test system on a test scheduler).
/// </summary>
internal sealed class ControlThreadExecutorConfigurator(Config config, IDispatcherPrerequisites prerequisites)
    : ExecutorServiceConfigurator(config, prerequisites)
{
    public override ExecutorService Produce(string id) => new ControlThreadExecutor(id, Prerequisites.Scheduler as DeadlineScheduler);
}
