using System.Diagnostics;

namespace ReplayCluster.Tests.PacketIO;

/// <summary>Runs the real packet tools (tcpdump, ip, editcap) from tests.</summary>
internal static class ExternalProcess
{
    public static bool IsRoot => Environment.UserName == "root";

    /// <summary>
    /// Fails (never skips) a test that cannot run here, saying what is missing and how to get it:
    /// a test that silently passes or skips without root or a tool would hide a broken machine.
    /// </summary>
    public static void Require(bool condition, string missing)
    {
        if (!condition)
        {
            Assert.Fail($"Cannot run: {missing}. Run the suite with `sudo tests/run.sh`, which installs the prerequisites.");
        }
    }

    public static bool Exists(string tool) =>
        Environment.GetEnvironmentVariable("PATH")!.Split(':').Any(dir => File.Exists(Path.Combine(dir, tool)));

    /// <summary>Runs a command to completion and returns its output; throws with stderr when it fails.</summary>
    public static string Run(string fileName, params string[] arguments) => Run(TimeSpan.FromSeconds(60), fileName, arguments);

    public static string Run(TimeSpan timeout, string fileName, params string[] arguments)
    {
        var result = TryRun(timeout, fileName, arguments);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"{fileName} {string.Join(' ', arguments)} exited with {result.ExitCode}: {result.StandardError}");
        }

        return result.StandardOutput;
    }

    public static (int ExitCode, string StandardOutput, string StandardError) TryRun(TimeSpan timeout, string fileName, params string[] arguments)
    {
        using var process = Start(fileName, arguments);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', arguments)} did not finish within {timeout}");
        }

        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Starts a long-running process; the caller must stop it by PID (<see cref="StopByPid"/>).</summary>
    public static Process Start(string fileName, params string[] arguments)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        return Process.Start(info) ?? throw new InvalidOperationException($"could not start {fileName}");
    }

    /// <summary>Stops a process this test started: SIGTERM first (so tcpdump flushes), then SIGKILL.</summary>
    public static void StopByPid(Process process)
    {
        if (process.HasExited)
        {
            return;
        }

        TryRun(TimeSpan.FromSeconds(5), "kill", "-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (!process.WaitForExit(TimeSpan.FromSeconds(5)))
        {
            process.Kill();
            process.WaitForExit();
        }
    }
}
