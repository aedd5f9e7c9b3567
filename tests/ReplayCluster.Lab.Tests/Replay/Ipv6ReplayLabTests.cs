using System.Net;
using ReplayCluster.Lab.Tests.Lab;

namespace ReplayCluster.Lab.Tests.Replay;

/// <summary>
/// IPv6 sessions (issue 12) on a dual-stack lab: a session is replayed in its target's family, with an identity of
/// that family. IPv6 clients of a service mapped to an IPv4 target are replayed as IPv4 clients of the node's IPv4
/// slice; toward an IPv6 target, short and keep-alive HTTP go over IPv6 from the node's IPv6 range, and the target's
/// replies come back through the intercept over IPv6 (a session that never heard them would not finish).
/// </summary>
public sealed class Ipv6ReplayLabTests
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Ipv6_clients_of_a_dual_stack_service_are_replayed_to_an_ipv4_target_as_ipv4_clients()
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

        var replayed = await WaitForTargetAsync(lab, run, 10);
        var line = await WaitForStatisticsAsync(capture, @"\brequests_delivered=10\b");
        var online = lab.ReadAccessLog(LabRole.Online).Where(e => e.Request.Contains($"run={run}&", StringComparison.Ordinal)).ToList();
        TestContext.Current.TestOutputHelper?.WriteLine($"online {online.Count} requests (5 over each family); target {replayed.Count}; {line}");
        Assert.Equal(10, online.Count);
        Assert.Equal(5, online.Count(e => e.RemoteAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6));

        // Every request once, all of them over IPv4 from the fake range: the IPv6 clients' sessions took the target's family.
        Assert.Equal(10, replayed.Select(e => e.Request).Distinct().Count());
        var fakeRange = IPNetwork.Parse(lab.FakeRange);
        Assert.All(replayed, e => Assert.True(fakeRange.Contains(e.RemoteAddress), $"{e.RemoteAddress} is not in {fakeRange}"));
        Assert.Matches(@"\bsessions_started=10\b", line);
        Assert.DoesNotMatch(@"packets_rejected=[1-9]|sessions_without_identity=[1-9]|requests_lost=[1-9]", line);
    }

    [Fact]
    public async Task Short_and_keep_alive_http_reach_an_ipv6_target_once_each_from_the_fake_ipv6_range()
    {
        await using var lab = await Lab.Lab.StartAsync(new LabOptions { Ipv6 = true }, Cancellation);
        var ipv6 = lab.Ipv6!.Onlines[0];
        var launcher = new ReplayLab(lab);
        await launcher.StartCoordinatorAsync();
        await launcher.StartInterceptAsync();
        // The node's own ranges, one per family; the lab routes its IPv6 fake /48 from the target to the reply sink.
        var fakeRange6 = IPNetwork.Parse(lab.Ipv6.FakeRange);
        var slice6 = new IPNetwork(fakeRange6.BaseAddress, 64);
        var capture = await launcher.StartCaptureAsync(args:
        [
            "-x", $"{lab.OnlineNginxPort}-[{ipv6.TargetIp}]:{lab.TargetNginxPort}",
            "-c", $"{lab.FakeRange},{slice6}",
            "--set", "replaycluster.capture.statistics-interval = 1s",
        ]);

        // The node exempts both of its ranges from the online host's conntrack (raw IPv6 sends pass the output hook
        // like IPv4 ones); a firewall rule that uses conntrack turns tracking on there, as production firewalls do.
        var ruleset = await lab.ExecAsync(LabRole.Online, ["nft", "list", "ruleset"], cancellationToken: Cancellation);
        Assert.Contains($"elements = {{ {slice6} }}", ruleset.StdOut, StringComparison.Ordinal);
        var firewall = Path.Combine(lab.StateDirectory, "firewall.nft");
        await File.WriteAllTextAsync(firewall, "table inet labfw {\n  chain input {\n    type filter hook input priority filter;\n    ct state established,related accept\n  }\n}\n", Cancellation);
        (await lab.ExecAsync(LabRole.Online, ["nft", "-f", firewall], cancellationToken: Cancellation)).EnsureSuccess("nft -f");

        var run = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));
        var url = $"http://[{ipv6.Ip}]:{lab.OnlineNginxPort}/?run={run}";
        for (var i = 0; i < 20; i++)
        {
            var shortOne = await lab.CurlAsync($"{url}&kind=short&i={i}", extraArguments: ["-g"], cancellationToken: Cancellation);
            Assert.Equal(200, shortOne.HttpStatus);
        }

        // Ten requests on one connection: curl keeps it alive between the URLs of one run.
        var keepAlive = await lab.CurlAsync($"{url}&kind=keepalive&i=9", maxTime: TimeSpan.FromSeconds(5),
            extraArguments: ["-g", .. Enumerable.Range(0, 9).Select(i => $"{url}&kind=keepalive&i={i}")], cancellationToken: Cancellation);
        Assert.Equal(200, keepAlive.HttpStatus);

        var replayed = await WaitForTargetAsync(lab, run, 30);
        var line = UniqueIdLoad.LatestStatistics(capture.Process);
        var online = lab.ReadAccessLog(LabRole.Online).Where(e => e.Request.Contains($"run={run}&", StringComparison.Ordinal)).ToList();
        TestContext.Current.TestOutputHelper?.WriteLine($"online {online.Count}; target {replayed.Count}; {line}");
        Assert.Equal(30, online.Count);

        // Once each, over IPv6, from the node's IPv6 range; the keep-alive requests on one replayed connection.
        Assert.Equal(30, replayed.Count);
        Assert.Equal(30, replayed.Select(e => e.Request).Distinct().Count());
        Assert.All(replayed, e => Assert.True(slice6.Contains(e.RemoteAddress), $"{e.RemoteAddress} is not in {slice6}"));
        Assert.Single(replayed.Where(e => e.Request.Contains("kind=keepalive", StringComparison.Ordinal)).Select(e => e.Connection).Distinct());
        Assert.Equal(20, replayed.Where(e => e.Request.Contains("kind=short", StringComparison.Ordinal)).Select(e => e.Connection).Distinct().Count());

        // The sessions heard the target over IPv6 through the intercept: they ended completed, none lost or failed.
        line = await WaitForStatisticsAsync(capture, @"\bsessions_ended=21 \(completed=21\)");
        Assert.Matches(@"\bsessions_live=0\b", line);
        Assert.Matches(@"\bsessions_ended=21 \(completed=21\)", line);
        Assert.Matches(@"\brequests_delivered=30\b", line);
        Assert.DoesNotMatch(@"packets_rejected=[1-9]|requests_lost=[1-9]|sessions_failed=[1-9]|raw_send_failed=[1-9]", line);

        // Tracking was on (the real clients' connections are in the table), the replayed flows are not.
        var tracked = await lab.ExecAsync(LabRole.Online, ["cat", "/proc/net/nf_conntrack"], cancellationToken: Cancellation);
        tracked.EnsureSuccess("cat /proc/net/nf_conntrack");
        var sources = tracked.StdOut.Split('\n')
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault(w => w.StartsWith("src=", StringComparison.Ordinal)))
            .Select(w => w is not null && IPAddress.TryParse(w[4..], out var address) ? address : null)
            .OfType<IPAddress>().ToList();
        TestContext.Current.TestOutputHelper?.WriteLine($"online host conntrack: {sources.Count} entries, {sources.Count(slice6.Contains)} from {slice6}");
        Assert.Contains(sources, a => a.Equals(ipv6.ClientIp));
        Assert.DoesNotContain(sources, slice6.Contains);
    }

    [Fact]
    public async Task Two_percent_loss_both_ways_over_ipv6_loses_no_request_and_no_reply_reaches_a_real_client()
    {
        await using var lab = await Lab.Lab.StartAsync(new LabOptions { Ipv6 = true }, Cancellation);
        var ipv6 = lab.Ipv6!.Onlines[0];
        var launcher = new ReplayLab(lab);
        await launcher.StartCoordinatorAsync();
        await launcher.StartInterceptAsync();
        var slice6 = new IPNetwork(IPNetwork.Parse(lab.Ipv6.FakeRange).BaseAddress, 64);
        var capture = await launcher.StartCaptureAsync(args:
        [
            "-x", $"{lab.OnlineNginxPort}-[{ipv6.TargetIp}]:{lab.TargetNginxPort}", "-c", slice6.ToString(),
            "--set", "replaycluster.capture.statistics-interval = 1s",
        ]);

        // Whatever the target sends must go to the reply sink: a real client never hears from the target.
        await using var witness = lab.StartProcess(LabRole.Client, ["tcpdump", "-i", lab.ClientInterface, "-n", "-l", "ip6", "and", "src", "host", ipv6.TargetIp.ToString()]);
        // 2 % of the target's IPv6 packets in and out of port 80 dropped (the inet family's tcp match takes both families).
        string[] rules =
        [
            "add table inet rcloss6",
            "add chain inet rcloss6 in { type filter hook input priority 0 ; }",
            "add chain inet rcloss6 out { type filter hook output priority 0 ; }",
            $"add rule inet rcloss6 in meta nfproto ipv6 tcp dport {lab.TargetNginxPort} numgen random mod 100 < 2 drop",
            $"add rule inet rcloss6 out meta nfproto ipv6 tcp sport {lab.TargetNginxPort} numgen random mod 100 < 2 drop",
        ];
        foreach (var rule in rules)
        {
            (await lab.ExecAsync(LabRole.Target, ["nft", .. rule.Split(' ')], cancellationToken: Cancellation)).EnsureSuccess($"nft {rule}");
        }

        var script = Path.Combine(Lab.Lab.FindRepositoryRoot(), "tests", "ReplayCluster.Lab.Tests", "Replay", "paced.lua");
        var run = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));
        foreach (var (kind, keepAlive) in new[] { ("short", false), ("keepalive", true) })
        {
            List<string> command = ["wrk", "-t1", "-c4", "-d3s", "--timeout", "2s", "-s", script];
            if (!keepAlive)
            {
                command.AddRange(["-H", "Connection: close"]);
            }

            (await lab.ExecAsync(LabRole.Client, [.. command, $"http://[{ipv6.Ip}]:{lab.OnlineNginxPort}/1k?run={run}&kind={kind}"], TimeSpan.FromSeconds(20), Cancellation))
                .EnsureSuccess("wrk");
        }

        await lab.WaitForStableOnlineRequestCountAsync(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10), Cancellation);
        var online = lab.ReadAccessLog(LabRole.Online).Where(e => e.Request.Contains($"run={run}&", StringComparison.Ordinal)).ToList();
        var replayed = await WaitForTargetAsync(lab, run, online.Count, TimeSpan.FromSeconds(40));
        var dropped = await lab.ExecAsync(LabRole.Target, ["nft", "list", "table", "inet", "rcloss6"], cancellationToken: Cancellation);
        var line = UniqueIdLoad.LatestStatistics(capture.Process);
        TestContext.Current.TestOutputHelper?.WriteLine($"online {online.Count}; target {replayed.Count}; {line}{Environment.NewLine}{dropped.StdOut}");

        foreach (var kind in new[] { "short", "keepalive" })
        {
            var onlineCount = online.Count(e => e.Request.Contains($"kind={kind}", StringComparison.Ordinal));
            Assert.True(onlineCount > 100, $"too little {kind} load: {onlineCount}");
            Assert.Equal(onlineCount, replayed.Count(e => e.Request.Contains($"kind={kind}", StringComparison.Ordinal)));
        }

        Assert.All(replayed, e => Assert.True(slice6.Contains(e.RemoteAddress), $"{e.RemoteAddress} is not in {slice6}"));
        Assert.Matches(@"\bretransmissions=[1-9]", line);
        Assert.True(witness.Lines.All(l => !l.Contains(" IP6 ", StringComparison.Ordinal)),
            "a real client received packets from the target:" + Environment.NewLine + string.Join(Environment.NewLine, witness.Lines.TakeLast(10)));
    }

    [Fact]
    public async Task A_mixed_ipv4_and_ipv6_load_on_two_hosts_replays_both_families_from_each_nodes_own_slices_of_one_plan()
    {
        await using var lab = await Lab.Lab.StartAsync(new LabOptions { Ipv6 = true, Onlines = 2 }, Cancellation);
        var launcher = new ReplayLab(lab);
        // One plan: an IPv4 and an IPv6 range, sliced together (a /24 and the /64 of the same index per node).
        var range6 = IPNetwork.Parse(lab.Ipv6!.FakeRange);
        await launcher.StartCoordinatorAsync("-c", $"{lab.FakeRange},{range6}", "--slice-prefix", "24");
        await launcher.StartInterceptAsync();
        var captures = new List<LabNode>();
        foreach (var host in lab.Onlines)
        {
            // IPv4 clients of the host's IPv4 address go to the target's IPv4 address, IPv6 clients of its IPv6 one to its IPv6 one.
            var host6 = lab.Ipv6.Onlines[host.Index - 1];
            captures.Add(await launcher.StartCaptureAsync(host,
            [
                "-x", $"{host.Ip}:{lab.OnlineNginxPort}-{host.TargetIp}:{lab.TargetNginxPort},[{host6.Ip}]:{lab.OnlineNginxPort}-[{host6.TargetIp}]:{lab.TargetNginxPort}",
                "--set", "replaycluster.capture.statistics-interval = 1s",
            ]));
        }

        var slices = captures.Select(c => $"{c.Slice},{c.Slice6}").ToList();
        Assert.All(captures, c => Assert.NotNull(c.Slice6));
        var run = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));
        const int PerClient = 150;
        var loads = lab.Onlines.SelectMany(host => new[] { (Family: 4, Address: host.Ip.ToString()), (Family: 6, Address: $"[{lab.Ipv6.Onlines[host.Index - 1].Ip}]") }
            .SelectMany(f => new[] { true, false }.Select(keepAlive =>
            {
                List<string> command = ["curl", "-sS", "--max-time", "5", "--rate", "100/s", "-o", "/dev/null"];
                if (!keepAlive)
                {
                    command.AddRange(["-H", "Connection: close"]);
                }

                command.Add($"http://{f.Address}:{lab.OnlineNginxPort}/1k?run={run}&host={host.Index}&family={f.Family}&ka={keepAlive}&n=[1-{PerClient}]");
                return lab.StartProcessIn(lab.ClientNamespace, command);
            }))).ToList();
        await Load.WaitAllAsync(loads, TimeSpan.FromSeconds(40));

        var online = lab.Onlines.SelectMany(h => lab.ReadAccessLog(h)).Where(e => e.Request.Contains($"run={run}&", StringComparison.Ordinal)).ToList();
        var replayed = await WaitForTargetAsync(lab, run, online.Count, TimeSpan.FromSeconds(30));
        var lines = captures.Select(c => UniqueIdLoad.LatestStatistics(c.Process)).ToList();
        TestContext.Current.TestOutputHelper?.WriteLine($"online {online.Count}; target {replayed.Count}; {string.Join(Environment.NewLine, slices)}{Environment.NewLine}{string.Join(Environment.NewLine, lines)}");
        Assert.Equal(lab.Onlines.Count * 2 * 2 * PerClient, online.Count);

        // Every request once; each host's sessions from its own slices, in its clients' family.
        Assert.Equal(online.Count, replayed.Count);
        Assert.Equal(online.Count, replayed.Select(e => e.Request).Distinct().Count());
        var fakeRange = IPNetwork.Parse(lab.FakeRange);
        var byHost = replayed.GroupBy(e => e.Request.Contains("host=1&", StringComparison.Ordinal) ? 1 : 2).ToDictionary(g => g.Key, g => g.ToList());
        var sources = new Dictionary<(int Host, int Family), HashSet<string>>();
        foreach (var (host, entries) in byHost)
        {
            foreach (var family in new[] { 4, 6 })
            {
                var ofFamily = entries.Where(e => e.Request.Contains($"family={family}&", StringComparison.Ordinal)).ToList();
                Assert.Equal(2 * PerClient, ofFamily.Count);
                Assert.All(ofFamily, e => Assert.Equal(family == 4 ? System.Net.Sockets.AddressFamily.InterNetwork : System.Net.Sockets.AddressFamily.InterNetworkV6, e.RemoteAddress.AddressFamily));
                Assert.All(ofFamily, e => Assert.True((family == 4 ? fakeRange : range6).Contains(e.RemoteAddress), $"{e.RemoteAddress} is not in the plan's range"));
                // The host's slice of that family: the /24 or the /64 its node was granted.
                var granted = family == 4 ? captures[host - 1].Slice!.Value : captures[host - 1].Slice6!.Value;
                Assert.All(ofFamily, e => Assert.True(granted.Contains(e.RemoteAddress), $"{e.RemoteAddress} (host {host}) is not in its node's slice {granted}"));
                sources[(host, family)] = [.. ofFamily.Select(e => SliceOf(e.RemoteAddress))];
                Assert.Single(sources[(host, family)]);
            }
        }

        // No two nodes share a slice of either family.
        Assert.NotEqual(sources[(1, 4)].Single(), sources[(2, 4)].Single());
        Assert.NotEqual(sources[(1, 6)].Single(), sources[(2, 6)].Single());
        Assert.All(lines, l => Assert.DoesNotMatch(@"sessions_without_identity=[1-9]|requests_lost=[1-9]|packets_rejected=[1-9]", l));
    }

    // The /24 of an IPv4 address, the /64 of an IPv6 one.
    private static string SliceOf(IPAddress address)
    {
        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, bytes.Length == 4 ? 3 : 8, bytes.Length == 4 ? 1 : 8);
        return new IPAddress(bytes).ToString();
    }

    // The capture node's latest statistics line once one matches pattern, or after 10 s the latest one.
    private static async Task<string> WaitForStatisticsAsync(LabNode capture, string pattern)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        var line = UniqueIdLoad.LatestStatistics(capture.Process);
        while (!System.Text.RegularExpressions.Regex.IsMatch(line, pattern) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(250, Cancellation);
            line = UniqueIdLoad.LatestStatistics(capture.Process);
        }

        return line;
    }

    // The target's entries of this run, once it has expected of them or the timeout (20 s) passed (then what it has).
    private static async Task<List<AccessLogEntry>> WaitForTargetAsync(Lab.Lab lab, string run, int expected, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        List<AccessLogEntry> replayed;
        do
        {
            await Task.Delay(200, Cancellation);
            replayed = [.. lab.ReadAccessLog(LabRole.Target).Where(e => e.Request.Contains($"run={run}&", StringComparison.Ordinal))];
        }
        while (replayed.Count < expected && DateTime.UtcNow < deadline);

        // Long enough for a duplicate, if any, to show.
        await Task.Delay(500, Cancellation);
        return [.. lab.ReadAccessLog(LabRole.Target).Where(e => e.Request.Contains($"run={run}&", StringComparison.Ordinal))];
    }
}
