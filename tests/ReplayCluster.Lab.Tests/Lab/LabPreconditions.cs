namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>Checks that this process can build a lab; throws (never skips) when it cannot.</summary>
public static class LabPreconditions
{
    private static readonly (string Tool, string Package)[] RequiredTools =
    [
        ("ip", "iproute2"),
        ("ss", "iproute2"),
        ("nginx", "nginx"),
        ("wrk", "wrk"),
        ("ethtool", "ethtool"),
        ("curl", "curl"),
        ("setsid", "util-linux"),
        ("bash", "bash"),
    ];

    /// <summary>Throws <see cref="LabPreconditionException"/> naming everything that is missing.</summary>
    public static void Ensure()
    {
        var problems = new List<string>();
        if (!OperatingSystem.IsLinux())
        {
            problems.Add("Linux (network namespaces)");
        }
        else if (!Environment.IsPrivilegedProcess)
        {
            problems.Add("root privileges (network namespaces need CAP_SYS_ADMIN)");
        }

        foreach (var (tool, package) in RequiredTools)
        {
            if (FindOnPath(tool) is null)
            {
                problems.Add($"'{tool}' on PATH (apt-get install {package})");
            }
        }

        if (problems.Count > 0)
        {
            throw new LabPreconditionException(
                "The lab tests cannot run; missing: " + string.Join("; ", problems) +
                ". Run them through tests/run.sh or with sudo on a machine with these packages.");
        }
    }

    /// <summary>The full path of <paramref name="tool"/> on PATH (plus the sbin directories), or null.</summary>
    public static string? FindOnPath(string tool)
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty) + ":/usr/sbin:/sbin:/usr/bin:/bin";
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
