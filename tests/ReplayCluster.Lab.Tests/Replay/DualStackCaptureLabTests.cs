using System.Globalization;
using System.Text.RegularExpressions;
using ReplayCluster.Lab.Tests.Lab;

namespace ReplayCluster.Lab.Tests.Replay;

/// <summary>
/// A dual-stack service (issue 12, until sessions replay IPv6): its IPv4 clients are replayed as before, and its IPv6
/// clients, which the capture filter (TCP ports, both families) lets through, are counted and named as not replayed
/// instead of being lost among parse rejects. Nothing reaches the target over IPv6.
/// </summary>
public sealed partial class DualStackCaptureLabTests
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Ipv6_clients_of_a_dual_stack_service_are_counted_and_named_as_not_replayed_while_ipv4_clients_are_replayed()
    {
        await using var lab = await Lab.Lab.StartAsync(new LabOptions { Ipv6 = true }, Cancellation);
        var ipv6 = lab.Ipv6!.Onlines[0];
        var launcher = new ReplayLab(lab);
        await launcher.StartCoordinatorAsync("-c", lab.FakeRange, "--slice-prefix", "24");
        await launcher.StartInterceptAsync();
        var capture = await launcher.StartCaptureAsync(args: ["--set", "replaycluster.capture.statistics-interval = 1s"]);

        var run = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));
        for (var i = 0; i < 5; i++)
        {
            var overIpv4 = await lab.CurlAsync($"http://{lab.OnlineIp}:{lab.OnlineNginxPort}/?run={run}&family=4&i={i}", cancellationToken: Cancellation);
            Assert.Equal(200, overIpv4.HttpStatus);
            var overIpv6 = await lab.CurlAsync($"http://[{ipv6.Ip}]:{lab.OnlineNginxPort}/?run={run}&family=6&i={i}", extraArguments: ["-g"], cancellationToken: Cancellation);
            Assert.Equal(200, overIpv6.HttpStatus);
        }

        // The IPv4 requests reach the target; wait for them, then for a statistics line that counted the IPv6 packets.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        List<AccessLogEntry> replayed;
        do
        {
            await Task.Delay(200, Cancellation);
            replayed = [.. lab.ReadAccessLog(LabRole.Target).Where(e => e.Request.Contains($"run={run}&", StringComparison.Ordinal))];
        }
        while (replayed.Count < 5 && DateTime.UtcNow < deadline);

        long notReplayed;
        string line;
        do
        {
            await Task.Delay(300, Cancellation);
            line = UniqueIdLoad.LatestStatistics(capture.Process);
            var m = Ipv6Counter().Match(line);
            notReplayed = m.Success ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        }
        while (notReplayed < 5 * 3 && DateTime.UtcNow < deadline);

        var online = lab.ReadAccessLog(LabRole.Online).Count(e => e.Request.Contains($"run={run}&", StringComparison.Ordinal));
        TestContext.Current.TestOutputHelper?.WriteLine($"online {online} requests (5 over each family); target {replayed.Count}; {line}");
        Assert.Equal(10, online);
        Assert.Equal(5, replayed.Count);
        Assert.All(replayed, e => Assert.Contains("family=4", e.Request, StringComparison.Ordinal));

        // Each IPv6 connection's client packets (SYN, request, ACKs, FIN) were captured and counted, not parse-rejected,
        // and the node said why once.
        Assert.True(notReplayed >= 5 * 3, $"packets_ipv6_not_replayed={notReplayed} after 5 IPv6 connections: {line}");
        var warning = capture.Process.Lines.Where(l => l.Contains("IPv6 traffic to a replayed port is captured but not replayed", StringComparison.Ordinal)).ToList();
        Assert.Single(warning);
        Assert.Contains($"> [{ipv6.Ip}]:{lab.OnlineNginxPort}", warning[0], StringComparison.Ordinal);
        Assert.DoesNotMatch(@"packets_rejected=[1-9]", line);
    }

    [GeneratedRegex(@"\bpackets_ipv6_not_replayed=(\d+)")]
    private static partial Regex Ipv6Counter();
}
