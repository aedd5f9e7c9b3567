using System.Runtime.InteropServices;
using System.Text;

namespace ReplayCluster.CommandLine;

/// <summary>
/// The GC's generation-0 allocation budget of a node: how much it allocates between two young collections, and so how
/// much memory it touches before the first one. Each node's Program calls <see cref="EnsureSet"/> first thing.
/// </summary>
/// <remarks>
/// <para>
/// Left to itself, the workstation GC sizes gen0 from the CPU's cache: on this project's lab machine (an L3 of
/// 300 MiB as its hypervisor reports it) a minimal program allocated 80 MB between two young collections, and a
/// capture node under keep-alive load grew by ~100 MB over its start. A node allocates a few MB per second at its
/// busiest, so all that buys is fewer collections of an almost empty young generation; on a production host it is
/// memory taken from the service. Measured side by side (bench/README.md, "The GC's young generation", 11
/// alternating runs): the capture node peaked at 220-250 MB at keep-alive 50 connections with the runtime's
/// budget and 141-172 MB with 4 MiB, at the same CPU per replayed request (medians 18.4 and 17.4 µs).
/// </para>
/// <para>
/// The runtime reads this setting from its environment only (<c>DOTNET_GCgen0size</c> has no runtimeconfig.json
/// name, unlike the GC's other settings), before any managed code runs. So a node started without it executes
/// itself again, at once, with the variable added: same process (same pid, so a supervisor or a test that started
/// it by pid sees no difference), same arguments, same environment otherwise. Set the variable yourself to choose
/// another budget; <c>DOTNET_GCgen0size=0</c> gives the runtime's own.
/// </para>
/// </remarks>
internal static unsafe partial class Gen0Budget
{
    /// <summary>The variable the runtime reads (hexadecimal bytes, as every DOTNET_ GC setting).</summary>
    public const string Variable = "DOTNET_GCgen0size";

    /// <summary>The same setting under the runtime's older prefix, honoured by the runtime as well.</summary>
    public const string LegacyVariable = "COMPlus_GCgen0size";

    /// <summary>4 MiB: a few hundred ms of a node's allocations at its busiest, and within a core's L2 cache.</summary>
    public const string DefaultValue = "0x400000";

    /// <summary>
    /// Returns at once when the budget is already set (or this is not Linux); otherwise replaces this process image
    /// with the same program, arguments and environment plus <see cref="Variable"/>, and returns only if that
    /// failed (the node then runs with the runtime's budget, and says so on standard error).
    /// </summary>
    public static void EnsureSet()
    {
        if (!OperatingSystem.IsLinux() || IsSet(Environment.GetEnvironmentVariable))
        {
            return;
        }

        byte[] commandLine;
        try
        {
            // The exact bytes the process was started with: no decoding, nothing lost. (Not /proc/self/environ: a
            // node given file capabilities by `deploy/publish.sh --setcap` is not dumpable, and then only root may
            // read that file, even the process itself; the environment goes through libc's own instead.)
            commandLine = File.ReadAllBytes("/proc/self/cmdline");
        }
        catch (IOException ex)
        {
            Warn(ex.Message);
            return;
        }
        catch (UnauthorizedAccessException ex)
        {
            Warn(ex.Message);
            return;
        }

        fixed (byte* name = Encoding.UTF8.GetBytes(Variable + "\0"))
        fixed (byte* value = Encoding.UTF8.GetBytes(DefaultValue + "\0"))
        {
            if (setenv(name, value, 1) != 0)
            {
                Warn($"setenv failed with errno {Marshal.GetLastPInvokeError()}");
                return;
            }
        }

        ForgetDiagnosticsSocket();

        // The executable by its own path, not /proc/self/exe: the kernel names the process after the file executed
        // (ps, pidof, systemd), and that name must stay the node's (or dotnet's).
        Execute(Encoding.UTF8.GetBytes(Environment.ProcessPath ?? "/proc/self/exe"), SplitNul(commandLine));
        Warn($"execv failed with errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Whether the runtime was given a gen0 budget (any value, 0 included: the user chose).</summary>
    internal static bool IsSet(Func<string, string?> getEnvironmentVariable) =>
        getEnvironmentVariable(Variable) is not null || getEnvironmentVariable(LegacyVariable) is not null;

    /// <summary>Splits a NUL-separated /proc list (cmdline, environ) into its entries, without their terminators.</summary>
    internal static List<byte[]> SplitNul(ReadOnlySpan<byte> list)
    {
        var entries = new List<byte[]>();
        while (!list.IsEmpty)
        {
            var end = list.IndexOf((byte)0);
            var entry = end < 0 ? list : list[..end];
            entries.Add(entry.ToArray());
            list = end < 0 ? [] : list[(end + 1)..];
        }

        return entries;
    }

    // The runtime has already bound its diagnostics socket (dotnet-counters, dotnet-trace) at
    // $TMPDIR/dotnet-diagnostic-<pid>-<start time>-socket; the descriptor closes on exec, the file would stay, and
    // the runtime after the exec (same pid, same start time, so the same name) could not bind it and would run
    // without one. Only this process's own name is removed.
    private static void ForgetDiagnosticsSocket()
    {
        try
        {
            foreach (var socket in Directory.EnumerateFiles(Path.GetTempPath(), $"dotnet-diagnostic-{Environment.ProcessId}-*-socket"))
            {
                File.Delete(socket);
            }
        }
        catch (IOException)
        {
            // Without it the node only lacks the diagnostics socket.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static void Execute(byte[] path, List<byte[]> argv)
    {
        var pinned = new List<GCHandle>();
        try
        {
            var argvPointers = Pointers(argv, pinned);
            var terminatedPath = new byte[path.Length + 1];
            path.CopyTo(terminatedPath, 0);
            fixed (byte* pathBytes = terminatedPath)
            fixed (byte** args = argvPointers)
            {
                // execv passes libc's environment, which now has the budget.
                _ = execv(pathBytes, args);
            }
        }
        finally
        {
            foreach (var handle in pinned)
            {
                handle.Free();
            }
        }
    }

    // NUL-terminated copies, pinned, and a NULL-terminated array of pointers to them, as execve(2) takes them.
    private static byte*[] Pointers(List<byte[]> entries, List<GCHandle> pinned)
    {
        var pointers = new byte*[entries.Count + 1];
        for (var i = 0; i < entries.Count; i++)
        {
            var terminated = new byte[entries[i].Length + 1];
            entries[i].CopyTo(terminated, 0);
            var handle = GCHandle.Alloc(terminated, GCHandleType.Pinned);
            pinned.Add(handle);
            pointers[i] = (byte*)handle.AddrOfPinnedObject();
        }

        return pointers;
    }

    private static void Warn(string reason) =>
        Console.Error.WriteLine($"warning: could not set {Variable}={DefaultValue} ({reason}); running with the runtime's gen0 budget");

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setenv(byte* name, byte* value, int overwrite);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int execv(byte* path, byte** argv);
}
