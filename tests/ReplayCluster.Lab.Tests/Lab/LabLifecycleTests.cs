using Xunit;

namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>Labs disappear completely: after DisposeAsync, and when <c>lab.sh up</c> fails halfway.</summary>
public sealed class LabLifecycleTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Dispose_removes_namespaces_state_nginx_and_started_processes()
    {
        var lab = await Lab.StartAsync(new LabOptions { Onlines = 2 }, Ct);
        int[] nginxPids = [.. lab.Onlines.Select(o => o.NginxPid), lab.TargetNginxPid];
        Assert.All(nginxPids, pid => Assert.Equal("nginx", ProcessName(pid)));
        Assert.Equal(5, (await LabNamespacesAsync(lab.Id)).Count);
        var sleeper = lab.StartProcess(LabRole.Target, ["sleep", "300"]);

        await lab.DisposeAsync();

        Assert.Empty(await LabNamespacesAsync(lab.Id));
        // Killed nginx masters were orphans (lab.sh exited); PID 1 reaps them, maybe not at once: a zombie is dead.
        Assert.All(nginxPids, pid => Assert.False(IsRunningNginx(pid), $"nginx {pid} still runs"));
        Assert.True(sleeper.HasExited);
        Assert.False(Directory.Exists(lab.StateDirectory));
    }

    [Theory]
    [InlineData("bogus", null)]
    [InlineData("10.251.0.0/24", null)]
    [InlineData("10.200.0.0/16", "namespaces")]
    [InlineData("10.200.0.0/16", "links")]
    [InlineData("10.200.0.0/16", "routes")]
    [InlineData("10.200.0.0/16", "nginx")]
    public async Task Failed_up_leaves_no_namespace_or_state_behind(string fakeRange, string? failAfter)
    {
        var id = "f" + Guid.NewGuid().ToString("N")[..6];

        var error = await Assert.ThrowsAsync<LabException>(() =>
            Lab.StartAsync(new LabOptions { Id = id, FakeRange = fakeRange, InjectFailureAfter = failAfter }, Ct));

        Assert.Contains(failAfter is null ? "fake-range" : $"after step '{failAfter}'", error.Message, StringComparison.Ordinal);
        Assert.Empty(await LabNamespacesAsync(id));
        Assert.False(Directory.Exists(Path.Combine("/run/replaycluster-lab", id)));
    }

    internal static async Task<IReadOnlyList<string>> LabNamespacesAsync(string id)
    {
        var list = await CommandRunner.RunAsync("ip", ["netns", "list"], TimeSpan.FromSeconds(5), cancellationToken: Ct);
        return [.. list.EnsureSuccess("ip netns list").StdOut
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ')[0])
            .Where(n => n.StartsWith($"rc-{id}-", StringComparison.Ordinal))];
    }

    private static string? ProcessName(int pid)
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

    private static bool IsRunningNginx(int pid)
    {
        try
        {
            // /proc/PID/stat: "PID (comm) STATE ..."; Z = zombie, X = dead.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return stat.Contains("(nginx)", StringComparison.Ordinal) && state is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }
}
