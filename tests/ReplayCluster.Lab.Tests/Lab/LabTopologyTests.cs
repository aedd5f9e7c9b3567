using System.Diagnostics;
using System.Net;
using Xunit;

namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>The lab's topology does what the replay tests rely on: reachability, isolation, reply sink.</summary>
[Collection(LabCollection.Name)]
public sealed class LabTopologyTests(LabFixture fixture)
{
    private readonly Lab _lab = fixture.Lab;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Client_reaches_online_nginx_and_the_request_is_logged_with_the_client_address()
    {
        var probe = $"/?probe={Guid.NewGuid():N}";

        var curl = await _lab.CurlAsync($"http://{_lab.OnlineIp}:{_lab.OnlineNginxPort}{probe}", cancellationToken: Ct);

        Assert.Equal(0, curl.ExitCode);
        Assert.Equal(200, curl.HttpStatus);
        Assert.Contains("replaycluster lab", curl.Body, StringComparison.Ordinal);
        var entry = await WaitForEntryAsync(LabRole.Online, e => e.Path == probe);
        Assert.Equal(_lab.ClientIp, entry.RemoteAddress);
        Assert.Equal(200, entry.Status);
        Assert.InRange(entry.RemotePort, 1024, 65535);
    }

    [Fact]
    public async Task A_request_from_the_test_host_through_a_socket_made_in_the_client_namespace_reaches_nginx_as_the_client()
    {
        // What a node's readiness probe does (NamespaceHttp): no child process, the socket made inside the namespace.
        var probe = $"/?probe={Guid.NewGuid():N}";
        var online = new IPEndPoint(_lab.OnlineIp, _lab.OnlineNginxPort);

        var (status, body) = await NamespaceHttp.GetAsync(_lab.ClientNamespace, online, probe, TimeSpan.FromSeconds(5), Ct);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains("replaycluster lab", body, StringComparison.Ordinal);
        var entry = await WaitForEntryAsync(LabRole.Online, e => e.Path == probe);
        Assert.Equal(_lab.ClientIp, entry.RemoteAddress);

        // A port nothing listens on is refused at once, as an exception the probe turns into "not ready".
        await Assert.ThrowsAsync<HttpRequestException>(() =>
            NamespaceHttp.GetAsync(_lab.ClientNamespace, new IPEndPoint(_lab.ClientIp, 1), "/", TimeSpan.FromSeconds(5), Ct));
    }

    [Fact]
    public async Task Post_upload_is_accepted_and_its_size_is_logged()
    {
        var probe = $"/upload?probe={Guid.NewGuid():N}";
        var body = Path.Combine(_lab.Facts["WWW_DIR"], "64k");

        var curl = await _lab.CurlAsync(
            $"http://{_lab.OnlineIp}{probe}",
            extraArguments: ["--data-binary", "@" + body, "-H", "Content-Type: application/octet-stream"],
            cancellationToken: Ct);

        Assert.Equal(200, curl.HttpStatus);
        var entry = await WaitForEntryAsync(LabRole.Online, e => e.Path == probe);
        Assert.Equal("POST", entry.Method);
        Assert.Equal(65536, entry.ContentLength);
        Assert.InRange(entry.RequestLength, 65536 + 50, 65536 + 1024);
    }

    [Fact]
    public async Task Client_cannot_reach_the_target_and_no_namespace_has_a_default_route()
    {
        var watch = Stopwatch.StartNew();
        var curl = await _lab.CurlAsync($"http://{_lab.TargetIp}:{_lab.TargetNginxPort}/", TimeSpan.FromSeconds(2), cancellationToken: Ct);
        watch.Stop();

        Assert.NotEqual(0, curl.ExitCode);
        Assert.Equal(0, curl.HttpStatus);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(4), $"curl took {watch.Elapsed}");

        // The client has no route at all toward the target's subnet, and the online host does not forward.
        var clientRoute = await _lab.ExecAsync(LabRole.Client, ["ip", "route", "get", _lab.TargetIp.ToString()], cancellationToken: Ct);
        Assert.NotEqual(0, clientRoute.ExitCode);
        Assert.Equal("0", (await Sysctl(LabRole.Online, "net.ipv4.ip_forward")).Trim());
        Assert.Equal("0", (await Sysctl(LabRole.Assistant, "net.ipv4.ip_forward")).Trim());
        Assert.Equal("0", (await Sysctl(LabRole.Target, "net.ipv4.conf.all.rp_filter")).Trim());

        // Replies to the real client never go back through the online host: the target sends them to the sink.
        var targetToClient = await _lab.ExecAsync(LabRole.Target, ["ip", "route", "get", _lab.ClientIp.ToString()], cancellationToken: Ct);
        Assert.Contains($"via {_lab.AssistantIp} dev {_lab.TargetSinkInterface}", targetToClient.EnsureSuccess("ip route get").StdOut, StringComparison.Ordinal);

        foreach (var role in Enum.GetValues<LabRole>())
        {
            var routes = await _lab.ExecAsync(role, ["ip", "-4", "route", "show", "default"], cancellationToken: Ct);
            Assert.Equal(string.Empty, routes.EnsureSuccess("ip route show default").StdOut.Trim());
            var all = await _lab.ExecAsync(role, ["ip", "-4", "route", "show"], cancellationToken: Ct);
            Assert.DoesNotContain("default", all.StdOut, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Assistant_reaches_the_online_host_through_the_target_for_cluster_traffic()
    {
        var probe = $"/?control={Guid.NewGuid():N}";

        var curl = await _lab.CurlAsync($"http://{_lab.OnlineUplinkIp}{probe}", from: LabRole.Assistant, cancellationToken: Ct);

        Assert.Equal(200, curl.HttpStatus);
        var entry = await WaitForEntryAsync(LabRole.Online, e => e.Path == probe);
        Assert.Equal(_lab.AssistantIp, entry.RemoteAddress);
    }

    [Fact]
    public async Task Wrk_request_count_matches_the_lines_added_to_the_online_access_log()
    {
        const int Connections = 4;
        var before = await _lab.WaitForStableOnlineRequestCountAsync(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5), Ct);

        var wrk = await _lab.RunWrkAsync(Connections, TimeSpan.FromSeconds(2), cancellationToken: Ct);

        var after = await _lab.WaitForStableOnlineRequestCountAsync(TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(10), Ct);
        var added = after - before;
        Assert.True(wrk.Requests > 1000, $"wrk completed only {wrk.Requests} requests:\n{wrk.RawOutput}");
        Assert.Equal(0, wrk.ConnectErrors + wrk.WriteErrors + wrk.Timeouts + wrk.Non2xx3xx);
        // wrk counts completed responses; when its duration ends, up to one request per connection may have
        // been answered (and logged) by nginx but not yet read by wrk. Nothing else may differ.
        Assert.InRange(added - wrk.Requests, 0, Connections);
        var newEntries = _lab.ReadAccessLog(LabRole.Online).Skip(before).ToList();
        Assert.All(newEntries, e => Assert.Equal(_lab.ClientIp, e.RemoteAddress));
        Assert.All(newEntries, e => Assert.Equal(200, e.Status));
    }

    [Theory]
    [InlineData(LabSink.Assistant)]
    [InlineData(LabSink.Ifb)]
    public async Task Target_routes_the_fake_range_and_the_client_subnet_into_the_reply_sink(LabSink sink)
    {
        await using var lab = await Lab.StartAsync(new LabOptions { Sink = sink, FakeRange = "10.77.0.0/16" }, Ct);
        var fakeIp = IPAddress.Parse("10.77.3.4");
        var expected = sink == LabSink.Ifb
            ? $"dev {lab.SinkInterface}"
            : $"via {lab.AssistantIp} dev {lab.TargetSinkInterface}";
        Assert.Equal(sink == LabSink.Ifb ? lab.TargetNamespace : lab.AssistantNamespace, lab.SinkNamespace);

        foreach (var destination in new[] { fakeIp, lab.ClientIp })
        {
            var route = await lab.ExecAsync(LabRole.Target, ["ip", "route", "get", destination.ToString()], cancellationToken: Ct);
            Assert.Contains(expected, route.EnsureSuccess("ip route get").StdOut, StringComparison.Ordinal);
        }

        // A packet the target sends to the fake range shows up on the sink interface and never gets an answer.
        await using var tcpdump = lab.StartProcessIn(
            lab.SinkNamespace,
            ["tcpdump", "-i", lab.SinkInterface, "-n", "-l", "-c", "1", "tcp", "and", "dst", "host", fakeIp.ToString()]);
        await tcpdump.WaitForOutputAsync(l => l.Contains("listening on", StringComparison.Ordinal), TimeSpan.FromSeconds(5), Ct);

        var curl = await lab.CurlAsync($"http://{fakeIp}/", TimeSpan.FromSeconds(1), from: LabRole.Target, cancellationToken: Ct);

        Assert.NotEqual(0, curl.ExitCode);
        var seen = await tcpdump.WaitForOutputAsync(l => l.Contains($"> {fakeIp}.80", StringComparison.Ordinal), TimeSpan.FromSeconds(5), Ct);
        Assert.Contains("Flags [S]", seen, StringComparison.Ordinal);
    }

    private async Task<string> Sysctl(LabRole role, string key) =>
        (await _lab.ExecAsync(role, ["sysctl", "-n", key], cancellationToken: Ct)).EnsureSuccess("sysctl").StdOut;

    private async Task<AccessLogEntry> WaitForEntryAsync(LabRole role, Func<AccessLogEntry, bool> match)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (true)
        {
            var entry = _lab.ReadAccessLog(role).LastOrDefault(match);
            if (entry is not null)
            {
                return entry;
            }

            Assert.True(DateTime.UtcNow < deadline, $"No matching {role} access-log entry within 5 s.");
            await Task.Delay(50, Ct);
        }
    }
}
