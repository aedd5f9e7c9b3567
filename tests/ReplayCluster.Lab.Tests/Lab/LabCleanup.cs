using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>
/// Makes sure no lab outlives the test host. Two layers:
/// <list type="bullet">
/// <item>A detached <c>lab.sh guard</c> per lab (own session, not our child's pipes) that runs <c>lab.sh down</c> once
/// the test host is gone, whatever killed it, SIGKILL included. <see cref="Lab.DisposeAsync"/> stops it by PID.</item>
/// <item>Handlers for process exit, SIGTERM, SIGINT (Ctrl-C) and SIGHUP that kill registered processes and take the
/// labs down in parallel. Measured with the xUnit v3 runner: a SIGTERM ended the host without raising
/// <see cref="AppDomain.ProcessExit"/>, and the host died while a second, sequential teardown still ran; the guard
/// finishes what the handlers could not.</item>
/// </list>
/// </summary>
internal static class LabCleanup
{
    private static readonly ConcurrentDictionary<string, string> Labs = new(); // id -> lab.sh path
    private static readonly ConcurrentDictionary<LabProcess, byte> Processes = new();
    private static readonly List<PosixSignalRegistration> SignalRegistrations = [];
    private static int _hooked;

    public static void RegisterLab(string id, string script)
    {
        Hook();
        Labs[id] = script;
    }

    public static void UnregisterLab(string id) => Labs.TryRemove(id, out _);

    public static void RegisterProcess(LabProcess process)
    {
        Hook();
        Processes[process] = 0;
    }

    public static void UnregisterProcess(LabProcess process) => Processes.TryRemove(process, out _);

    /// <summary>Starts <c>setsid lab.sh guard --id ID --pid OURPID</c>; returns its PID (also its process group).</summary>
    public static int StartGuard(string id, string script)
    {
        var startInfo = new ProcessStartInfo("setsid")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[] { "bash", script, "guard", "--id", id, "--pid", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture) })
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var guard = Process.Start(startInfo) ?? throw new LabException($"Could not start the guard for lab {id}.");
        // The guard redirects its own stdio to /dev/null first thing; close our ends so it never holds our pipes.
        guard.StandardInput.Close();
        guard.StandardOutput.Close();
        guard.StandardError.Close();
        return guard.Id;
    }

    /// <summary>Stops a guard (its whole process group: bash and its sleep); never throws.</summary>
    public static void StopGuard(int pid)
    {
        try
        {
            LabNative.KillGroup(pid, LabNative.SigTerm);
        }
        catch (LabException)
        {
            // Gone already, or not ours any more: nothing to do.
        }
    }

    /// <summary>Runs <c>lab.sh down</c> for one lab, synchronously; never throws.</summary>
    public static LabExecResult? Down(string id, string script)
    {
        try
        {
            return CommandRunner.RunAsync("bash", [script, "down", "--id", id], TimeSpan.FromSeconds(30))
                .GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is LabException or TimeoutException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            Console.Error.WriteLine($"lab {id}: teardown failed: {ex.Message}");
            return null;
        }
    }

    private static void Hook()
    {
        if (Interlocked.Exchange(ref _hooked, 1) == 1)
        {
            return;
        }

        AppDomain.CurrentDomain.ProcessExit += (_, _) => TearDownAll();
        Console.CancelKeyPress += (_, _) => TearDownAll();
        foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT, PosixSignal.SIGHUP })
        {
            // The handler does not cancel: the signal's default action (ending the host) follows the teardown.
            SignalRegistrations.Add(PosixSignalRegistration.Create(signal, _ => TearDownAll()));
        }
    }

    private static void TearDownAll()
    {
        foreach (var process in Processes.Keys)
        {
            try
            {
                process.KillNow();
            }
            catch (LabException)
            {
                // Best effort: lab.sh down kills whatever is left inside the namespaces.
            }

            Processes.TryRemove(process, out _);
        }

        var downs = Labs.Select(lab => Task.Run(() =>
        {
            Down(lab.Key, lab.Value);
            Labs.TryRemove(lab.Key, out _);
        })).ToArray();
        Task.WaitAll(downs, TimeSpan.FromSeconds(30));
    }
}
