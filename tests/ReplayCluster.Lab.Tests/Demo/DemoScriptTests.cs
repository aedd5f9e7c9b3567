using System.Text.RegularExpressions;
using ReplayCluster.Lab.Tests.Lab;
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
            var result = await CommandRunner.RunAsync(
                "bash",
                [
                    Path.Combine(root, "deploy", "demo.sh"),
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

    private static long ReportCount(string stdout, string label, string output)
    {
        var match = Regex.Match(stdout, $@"^{Regex.Escape(label)}\s+(\d+)", RegexOptions.Multiline);
        Assert.True(match.Success, $"no '{label}' line in the report\n{output}");
        return long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }
}
