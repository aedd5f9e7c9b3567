using System.Diagnostics;

namespace ReplayCluster.Doctor;

/// <summary>Runs a host tool (ip, ethtool, nft) found on PATH or where Debian puts it, with a bounded wait.</summary>
public static class HostTool
{
    // Services often run with a minimal PATH (systemd, capabilities): look where Debian puts these tools too.
    private static readonly string[] ToolFolders = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

    /// <summary>The tool's full path, or null when it is not installed.</summary>
    public static string? Locate(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(ToolFolders)
            .Select(folder => Path.Combine(folder, tool))
            .FirstOrDefault(File.Exists);

    /// <summary>
    /// Runs <paramref name="tool"/> with <paramref name="arguments"/>, writing <paramref name="input"/> to its standard
    /// input when given; returns its exit status (-1: not installed, not startable, or still running after 10 s) and
    /// its standard output followed by its standard error.
    /// </summary>
    public static (int Exit, string Output) Run(string tool, IReadOnlyList<string> arguments, string? input = null)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var path = Locate(tool);
        if (path is null)
        {
            return (-1, $"{tool} is not installed (apt-get install {Package(tool)})");
        }

        var start = new ProcessStartInfo(path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = input is not null,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(start)!;
            if (input is not null)
            {
                process.StandardInput.Write(input);
                process.StandardInput.Close();
            }

            // Both streams are read concurrently: a tool that fills one pipe while we wait on the other would hang.
            var error = process.StandardError.ReadToEndAsync();
            var output = process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(10_000))
            {
                process.Kill();
                return (-1, $"{tool} did not finish within 10 s");
            }

            return (process.ExitCode, output + error.GetAwaiter().GetResult());
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (-1, $"{tool}: {ex.Message}");
        }
    }

    private static string Package(string tool) => tool switch
    {
        "ip" => "iproute2",
        "nft" => "nftables",
        _ => tool,
    };
}
