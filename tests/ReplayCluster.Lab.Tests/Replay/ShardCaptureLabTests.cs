using ReplayCluster.Lab.Tests.Lab;
using LabHost = ReplayCluster.Lab.Tests.Lab.Lab;

namespace ReplayCluster.Lab.Tests.Replay;

/// <summary>
/// The capture read by the shard threads themselves (<c>capture-on-shard-threads = on</c>: one ring per shard in a
/// PACKET_FANOUT group, no capture thread): the node says so, every request is replayed exactly once, the kernel's
/// counters are the rings' sum, and the node stops cleanly.
/// </summary>
public sealed class ShardCaptureLabTests
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    private static void Report(string line) => TestContext.Current.TestOutputHelper?.WriteLine(line);

    [Fact]
    public async Task Short_connections_read_by_the_shard_threads_are_replayed_exactly_once()
    {
        await using var lab = await LabHost.StartAsync(new LabOptions(), Cancellation);
        await using var cluster = await ReplayNodes.StartAsync(lab, lab.Onlines, ownsLab: false, "--set", "replaycluster.capture.capture-on-shard-threads = on");
        var capture = cluster.Captures[0].Process;
        Assert.Contains(capture.Lines, l => l.Contains("is read by the", StringComparison.Ordinal) && l.Contains("shard threads", StringComparison.Ordinal));

        // A client that writes its request 1 ms after connecting, from 4 connections: a few thousand sessions.
        var run = UniqueIdLoad.NewRun("fanout");
        var wrk = await UniqueIdLoad.RunShortConnectionsAsync(lab, run, connections: 4, TimeSpan.FromSeconds(3), delayMs: 1, Cancellation);
        var comparison = await UniqueIdLoad.CompareAsync(lab, run, DateTime.UtcNow, TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(40), Cancellation);
        Report($"wrk {wrk.Requests} requests; {comparison}");

        Assert.True(comparison.Online > 200, $"too little load: {comparison}");
        Assert.True(comparison is { Missing: 0, Duplicated: 0, Unknown: 0 }, comparison.ToString());

        // On SIGTERM the shard threads let go of their rings, and the node reports what the kernel counted on all of them.
        var exit = await capture.StopAsync(timeout: TimeSpan.FromSeconds(20));
        var kernel = Assert.Single(capture.Lines, l => l.Contains("Kernel capture statistics", StringComparison.Ordinal));
        Report(kernel);
        Assert.Contains("dropped=0", kernel, StringComparison.Ordinal);
        Assert.Equal(0, exit);
    }
}
