using System.Collections.Concurrent;

namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>
/// Last-resort teardown: labs and processes still registered when the test host exits (normally, on SIGTERM,
/// or on Ctrl-C) are removed here, synchronously, so a failed or interrupted run leaves no namespace behind.
/// A SIGKILLed host cannot run this; <c>lab.sh down --id ID</c> cleans up after it.
/// </summary>
internal static class LabCleanup
{
    private static readonly ConcurrentDictionary<string, string> Labs = new(); // id -> lab.sh path
    private static readonly ConcurrentDictionary<LabProcess, byte> Processes = new();
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

        foreach (var (id, script) in Labs)
        {
            Down(id, script);
            Labs.TryRemove(id, out _);
        }
    }
}
