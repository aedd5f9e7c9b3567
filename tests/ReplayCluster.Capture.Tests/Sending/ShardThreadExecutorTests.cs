using System.Collections.Concurrent;
using Akka.Dispatch;
using ReplayCluster.Capture.Sending;

namespace ReplayCluster.Capture.Tests.Sending;

public sealed class ShardThreadExecutorTests
{
    [Fact]
    public async Task Work_runs_in_order_on_the_shard_thread_and_a_turn_ends_with_a_flush()
    {
        var log = new ConcurrentQueue<string>();
        var executor = new ShardThreadExecutor("test-shard", "test-shard", () => log.Enqueue("flush"), attach: null);
        try
        {
            var done = new TaskCompletionSource();
            for (var i = 0; i < 3; i++)
            {
                var n = i;
                executor.Execute(new Work(() => log.Enqueue($"{n}@{Thread.CurrentThread.Name}")));
            }

            executor.Execute(new Work(done.SetResult));
            await done.Task.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
            await WaitUntilAsync(() => log.LastOrDefault() == "flush");

            var entries = log.ToList();
            Assert.Equal(["0@test-shard", "1@test-shard", "2@test-shard"], entries.Where(e => e != "flush").ToList());
            Assert.Equal("flush", entries[^1]);

            // Asleep now; new work still wakes it (the flag protocol must not lose a wake-up).
            for (var round = 0; round < 200; round++)
            {
                var next = new TaskCompletionSource();
                executor.Execute(new Work(next.SetResult));
                await next.Task.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
            }
        }
        finally
        {
            executor.Shutdown();
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
    }

    private sealed class Work(Action action) : IRunnable
    {
        public void Run() => action();

        public void Execute() => action();
    }
}
