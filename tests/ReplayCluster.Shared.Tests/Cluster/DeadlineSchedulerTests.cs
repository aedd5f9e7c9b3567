using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using ReplayCluster.Cluster;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Tests.Cluster;

public sealed class DeadlineSchedulerTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static DeadlineScheduler NewScheduler(string grain = "10ms", string periodicGrain = "250ms") =>
        new(ConfigurationFactory.ParseString($"akka.scheduler {{ tick-duration = {grain}, periodic-grain = {periodicGrain}, shutdown-timeout = 5s }}"),
            NoLogger.Instance);

    private static IAdvancedScheduler Advanced(DeadlineScheduler scheduler) => ((IScheduler)scheduler).Advanced;

    [Fact]
    public async Task A_timer_never_runs_before_its_delay_and_runs_soon_after()
    {
        using var scheduler = NewScheduler();
        var ran = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = Stopwatch.StartNew();

        Advanced(scheduler).ScheduleOnce(TimeSpan.FromMilliseconds(150), () => ran.TrySetResult(started.Elapsed));

        var elapsed = await ran.Task.WaitAsync(Patience, Ct);
        Assert.True(elapsed >= TimeSpan.FromMilliseconds(150), $"ran after {elapsed}");
        Assert.True(elapsed < TimeSpan.FromMilliseconds(150 + 500), $"ran only after {elapsed}"); // generous: shared CI cores
    }

    [Fact]
    public async Task Timers_run_in_deadline_order_whatever_the_order_they_were_added_in()
    {
        using var scheduler = NewScheduler();
        var order = new ConcurrentQueue<int>();
        var remaining = 4;
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = Stopwatch.StartNew();

        var due = new DueWindows(started);
        void Add(int delayMs) => due.Arm(delayMs, delayMs, () => Advanced(scheduler).ScheduleOnce(TimeSpan.FromMilliseconds(delayMs), () =>
        {
            order.Enqueue(delayMs);
            if (Interlocked.Decrement(ref remaining) == 0)
            {
                all.TrySetResult();
            }
        }));

        Add(300);
        Add(100);
        Add(200);
        Add(0);

        await all.Task.WaitAsync(Patience, Ct);
        var ranOrder = order.ToList();
        Assert.Equal([0, 100, 200, 300], ranOrder.Order());
        due.AssertFiredInDueOrder(ranOrder, grainMs: 10);
    }

    [Fact]
    public async Task An_earlier_timer_wakes_a_scheduler_that_sleeps_until_a_later_one()
    {
        using var scheduler = NewScheduler();
        Advanced(scheduler).ScheduleOnce(TimeSpan.FromMinutes(5), () => { });
        await Task.Delay(50, Ct); // the thread now sleeps for five minutes
        var ran = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = Stopwatch.StartNew();

        Advanced(scheduler).ScheduleOnce(TimeSpan.FromMilliseconds(50), () => ran.TrySetResult(started.Elapsed));

        var elapsed = await ran.Task.WaitAsync(Patience, Ct);
        Assert.True(elapsed < TimeSpan.FromMilliseconds(50 + 500), $"ran only after {elapsed}");
    }

    [Fact]
    public async Task A_scheduler_with_nothing_due_does_not_wake_up()
    {
        using var scheduler = NewScheduler();
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Due long after the window below ends (~900 ms in), so that a stalled machine does not reach it in the window.
        Advanced(scheduler).ScheduleOnce(TimeSpan.FromMilliseconds(2500), () => ran.TrySetResult());
        await Task.Delay(100, Ct);
        var before = scheduler.WakeUps;

        await Task.Delay(800, Ct);

        // Akka's wheel would have woken ~80 times (every 10 ms); this one sleeps through until the timer is due.
        Assert.Equal(before, scheduler.WakeUps);
        await ran.Task.WaitAsync(Patience, Ct);
    }

    [Fact]
    public async Task Timers_due_within_one_grain_run_in_one_wake_up()
    {
        using var scheduler = NewScheduler(grain: "200ms");
        var count = 0;
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Start just after a grain boundary: a timer due at once runs at the next one. (A fixed pause after the
        // scheduler's start put "now" anywhere in its grain on a loaded machine, and deadlines 57 ms apart then
        // straddled a boundary: 3 wake-ups against the 2 allowed, once in a full suite.)
        var sinceBoundary = new Stopwatch();
        var aligned = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Advanced(scheduler).ScheduleOnce(TimeSpan.Zero, () =>
        {
            sinceBoundary.Start();
            aligned.TrySetResult();
        });
        await aligned.Task.WaitAsync(Patience, Ct);
        var before = scheduler.WakeUps;

        for (var i = 0; i < 20; i++)
        {
            // 20 deadlines spread over 57 ms after the boundary, all before the next one: the first one added wakes
            // the thread, which then sleeps until that boundary and runs them all (two wake-ups); more only if
            // getting here and adding them stalled past the boundary, so that they spread over more grains.
            Advanced(scheduler).ScheduleOnce(TimeSpan.FromMilliseconds(i * 3), () =>
            {
                if (Interlocked.Increment(ref count) == 20)
                {
                    all.TrySetResult();
                }
            });
        }

        var spreadMs = sinceBoundary.Elapsed.TotalMilliseconds + (19 * 3);
        await all.Task.WaitAsync(Patience, Ct);
        Assert.InRange(scheduler.WakeUps - before, 1, 1 + (int)Math.Ceiling(spreadMs / 200));
    }

    [Fact]
    public async Task A_cancelled_timer_never_runs()
    {
        using var scheduler = NewScheduler();
        var cancelled = new Cancelable((IScheduler)scheduler);
        var ranCancelled = false;
        var later = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        Advanced(scheduler).ScheduleOnce(TimeSpan.FromMilliseconds(50), () => ranCancelled = true, cancelled);
        Advanced(scheduler).ScheduleOnce(TimeSpan.FromMilliseconds(150), () => later.TrySetResult());
        cancelled.Cancel();

        await later.Task.WaitAsync(Patience, Ct);
        Assert.False(ranCancelled);
    }

    [Fact]
    public async Task A_repeated_timer_repeats_at_its_interval_until_cancelled()
    {
        using var scheduler = NewScheduler();
        var cancelable = new Cancelable((IScheduler)scheduler);
        var runs = 0;
        var five = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = Stopwatch.StartNew();

        Advanced(scheduler).ScheduleRepeatedly(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(50), () =>
        {
            if (Interlocked.Increment(ref runs) == 5)
            {
                five.TrySetResult(started.Elapsed);
                cancelable.Cancel();
            }
        }, cancelable);

        var elapsed = await five.Task.WaitAsync(Patience, Ct);
        Assert.True(elapsed >= TimeSpan.FromMilliseconds(20 + (4 * 50)), $"5 runs after {elapsed}");
        await Task.Delay(200, Ct);
        Assert.Equal(5, Volatile.Read(ref runs));
    }

    [Fact]
    public async Task Periodic_timers_share_the_wake_ups_of_the_periodic_grid()
    {
        using var scheduler = NewScheduler(periodicGrain: "100ms");
        var cancelable = new Cancelable((IScheduler)scheduler);
        var runs = new int[8];
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var finished = 0;
        await Task.Delay(20, Ct);
        var before = scheduler.WakeUps;

        for (var i = 0; i < runs.Length; i++)
        {
            // 8 ticks of 200 ms with their first runs 10 ms apart: on the fine grain 8 wake-ups a round (24 in all), on
            // the 100 ms grid one a round, or two when the first runs straddle a grid point; and one when the first
            // timer is added.
            var index = i;
            Advanced(scheduler).ScheduleRepeatedly(TimeSpan.FromMilliseconds(i * 10), TimeSpan.FromMilliseconds(200), () =>
            {
                if (Interlocked.Increment(ref runs[index]) == 3 && Interlocked.Increment(ref finished) == runs.Length)
                {
                    done.TrySetResult();
                }
            }, cancelable);
        }

        await done.Task.WaitAsync(Patience, Ct);
        var wakeUps = scheduler.WakeUps - before;
        cancelable.Cancel();
        Assert.InRange(wakeUps, 1, 8);
    }

    [Fact]
    public async Task A_periodic_timer_keeps_its_average_interval_on_the_coarser_grid()
    {
        using var scheduler = NewScheduler(periodicGrain: "100ms");
        var cancelable = new Cancelable((IScheduler)scheduler);
        var runs = new List<double>();
        var twelve = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = Stopwatch.StartNew();

        // 250 ms is no multiple of the 100 ms grid: rounding each run's deadline up from the previous run would
        // stretch every interval to 300 ms (run k at k x 300 ms); at a fixed rate run k comes at k x 250 ms, rounded
        // up to the grid. Judged by the median lateness of runs 4 to 11 (k x 50 ms and more if stretched, under 100
        // at a fixed rate), so that one run a stalled machine delays does not decide it.
        Advanced(scheduler).ScheduleRepeatedly(TimeSpan.Zero, TimeSpan.FromMilliseconds(250), () =>
        {
            lock (runs)
            {
                runs.Add(started.Elapsed.TotalMilliseconds);
                if (runs.Count == 12)
                {
                    twelve.TrySetResult();
                    cancelable.Cancel();
                }
            }
        }, cancelable);

        await twelve.Task.WaitAsync(Patience, Ct);
        double[] times;
        lock (runs)
        {
            times = [.. runs.Take(12)];
        }

        Assert.All(Enumerable.Range(0, 12), k => Assert.True(times[k] >= (k * 250) - 1, $"run {k} after {times[k]:F1} ms, due at {k * 250}"));
        var lateness = Enumerable.Range(4, 8).Select(k => times[k] - (k * 250)).Order().ToArray();
        var median = (lateness[3] + lateness[4]) / 2;
        Assert.True(median < 150, $"runs 4-11 late by {string.Join(", ", lateness.Select(l => l.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)))} ms");
    }

    [Fact]
    public async Task A_throwing_action_does_not_stop_the_others_and_is_not_repeated()
    {
        using var scheduler = NewScheduler();
        var throws = 0;
        var after = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        Advanced(scheduler).ScheduleRepeatedly(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(20), () =>
        {
            Interlocked.Increment(ref throws);
            throw new InvalidOperationException("boom");
        });
        Advanced(scheduler).ScheduleOnce(TimeSpan.FromMilliseconds(200), () => after.TrySetResult());

        await after.Task.WaitAsync(Patience, Ct);
        Assert.Equal(1, Volatile.Read(ref throws));
    }

    [Fact]
    public void Cancelled_timers_are_purged_so_re_arming_cannot_grow_the_queue_without_bound()
    {
        using var scheduler = NewScheduler();
        for (var i = 0; i < 100_000; i++)
        {
            // An actor re-arming a far timer per message: every earlier one is cancelled.
            var cancelable = new Cancelable((IScheduler)scheduler);
            Advanced(scheduler).ScheduleOnce(TimeSpan.FromMinutes(10), () => { }, cancelable);
            cancelable.Cancel();
        }

        Assert.True(scheduler.QueuedCount <= 2048, $"{scheduler.QueuedCount} timers queued");
    }

    [Fact]
    public void Dispose_runs_outstanding_timers_once_and_refuses_new_ones()
    {
        var scheduler = NewScheduler();
        var ran = 0;
        var cancelled = new Cancelable((IScheduler)scheduler);
        Advanced(scheduler).ScheduleOnce(TimeSpan.FromMinutes(10), () => Interlocked.Increment(ref ran));
        Advanced(scheduler).ScheduleOnce(TimeSpan.FromMinutes(10), () => Interlocked.Add(ref ran, 100), cancelled);
        cancelled.Cancel();

        scheduler.Dispose();
        scheduler.Dispose();

        Assert.Equal(1, ran);
        Assert.Throws<SchedulerException>(() => Advanced(scheduler).ScheduleOnce(TimeSpan.Zero, () => { }));
    }

    [Fact]
    public async Task An_actor_system_runs_its_timers_on_it()
    {
        var config = ConfigurationFactory.ParseString(
            $"akka.scheduler.implementation = \"{typeof(DeadlineScheduler).AssemblyQualifiedName}\"");
        using var system = ActorSystem.Create("deadline-scheduler", config);
        Assert.IsType<DeadlineScheduler>(system.Scheduler);
        var probe = system.ActorOf(Props.Create(() => new Echo()));

        var answer = await probe.Ask<string>("ping", TimeSpan.FromSeconds(5), Ct);

        Assert.Equal("pong", answer);
        await system.Terminate().WaitAsync(Patience, Ct);
    }

    private sealed class Echo : ReceiveActor, IWithTimers
    {
        private IActorRef? _asker;

        public Echo()
        {
            Receive<string>(s => s == "ping", _ =>
            {
                _asker = Sender;
                Timers.StartSingleTimer("later", "tick", TimeSpan.FromMilliseconds(30));
            });
            Receive<string>(s => s == "tick", _ => _asker!.Tell("pong"));
        }

        public ITimerScheduler Timers { get; set; } = null!;
    }
}
