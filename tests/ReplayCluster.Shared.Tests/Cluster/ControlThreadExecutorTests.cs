using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Event;
using ReplayCluster.Cluster;
using ReplayCluster.Configuration;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Tests.Cluster;

/// <summary>The control plane's mailboxes run on the scheduler's thread (hocon/common.hocon, ControlThreadExecutor).</summary>
public sealed class ControlThreadExecutorTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static DeadlineScheduler NewScheduler() =>
        new(ConfigurationFactory.ParseString("akka.scheduler { tick-duration = 10ms, periodic-grain = 0, shutdown-timeout = 5s }"), NoLogger.Instance);

    [Fact]
    public async Task Work_from_other_threads_runs_once_each_on_the_scheduler_thread_also_when_it_sleeps_between_bursts()
    {
        using var scheduler = NewScheduler();
        var executor = new ControlThreadExecutor("test", scheduler);
        const int threads = 4, bursts = 20, perBurst = 250;
        var counts = new int[threads * bursts * perBurst];
        var elsewhere = 0;
        var remaining = counts.Length;
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var producers = Enumerable.Range(0, threads).Select(t => Task.Run(async () =>
        {
            for (var b = 0; b < bursts; b++)
            {
                for (var i = 0; i < perBurst; i++)
                {
                    var index = ((t * bursts) + b) * perBurst + i;
                    executor.Execute(new ActionRunnable(() =>
                    {
                        Interlocked.Increment(ref counts[index]);
                        if (!scheduler.IsSchedulerThread)
                        {
                            Interlocked.Increment(ref elsewhere);
                        }

                        if (Interlocked.Decrement(ref remaining) == 0)
                        {
                            all.TrySetResult();
                        }
                    }));
                }

                await Task.Delay(b % 3, Ct); // let the thread fall asleep now and then: a wake-up must not be lost
            }
        }, Ct)).ToArray();

        await Task.WhenAll(producers);
        await all.Task.WaitAsync(Patience, Ct);

        Assert.All(counts, c => Assert.Equal(1, c));
        Assert.Equal(0, elsewhere);
        Assert.Equal(counts.Length, scheduler.Runs);
    }

    [Fact]
    public async Task A_timer_and_the_work_it_queues_run_in_one_wake_up()
    {
        using var scheduler = NewScheduler();
        var executor = new ControlThreadExecutor("test", scheduler);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // A timer whose action queues work that queues more (a tick's Tell, then the messages the actor sends on).
        ((IScheduler)scheduler).Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(400), () =>
            executor.Execute(new ActionRunnable(() => executor.Execute(new ActionRunnable(() => done.TrySetResult())))));
        await Task.Delay(100, Ct); // the thread has woken up for the new timer and sleeps until it is due
        var before = scheduler.WakeUps;

        await done.Task.WaitAsync(Patience, Ct);
        Assert.Equal(1, scheduler.WakeUps - before);
    }

    [Fact]
    public async Task Busy_work_does_not_hold_a_due_timer_back()
    {
        using var scheduler = NewScheduler();
        var executor = new ControlThreadExecutor("test", scheduler);
        var stop = 0;
        var timerRan = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = Stopwatch.StartNew();

        // Work that always queues its successor: the queue is never empty while it runs.
        void Spin()
        {
            if (Volatile.Read(ref stop) == 0)
            {
                executor.Execute(new ActionRunnable(Spin));
            }
        }

        executor.Execute(new ActionRunnable(Spin));
        ((IScheduler)scheduler).Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(100), () => timerRan.TrySetResult(started.Elapsed));
        try
        {
            var elapsed = await timerRan.Task.WaitAsync(Patience, Ct);
            Assert.True(elapsed < TimeSpan.FromSeconds(2), $"the timer ran only after {elapsed}");
        }
        finally
        {
            Volatile.Write(ref stop, 1);
        }
    }

    [Fact]
    public async Task Work_queued_after_the_scheduler_stopped_still_runs_on_the_thread_pool()
    {
        var scheduler = NewScheduler();
        var executor = new ControlThreadExecutor("test", scheduler);
        scheduler.Dispose();
        var ran = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);

        executor.Execute(new ActionRunnable(() => ran.TrySetResult(Thread.CurrentThread.IsThreadPoolThread)));

        Assert.True(await ran.Task.WaitAsync(Patience, Ct));
    }

    [Fact]
    public async Task Without_the_deadline_scheduler_the_dispatcher_runs_on_the_thread_pool()
    {
        var config = ConfigurationFactory.ParseString($$"""
            akka.actor.default-dispatcher.executor = "{{typeof(ControlThreadExecutorConfigurator).AssemblyQualifiedName}}"
            """);
        using var system = ActorSystem.Create("control-thread-fallback", config);
        Assert.IsNotType<DeadlineScheduler>(system.Scheduler);
        var actor = system.ActorOf(Props.Create(() => new ThreadName()));

        var where = await actor.Ask<string>("where", Patience, Ct);

        Assert.StartsWith(".NET TP Worker", where, StringComparison.Ordinal);
        await system.Terminate().WaitAsync(Patience, Ct);
    }

    [Fact]
    public async Task A_node_runs_its_actors_and_akkas_cluster_and_remoting_on_the_scheduler_thread()
    {
        await using var node = await InProcessNode.StartAsync(NodeRoles.Coordinator, new NodeConfigOverrides { Port = "0" });
        var system = node.System;
        Assert.IsType<DeadlineScheduler>(system.Scheduler);

        // Ours (default dispatcher), Akka's cluster daemons (internal dispatcher) and remoting's (remote dispatcher).
        foreach (var id in new[] { "akka.actor.default-dispatcher", "akka.actor.internal-dispatcher", "akka.remote.default-remote-dispatcher" })
        {
            var actor = system.ActorOf(Props.Create(() => new ThreadName()).WithDispatcher(id));
            Assert.Equal("akka-scheduler", await actor.Ask<string>("where", Patience, Ct));
        }

        // Akka's cluster daemon and remoting's endpoint manager: whatever dispatcher Akka gives them runs there too.
        foreach (var path in new[] { "/system/cluster/core/daemon", "/system/endpointManager" })
        {
            var actor = await system.ActorSelection(path).ResolveOne(Patience, Ct);
            var dispatcher = ((ActorCell)((ActorRefWithCell)actor).Underlying).Dispatcher;
            var thread = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            dispatcher.Schedule(() => thread.TrySetResult(Thread.CurrentThread.Name ?? "(unnamed)"));
            Assert.Equal("akka-scheduler", await thread.Task.WaitAsync(Patience, Ct));
        }
    }

    private sealed class ThreadName : ReceiveActor
    {
        public ThreadName() => Receive<string>(_ => Sender.Tell(Thread.CurrentThread.Name ?? "(unnamed)"));
    }
}

public sealed class InlineSocketCompletionsTests
{
    [Fact]
    public void A_node_asks_for_inline_socket_completions_unless_the_operator_said_otherwise()
    {
        var environment = new Dictionary<string, string>();
        Assert.True(InlineSocketCompletions.Prefer(k => environment.GetValueOrDefault(k), (k, v) => environment[k] = v));
        Assert.Equal("1", environment["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"]);

        var off = new Dictionary<string, string> { ["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"] = "0" };
        Assert.False(InlineSocketCompletions.Prefer(k => off.GetValueOrDefault(k), (k, v) => off[k] = v));
        Assert.Equal("0", off["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"]);
    }
}
