using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace ReplayCluster.PacketIO;

/// <summary>
/// Runs code inside a named Linux network namespace (one created by <c>ip netns add NAME</c>) without a child process.
/// </summary>
/// <remarks>
/// <para>
/// <c>setns(2)</c> with <c>CLONE_NEWNET</c> switches only the calling thread, so the code runs on a fresh dedicated
/// thread that enters the namespace and then ends: no pooled thread is ever left in a foreign namespace.
/// Sockets and pcap handles keep the namespace they were created in, so the usual pattern is to create them with
/// <see cref="RunIn{T}(string, Func{T})"/> and use them from any thread afterwards.
/// </para>
/// <para>
/// Needs CAP_SYS_ADMIN. Beware of APIs that answer from /proc/self/net or cached state: those describe the
/// process's (main thread's) namespace, not the switched thread's.
/// </para>
/// </remarks>
internal static class NetworkNamespace
{
    private const string NetnsDirectory = "/var/run/netns";

    /// <summary>True if <c>ip netns</c> knows a namespace called <paramref name="name"/>.</summary>
    public static bool Exists(string name) => File.Exists(PathOf(name));

    /// <summary>Runs <paramref name="body"/> on a new thread inside namespace <paramref name="name"/> and returns its result.</summary>
    /// <exception cref="IOException">The namespace does not exist or could not be entered.</exception>
    public static T RunIn<T>(string name, Func<T> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        T result = default!;
        ExceptionDispatchInfo? failure = null;
        using var handle = OpenNamespace(name);
        var thread = new Thread(() =>
        {
            try
            {
                Enter(handle, name);
                result = body();
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
        })
        {
            IsBackground = true,
            Name = $"netns {name}",
        };
        thread.Start();
        thread.Join();
        failure?.Throw();
        return result;
    }

    /// <summary>Runs <paramref name="body"/> on a new thread inside namespace <paramref name="name"/> and waits for it.</summary>
    public static void RunIn(string name, Action body)
    {
        ArgumentNullException.ThrowIfNull(body);
        RunIn<object?>(name, () =>
        {
            body();
            return null;
        });
    }

    /// <summary>
    /// Starts a background thread that enters namespace <paramref name="name"/> and then runs <paramref name="body"/>.
    /// Returns once the thread is inside the namespace; throws here if it could not get in.
    /// </summary>
    /// <remarks><paramref name="body"/> must handle its own exceptions: an unhandled one ends the process, as on any thread.</remarks>
    public static Thread StartThreadIn(string name, Action body, string? threadName = null)
    {
        ArgumentNullException.ThrowIfNull(body);
        using var entered = new ManualResetEventSlim();
        ExceptionDispatchInfo? failure = null;
        var handle = OpenNamespace(name);
        var thread = new Thread(() =>
        {
            try
            {
                using (handle)
                {
                    Enter(handle, name);
                }
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
                return;
            }
            finally
            {
                entered.Set();
            }

            body();
        })
        {
            IsBackground = true,
            Name = threadName ?? $"netns {name}",
        };
        thread.Start();
        entered.Wait();
        failure?.Throw();
        return thread;
    }

    private static string PathOf(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Contains('/', StringComparison.Ordinal) || name is "." or "..")
        {
            throw new ArgumentException($"'{name}' is not a network namespace name", nameof(name));
        }

        return Path.Combine(NetnsDirectory, name);
    }

    private static SafeFileHandle OpenNamespace(string name)
    {
        var path = PathOf(name);
        try
        {
            return File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        }
        catch (FileNotFoundException e)
        {
            throw new IOException($"network namespace '{name}' does not exist ({path} not found)", e);
        }
    }

    private static void Enter(SafeFileHandle handle, string name)
    {
        if (LibC.setns((int)handle.DangerousGetHandle(), LibC.CloneNewNet) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"setns into network namespace '{name}' failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }
    }
}
