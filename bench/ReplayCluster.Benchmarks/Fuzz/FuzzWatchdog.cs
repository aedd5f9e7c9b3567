using System.Diagnostics;

namespace ReplayCluster.Benchmarks.Fuzz;

/// <summary>
/// Catches an input that never returns (an endless loop in a decoder), which <see cref="FuzzTally.Measure"/> cannot
/// see: a background thread checks every 200 ms how long the current input has run, and past
/// <see cref="HangLimit"/> prints the target and the input in hex to stderr and ends the process with exit code 3.
/// An input that returns after more than <see cref="FuzzTally.MaxInputTime"/> is counted as a crash by the tally.
/// </summary>
internal sealed class FuzzWatchdog : IDisposable
{
    /// <summary>How long one input may run before the run is ended as hung.</summary>
    public static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(10);

    public const int HangExitCode = 3;

    private readonly Thread _thread;
    private readonly CancellationTokenSource _stop = new();
    private readonly Action<string> _onHang;
    private long _startedTicks;
    private string _target = string.Empty;
    private byte[] _input = [];
    private int _length;
    private Func<string>? _detail;

    /// <param name="onHang">What to do with the report of a hang; null prints it and exits the process.</param>
    public FuzzWatchdog(Action<string>? onHang = null)
    {
        _onHang = onHang ?? (report =>
        {
            Console.Error.WriteLine(report);
            Environment.Exit(HangExitCode);
        });
        _thread = new Thread(Watch) { IsBackground = true, Name = "fuzz-watchdog" };
        _thread.Start();
    }

    /// <summary>The current input: <paramref name="input"/>[..<paramref name="length"/>] of <paramref name="target"/>, starting now.</summary>
    public void Begin(string target, byte[] input, int length, long startTicks)
    {
        _target = target;
        _detail = null;
        _input = input;
        _length = length;
        Volatile.Write(ref _startedTicks, startTicks);
    }

    /// <summary>What else identifies the current input (a manifest, a serializer); computed only for a hang report.</summary>
    public void Describe(Func<string> detail) => _detail = detail;

    /// <summary>The current input returned.</summary>
    public void End() => Volatile.Write(ref _startedTicks, 0);

    public void Dispose()
    {
        _stop.Cancel();
        _thread.Join();
        _stop.Dispose();
    }

    private void Watch()
    {
        while (!_stop.Token.WaitHandle.WaitOne(200))
        {
            var started = Volatile.Read(ref _startedTicks);
            if (started != 0 && Stopwatch.GetElapsedTime(started) > HangLimit)
            {
                var input = _input.AsSpan(0, Math.Min(_length, _input.Length));
                _onHang($"fuzz: HANG: {_target}{(_detail is { } detail ? $" ({detail()})" : string.Empty)}: one input ran for more than {HangLimit.TotalSeconds:F0} s: {Convert.ToHexString(input)}");
                return;
            }
        }
    }
}
