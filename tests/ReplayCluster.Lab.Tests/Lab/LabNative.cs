using System.Runtime.InteropServices;

namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>libc calls the BCL does not offer: sending an arbitrary signal to a PID.</summary>
internal static class LabNative
{
    /// <summary>SIGKILL.</summary>
    public const int SigKill = 9;

    /// <summary>SIGTERM.</summary>
    public const int SigTerm = 15;

    /// <summary>SIGINT.</summary>
    public const int SigInt = 2;

    /// <summary>SIGSTOP (x86-64 and arm64 Linux): the process stops being scheduled until <see cref="SigCont"/>.</summary>
    public const int SigStop = 19;

    /// <summary>SIGCONT.</summary>
    public const int SigCont = 18;

    private const int Esrch = 3;

    /// <summary>Sends <paramref name="signal"/> to <paramref name="pid"/>; false when the process is gone.</summary>
    public static bool Kill(int pid, int signal)
    {
        if (pid <= 1)
        {
            // kill(0|-1|1, ...) would signal a process group, everything, or init: never.
            throw new ArgumentOutOfRangeException(nameof(pid), pid, "Refusing to signal PID <= 1.");
        }

        if (SysKill(pid, signal) == 0)
        {
            return true;
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno == Esrch ? false : throw new LabException($"kill({pid}, {signal}) failed: errno {errno}");
    }

    /// <summary>
    /// Sends <paramref name="signal"/> to the process group <paramref name="pgid"/> (a process started under
    /// <c>setsid</c>, so never the test host's own group); false when the group is gone.
    /// </summary>
    public static bool KillGroup(int pgid, int signal)
    {
        if (pgid <= 1 || pgid == Environment.ProcessId)
        {
            throw new ArgumentOutOfRangeException(nameof(pgid), pgid, "Refusing to signal this process group.");
        }

        if (SysKill(-pgid, signal) == 0)
        {
            return true;
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno == Esrch ? false : throw new LabException($"kill(-{pgid}, {signal}) failed: errno {errno}");
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SysKill(int pid, int signal);
}
