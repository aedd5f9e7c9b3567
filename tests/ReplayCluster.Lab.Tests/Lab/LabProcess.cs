using System.Diagnostics;

namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>
/// A long-running command inside a lab namespace, started as <c>setsid ip netns exec NS COMMAND...</c>.
/// Neither <c>setsid</c> (our children are not process-group leaders) nor <c>ip netns exec</c> forks: each execs
/// the next, so <see cref="Pid"/> is the command's own PID and also the id of its new process group.
/// <see cref="StopAsync"/> signals that group (the command and any children it started, e.g. the <c>sleep</c> of a
/// shell script) and escalates to SIGKILL. Output lines of both streams are kept in a thread-safe buffer.
/// </summary>
public sealed class LabProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Lock _gate = new();
    private readonly List<string> _lines = [];
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Done)> _waiters = [];
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _processExited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _exitCode;
    private int _disposed;

    private LabProcess(Process process, string @namespace, string commandLine)
    {
        _process = process;
        Namespace = @namespace;
        CommandLine = commandLine;
    }

    /// <summary>The command's PID (the same PID inside and outside the namespace: no PID namespace).</summary>
    public int Pid { get; private set; }

    /// <summary>The network namespace it runs in.</summary>
    public string Namespace { get; }

    /// <summary>The command as given, for messages.</summary>
    public string CommandLine { get; }

    /// <summary>True once the process has exited and its output is drained (or 500 ms have passed since it exited).</summary>
    public bool HasExited => _exited.Task.IsCompleted;

    /// <summary>The exit code (128 + signal when a signal ended it), or null while it runs.</summary>
    public int? ExitCode => HasExited ? _exitCode : null;

    /// <summary>Completes when the process has exited and its output is drained.</summary>
    public Task Exited => _exited.Task;

    /// <summary>A snapshot of the output so far, stdout and stderr lines interleaved as they arrived.</summary>
    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_gate)
            {
                return [.. _lines];
            }
        }
    }

    /// <summary>Starts <paramref name="command"/> inside <paramref name="namespace"/>.</summary>
    public static LabProcess Start(string @namespace, IReadOnlyList<string> command)
    {
        ArgumentException.ThrowIfNullOrEmpty(@namespace);
        if (command.Count == 0)
        {
            throw new ArgumentException("A command is required.", nameof(command));
        }

        var startInfo = new ProcessStartInfo("setsid")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        startInfo.ArgumentList.Add("ip");
        startInfo.ArgumentList.Add("netns");
        startInfo.ArgumentList.Add("exec");
        startInfo.ArgumentList.Add(@namespace);
        foreach (var argument in command)
        {
            startInfo.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        var labProcess = new LabProcess(process, @namespace, string.Join(' ', command));
        process.OutputDataReceived += (_, e) => labProcess.OnLine(e.Data, labProcess._stdoutClosed);
        process.ErrorDataReceived += (_, e) => labProcess.OnLine(e.Data, labProcess._stderrClosed);
        process.Exited += (_, _) => labProcess._processExited.TrySetResult();
        if (!process.Start())
        {
            throw new LabException($"Could not start 'ip netns exec {@namespace} {labProcess.CommandLine}'.");
        }

        labProcess.Pid = process.Id;
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _ = labProcess.WatchExitAsync();
        return labProcess;
    }

    /// <summary>
    /// Waits for an output line matching <paramref name="match"/> (lines already seen count) and returns it.
    /// Throws <see cref="TimeoutException"/> after <paramref name="timeout"/>, or <see cref="LabException"/> if
    /// the process exits first; both messages carry the output so far.
    /// </summary>
    public async Task<string> WaitForOutputAsync(Func<string, bool> match, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(match);
        var done = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            foreach (var line in _lines)
            {
                if (match(line))
                {
                    return line;
                }
            }

            _waiters.Add((match, done));
        }

        try
        {
            var finished = await Task.WhenAny(done.Task, _exited.Task, Task.Delay(timeout, cancellationToken));
            if (finished == done.Task)
            {
                return await done.Task;
            }

            cancellationToken.ThrowIfCancellationRequested();
            if (done.Task.IsCompleted)
            {
                return await done.Task;
            }

            var output = string.Join('\n', Lines.TakeLast(40));
            throw finished == _exited.Task
                ? new LabException($"'{CommandLine}' in {Namespace} exited with {ExitCode} before the expected output.\n{output}")
                : new TimeoutException($"'{CommandLine}' in {Namespace} did not print the expected output within {timeout.TotalSeconds:0.#} s.\n{output}");
        }
        finally
        {
            lock (_gate)
            {
                _waiters.RemoveAll(w => w.Done == done);
            }
        }
    }

    /// <summary>
    /// Sends <paramref name="signal"/> (SIGTERM by default) to the process group <see cref="Pid"/>, waits up to
    /// <paramref name="timeout"/> (5 s by default), then sends SIGKILL to the group. Returns the exit code.
    /// </summary>
    public async Task<int> StopAsync(int signal = LabNative.SigTerm, TimeSpan? timeout = null)
    {
        if (!HasExited)
        {
            Signal(signal);
            var finished = await Task.WhenAny(_exited.Task, Task.Delay(timeout ?? TimeSpan.FromSeconds(5)));
            if (finished != _exited.Task)
            {
                Signal(LabNative.SigKill);
                await _exited.Task.WaitAsync(TimeSpan.FromSeconds(10));
            }
        }

        return _exitCode;
    }

    /// <summary>Stops the process if it still runs (SIGTERM, then SIGKILL) and releases it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            await StopAsync();
        }
        finally
        {
            _process.Dispose();
        }
    }

    /// <summary>Synchronous last-resort kill for process-exit handlers.</summary>
    internal void KillNow()
    {
        if (!HasExited)
        {
            Signal(LabNative.SigKill);
        }
    }

    private void Signal(int signal)
    {
        // Right after Start, setsid may not have run yet, so the group does not exist: signal the PID itself.
        if (!LabNative.KillGroup(Pid, signal))
        {
            LabNative.Kill(Pid, signal);
        }
    }

    private async Task WatchExitAsync()
    {
        // The Exited event fires when the process is reaped. Its output pipes may stay open longer (a child that
        // inherited them), so wait for EOF on both only briefly.
        if (_process.HasExited)
        {
            _processExited.TrySetResult();
        }

        await _processExited.Task;
        try
        {
            await Task.WhenAll(_stdoutClosed.Task, _stderrClosed.Task).WaitAsync(TimeSpan.FromMilliseconds(500));
        }
        catch (TimeoutException)
        {
            // Keep what arrived; a straggling child is killed with the process group or by lab.sh down.
        }

        _exitCode = _process.ExitCode;
        _exited.TrySetResult();
    }

    private void OnLine(string? line, TaskCompletionSource closed)
    {
        if (line is null)
        {
            closed.TrySetResult();
            return;
        }

        List<TaskCompletionSource<string>>? matched = null;
        lock (_gate)
        {
            _lines.Add(line);
            foreach (var (match, done) in _waiters)
            {
                if (match(line))
                {
                    (matched ??= []).Add(done);
                }
            }
        }

        matched?.ForEach(done => done.TrySetResult(line));
    }
}
