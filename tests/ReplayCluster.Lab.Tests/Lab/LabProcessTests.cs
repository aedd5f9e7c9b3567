using Xunit;

namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>LabProcess runs commands inside a namespace under their own PID and stops them reliably.</summary>
[Collection(LabCollection.Name)]
public sealed class LabProcessTests(LabFixture fixture)
{
    private readonly Lab _lab = fixture.Lab;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Pid_is_the_commands_own_pid_inside_the_namespace_and_sigterm_stops_it()
    {
        await using var sleeper = _lab.StartProcess(LabRole.Target, ["sleep", "300"]);
        await WaitUntilAsync(() => Comm(sleeper.Pid) == "sleep");

        var identify = await CommandRunner.RunAsync("ip", ["netns", "identify", sleeper.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(5), cancellationToken: Ct);
        Assert.Equal(_lab.TargetNamespace, identify.EnsureSuccess("ip netns identify").StdOut.Trim());

        var exitCode = await sleeper.StopAsync();

        Assert.Equal(128 + LabNative.SigTerm, exitCode);
        Assert.Equal(exitCode, sleeper.ExitCode);
    }

    [Fact]
    public async Task Stop_escalates_to_sigkill_when_sigterm_is_ignored()
    {
        await using var stubborn = _lab.StartProcess(
            LabRole.Target,
            ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"]);
        await stubborn.WaitForOutputAsync(l => l == "ready", TimeSpan.FromSeconds(5), Ct);

        var exitCode = await stubborn.StopAsync(timeout: TimeSpan.FromMilliseconds(300));

        Assert.Equal(128 + LabNative.SigKill, exitCode);
    }

    [Fact]
    public async Task WaitForOutput_sees_both_streams_and_fails_clearly_on_exit_or_timeout()
    {
        await using var talker = _lab.StartProcess(LabRole.Client, ["sh", "-c", "echo out-line; echo err-line >&2; sleep 300"]);
        Assert.Equal("out-line", await talker.WaitForOutputAsync(l => l.StartsWith("out", StringComparison.Ordinal), TimeSpan.FromSeconds(5), Ct));
        Assert.Equal("err-line", await talker.WaitForOutputAsync(l => l.StartsWith("err", StringComparison.Ordinal), TimeSpan.FromSeconds(5), Ct));
        var timeout = await Assert.ThrowsAsync<TimeoutException>(() => talker.WaitForOutputAsync(l => l == "never", TimeSpan.FromMilliseconds(200), Ct));
        Assert.Contains("out-line", timeout.Message, StringComparison.Ordinal);

        await using var quitter = _lab.StartProcess(LabRole.Client, ["sh", "-c", "echo bye; exit 3"]);
        var exited = await Assert.ThrowsAsync<LabException>(() => quitter.WaitForOutputAsync(l => l == "never", TimeSpan.FromSeconds(5), Ct));
        Assert.Contains("bye", exited.Message, StringComparison.Ordinal);
        Assert.Equal(3, quitter.ExitCode);
    }

    private static string? Comm(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "Condition not met within 5 s.");
            await Task.Delay(20, Ct);
        }
    }
}
