using System.Net;
using System.Text.RegularExpressions;
using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Lab.Tests.Nodes;
using LabHost = ReplayCluster.Lab.Tests.Lab.Lab;

namespace ReplayCluster.Lab.Tests.Replay;

/// <summary>Two online hosts, capture nodes without -c: the coordinator gives each its own identity slice.</summary>
public sealed partial class IdentitySliceLabTests
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Each_capture_node_replays_from_its_own_slice_and_a_killed_nodes_slice_is_reclaimed()
    {
        await using var lab = await LabHost.StartAsync(new LabOptions { Onlines = 2 }, Cancellation);
        var seed = $"{lab.TargetIp}:4053";
        await using var coordinator = NodeProcesses.StartNode(lab, LabRole.Target, "coordinator",
            "--hostname", lab.TargetIp.ToString(), "--port", "4053", "-c", lab.FakeRange, "--slice-prefix", "24");
        await coordinator.WaitJoinedAsync(Cancellation);
        await using var intercept = NodeProcesses.StartNode(lab, LabRole.Assistant, "intercept",
            "--hostname", lab.AssistantIp.ToString(), "--seed", seed, "-i", lab.SinkInterface);

        var hosts = lab.Onlines;
        var captures = hosts.Select(h => NodeProcesses.StartNode(lab, h.Namespace, "capture",
            "--hostname", h.UplinkIp.ToString(), "--seed", seed, "-i", h.Interface, "-x", $"80-{h.TargetIp}:80")).ToList();
        try
        {
            var slices = new List<IPNetwork>();
            foreach (var capture in captures)
            {
                var line = await capture.WaitForLogAsync(TimeSpan.FromSeconds(45), Cancellation, "Using identity slice");
                slices.Add(IPNetwork.Parse(SliceInLog().Match(line).Groups["slice"].Value));
                await capture.WaitForLogAsync(TimeSpan.FromSeconds(20), Cancellation, "Capturing on");
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

    [GeneratedRegex(@"Using identity slice (?<slice>\S+)")]
    private static partial Regex SliceInLog();
}
