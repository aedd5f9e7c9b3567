using System.Text.RegularExpressions;
using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Lab.Tests.Nodes;
using Xunit;

namespace ReplayCluster.Lab.Tests.Demo;

/// <summary>
/// The README's main command, <c>deploy/demo.sh</c>, end to end: a short keep-alive replay in its own lab, with the
/// binaries this test run built (no build inside the script), a passing report, and nothing left behind.
/// </summary>
public sealed class DemoScriptTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task Demo_replays_every_online_request_to_the_target_and_removes_its_lab(int multiplier)
    {
        LabPreconditions.Ensure();
        var root = Lab.Lab.FindRepositoryRoot();
        var id = "t" + Guid.NewGuid().ToString("N")[..6];
        var runDir = Path.Combine(Path.GetTempPath(), $"replaycluster-demo-test-{id}");
        try
        {
            // The script's nodes start as the other functional lab tests' nodes do (NodeProcesses.QuickStart).
            var result = await CommandRunner.RunAsync(
                "env",
                [
                    .. NodeProcesses.QuickStart, "bash", Path.Combine(root, "deploy", "demo.sh"),
                    "--duration", "4", "--connections", "4", "--no-build", "--multiplier", $"{multiplier}",
                    "--configuration", BuildConfiguration(), "--id", id, "--run-dir", runDir,
                ],
                TimeSpan.FromSeconds(90),
                cancellationToken: Ct);

            var output = $"exit {result.ExitCode}\nstdout:\n{result.StdOut}\nstderr:\n{result.StdErr}";
            Assert.True(result.ExitCode == 0, output);
            Assert.Contains("RESULT: PASS", result.StdOut, StringComparison.Ordinal);
            Assert.Contains("t=  1s", result.StdOut, StringComparison.Ordinal); // the live progress line
            var online = ReportCount(result.StdOut, "online requests", output);
            var target = ReportCount(result.StdOut, "target requests", output);
            Assert.True(online > 0, output);
            Assert.True(Math.Abs((online * multiplier) - target) <= online * multiplier * 0.01, output);
            Assert.Matches(@"node exit codes\s+intercept=0 capture=0 coordinator=0", result.StdOut);

            // The coordinator's run report (run start .. run stop, through its CLI) says what the access logs say.
            var (logOnline, reportOnline) = RunRow(result.StdOut, "run online", output);
            var (logReplayed, reportReplayed) = RunRow(result.StdOut, "run replayed", output);
            Assert.True(logOnline > 0, output);
            Assert.Equal(logOnline, reportOnline);
            Assert.Equal(logReplayed, reportReplayed);
            Assert.Equal(logOnline * multiplier, logReplayed);
            Assert.Contains("in flight", result.StdOut, StringComparison.Ordinal); // the progress line's coordinator fields
            Assert.DoesNotContain("DISAGREE", result.StdOut, StringComparison.Ordinal);
            Assert.Empty(await LabLifecycleTests.LabNamespacesAsync(id));
        }
        finally
        {
            // If the script failed before its own teardown, still leave nothing behind (idempotent).
            await CommandRunner.RunAsync("bash", [Path.Combine(root, "deploy", "lab", "lab.sh"), "down", "--id", id],
                TimeSpan.FromSeconds(30), cancellationToken: CancellationToken.None);
            if (Directory.Exists(runDir))
            {
                Directory.Delete(runDir, recursive: true);
            }
        }
    }

    /// <summary>Release or Debug: the configuration folder this test assembly runs from (bin/CONFIG/net10.0/).</summary>
    private static string BuildConfiguration()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        return dir.Parent?.Name is "Debug" or "Release" ? dir.Parent.Name : "Release";
    }

    /// <summary>A row of the report's run table: the access logs' count, then the coordinator's.</summary>
    private static (long Logs, long Coordinator) RunRow(string stdout, string label, string output)
    {
        var match = Regex.Match(stdout, $@"^\s+{Regex.Escape(label)}\s+(\d+)\s+(\d+)", RegexOptions.Multiline);
        Assert.True(match.Success, $"no '{label}' row in the report\n{output}");
        return (long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture),
            long.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
    }

    private static long ReportCount(string stdout, string label, string output)
    {
        var match = Regex.Match(stdout, $@"^{Regex.Escape(label)}\s+(\d+)", RegexOptions.Multiline);
        Assert.True(match.Success, $"no '{label}' line in the report\n{output}");
        return long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }
}
