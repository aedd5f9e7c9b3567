using System.Net;
using System.Text.RegularExpressions;
using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Lab.Tests.Nodes;
using LabHost = ReplayCluster.Lab.Tests.Lab.Lab;

namespace ReplayCluster.Lab.Tests.Replay;

/// <summary>Two online hosts, capture nodes without -c: the coordinator gives each its own identity slice.</summary>
public sealed class IdentitySliceLabTests
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Each_capture_node_replays_from_its_own_slice_and_a_killed_nodes_slice_is_reclaimed()
    {
        await using var lab = await LabHost.StartAsync(new LabOptions { Onlines = 2 }, Cancellation);
        var launcher = new ReplayLab(lab);
        await using var coordinator = (await launcher.StartCoordinatorAsync("-c", lab.FakeRange, "--slice-prefix", "24")).Process;
        await using var intercept = await launcher.StartInterceptAsync();

        var hosts = lab.Onlines;
        var captures = hosts.Select(h => launcher.StartCapture(h)).ToList();
        try
        {
            // Each node's slice from its /readyz, once it is ready (joined, slice and plan settled, capturing).
            var slices = new List<IPNetwork>();
            foreach (var capture in captures)
            {
                await capture.WaitReadyAsync(TimeSpan.FromSeconds(45));
                slices.Add(capture.Slice ?? throw new InvalidOperationException("a ready capture node without a slice"));
            }

            Assert.NotEqual(slices[0], slices[1]);
            Assert.All(slices, s => Assert.True(IPNetwork.Parse(lab.FakeRange).Contains(s.BaseAddress)));

            foreach (var host in hosts)
            {
                var urls = Enumerable.Range(0, 10).Select(i => $"http://{host.Ip}/1k?case=slices&host={host.Index}&n={i}").ToArray();
                (await lab.ExecAsync(LabRole.Client, ["curl", "-s", "-o", "/dev/null", .. urls], TimeSpan.FromSeconds(20), Cancellation)).EnsureSuccess("curl");
            }

            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            List<AccessLogEntry> Replayed() => [.. lab.ReadAccessLog(LabRole.Target).Where(e => e.Request.Contains("case=slices", StringComparison.Ordinal))];
            while (Replayed().Count < 20 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200, Cancellation);
            }

            var replayed = Replayed();
            Assert.Equal(20, replayed.Count);
            foreach (var host in hosts)
            {
                var slice = slices[hosts.ToList().IndexOf(host)];
                var fromHost = replayed.Where(e => e.Request.Contains($"host={host.Index}&", StringComparison.Ordinal)).ToList();
                Assert.Equal(10, fromHost.Count);
                Assert.All(fromHost, e => Assert.True(slice.Contains(e.RemoteAddress), $"{e.RemoteAddress} is outside host {host.Index}'s slice {slice}"));
            }

            // A crash, not a graceful leave: the coordinator still gets the slice back.
            await captures[1].StopAsync(LabNative.SigKill);
            var reclaimed = await coordinator.WaitForLogAsync(TimeSpan.FromSeconds(60), Cancellation, "reclaimed");
            Assert.Contains(slices[1].ToString(), reclaimed, StringComparison.Ordinal);
        }
        finally
        {
            foreach (var capture in captures)
            {
                await capture.DisposeAsync();
            }
        }
    }
}
