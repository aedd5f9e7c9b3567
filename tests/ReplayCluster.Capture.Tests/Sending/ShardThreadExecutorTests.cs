using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Akka.Dispatch;
using ReplayCluster.Capture.Sending;
using ReplayCluster.PacketIO;
using ReplayCluster.Tests.TestSupport;

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
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
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
                var next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                executor.Execute(new Work(next.SetResult));
                await next.Task.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
            }
        }
        finally
        {
            executor.Shutdown();
        }
    }

    [Fact]
    public async Task An_executor_with_a_socket_and_no_work_sleeps_and_wakes_for_what_arrives_on_it()
    {
        var (peer, socket) = SocketPair.Open();
        using var _ = peer;
        var executor = new ShardThreadExecutor("test-shard-idle", "test-shard-idle", () => { }, attach: null);
        try
        {
            var tid = 0;
            await RunOnAsync(executor, () => tid = LibC.gettid());
            executor.Adopt(socket);
            await WaitUntilAsync(() => executor.SocketCount == 1);
            Assert.Equal(1, executor.SocketCount);

            // Idle with a polled socket: over 500 ms the thread neither burns CPU nor wakes.
            var (ticksBefore, switchesBefore) = ThreadUsage(tid);
            await Task.Delay(500, TestContext.Current.CancellationToken);
            var (ticksAfter, switchesAfter) = ThreadUsage(tid);
            Assert.InRange(ticksAfter - ticksBefore, 0, 2); // clock ticks of 10 ms; a spinning thread takes ~50
            Assert.InRange(switchesAfter - switchesBefore, 0, 2);

            // Bytes on the socket wake it, and it reads them on its own thread.
            peer.Send("hello"u8);
            await WaitUntilAsync(() => socket.Received == 5);
            Assert.Equal(5, socket.Received);
            Assert.Equal("test-shard-idle", socket.ReaderThread);
        }
        finally
        {
            executor.Shutdown();
        }
    }

    [Fact]
    public async Task Shutdown_ends_the_thread_and_closes_its_sockets_and_a_socket_asked_to_close_is_closed()
    {
        var (peerA, socketA) = SocketPair.Open();
        var (peerB, socketB) = SocketPair.Open();
        var (peerC, socketC) = SocketPair.Open();
        using var a = peerA;
        using var b = peerB;
        using var c = peerC;
        var executor = new ShardThreadExecutor("test-shard-stop", "test-shard-stop", () => { }, attach: null);
        Thread? thread = null;
        await RunOnAsync(executor, () => thread = Thread.CurrentThread);
        executor.Adopt(socketA);
        executor.Adopt(socketB);
        await WaitUntilAsync(() => executor.SocketCount == 2);

        // One socket asked to close (another thread's request): the executor drops and closes it, keeps the other.
        socketA.RequestClose("asked");
        executor.Wake();
        Assert.True(ClosedByPeer(peerA));
        Assert.Equal("asked", socketA.ClosedFor);
        Assert.Equal(1, executor.SocketCount);

        executor.Shutdown();
        Assert.True(thread!.Join(TimeSpan.FromSeconds(5)));
        Assert.True(ClosedByPeer(peerB));
        Assert.Equal("the shard thread stopped", socketB.ClosedFor);

        // A socket handed over after the end is closed at once rather than left open.
        executor.Adopt(socketC);
        Assert.True(ClosedByPeer(peerC));
        Assert.NotNull(socketC.ClosedFor);
    }

    [Fact]
    public async Task Timers_fire_on_the_thread_in_due_order_after_their_delay_and_only_from_the_thread_may_one_be_armed()
    {
        var executor = new ShardThreadExecutor("test-shard-timers", "test-shard-timers", () => { }, attach: null, TimeSpan.FromMilliseconds(10));
        try
        {
            var fired = new ConcurrentQueue<(int Generation, string? Thread, long ElapsedMs)>();
            var timer = new RecordingTimer(fired);
            var started = System.Diagnostics.Stopwatch.StartNew();
            var due = new DueWindows(started);
            void Arm(int delayMs, int generation) => due.Arm(generation, delayMs, () => executor.Schedule(TimeSpan.FromMilliseconds(delayMs), timer, generation));

            await RunOnAsync(executor, () =>
            {
                timer.Clock = started;
                Arm(150, 3);
                Arm(50, 1);
                Arm(100, 2);
            });

            // The thread sleeps in ppoll with nothing queued: only the timers' own timeouts wake it.
            await WaitUntilAsync(() => fired.Count == 3);
            var list = fired.ToList();
            TestContext.Current.TestOutputHelper?.WriteLine(string.Join("; ", list.Select(f =>
                $"{f.Generation} due {due[f.Generation].Earliest:F1}-{due[f.Generation].Latest:F1} ms, fired {f.ElapsedMs} ms")));
            Assert.Equal([1, 2, 3], list.Select(f => f.Generation).Order().ToList());
            due.AssertFiredInDueOrder([.. list.Select(f => f.Generation)], grainMs: 10);

            Assert.All(list, f => Assert.Equal("test-shard-timers", f.Thread));
            // Never early (the stopwatch reads whole milliseconds, so one below the due time is the same instant).
            Assert.All(list, f => Assert.True(f.ElapsedMs >= due[f.Generation].Earliest - 1, $"{f.Generation} fired after {f.ElapsedMs} ms, due at {due[f.Generation].Earliest:F1}"));
            await RunOnAsync(executor, () => Assert.Equal(0, executor.TimerCount));

            Assert.Throws<InvalidOperationException>(() => executor.Schedule(TimeSpan.Zero, timer, 4));
        }
        finally
        {
            executor.Shutdown();
        }
    }

    // The test goes on off the shard thread (continuations run asynchronously): code after an await must not run on
    // the thread it watches, nor block it.
    private static Task RunOnAsync(ShardThreadExecutor executor, Action action)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        executor.Execute(new Work(() =>
        {
            action();
            done.SetResult();
        }));
        return done.Task.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
    }

    private sealed class RecordingTimer(ConcurrentQueue<(int Generation, string? Thread, long ElapsedMs)> fired) : IShardTimer
    {
        public System.Diagnostics.Stopwatch Clock { get; set; } = new();

        public void OnDue(int generation) => fired.Enqueue((generation, Thread.CurrentThread.Name, Clock.ElapsedMilliseconds));
    }

    // CPU clock ticks (user + system) and voluntary context switches (sleeps) of one thread of this process.
    private static (long Ticks, long Switches) ThreadUsage(int tid)
    {
        var stat = File.ReadAllText($"/proc/self/task/{tid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
        var switches = File.ReadAllLines($"/proc/self/task/{tid}/status").Single(l => l.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal));
        return (ticks, long.Parse(switches.Split(':')[1].Trim(), System.Globalization.CultureInfo.InvariantCulture));
    }

    private static bool ClosedByPeer(Socket peer)
    {
        peer.ReceiveTimeout = 5000;
        var buffer = new byte[16];
        try
        {
            return peer.Receive(buffer) == 0;
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            return true;
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>A loopback TCP connection whose one end the executor polls (as it polls reply channel connections).</summary>
    private sealed class SocketPair : IShardSocket
    {
        private readonly Socket _socket;
        private volatile string? _closeReason;
        private int _received;

        private SocketPair(Socket socket)
        {
            _socket = socket;
            _socket.Blocking = false;
            Descriptor = (int)socket.Handle;
        }

        public int Descriptor { get; }

        public string? CloseReason => _closeReason;

        public int Received => Volatile.Read(ref _received);

        public string? ReaderThread { get; private set; }

        public string? ClosedFor { get; private set; }

        public static (Socket Peer, SocketPair Polled) Open()
        {
            using var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen(1);
            var peer = new Socket(SocketType.Stream, ProtocolType.Tcp);
            peer.Connect(listener.LocalEndPoint!);
            return (peer, new SocketPair(listener.Accept()));
        }

        public void RequestClose(string reason) => _closeReason = reason;

        public string? OnReadable()
        {
            ReaderThread = Thread.CurrentThread.Name;
            var buffer = new byte[64];
            while (true)
            {
                var read = _socket.Receive(buffer, SocketFlags.None, out var error);
                if (error == SocketError.WouldBlock)
                {
                    return null;
                }

                if (error != SocketError.Success || read == 0)
                {
                    return "closed";
                }

                Interlocked.Add(ref _received, read);
            }
        }

        public void Close(string reason)
        {
            ClosedFor = reason;
            _socket.Dispose();
        }
    }

    private sealed class Work(Action action) : IRunnable
    {
        public void Run() => action();

        public void Execute() => action();
    }
}
