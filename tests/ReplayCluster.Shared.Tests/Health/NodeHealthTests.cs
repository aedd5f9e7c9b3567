using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using ReplayCluster.Configuration;
using ReplayCluster.Health;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Tests.Health;

public sealed class NodeHealthTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void Before_the_actor_system_runs_the_node_is_alive_but_not_ready()
    {
        var health = new NodeHealth("capture", [new ReadinessCheck("capture", _ => null)], new ServiceCollection().BuildServiceProvider());

        var report = health.Evaluate();

        Assert.True(health.Alive);
        Assert.False(report.Ready);
        Assert.Equal([NodeHealth.ClusterCheck, "capture"], report.Checks.Select(c => c.Name));
        Assert.Equal("actor system not started", report.Checks[0].Reason);
        Assert.True(report.Checks[1].Ready);
    }

    [Fact]
    public void One_unmet_role_check_makes_the_node_not_ready_and_says_why_in_json()
    {
        var reason = "waiting for an identity slice";
        var health = new NodeHealth("capture", [new ReadinessCheck("a", _ => null), new ReadinessCheck("b", _ => reason)],
            new ServiceCollection().BuildServiceProvider());

        using var json = JsonDocument.Parse(health.Evaluate().ToJson());

        var root = json.RootElement;
        Assert.Equal("capture", root.GetProperty("role").GetString());
        Assert.False(root.GetProperty("ready").GetBoolean());
        var b = root.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "b");
        Assert.False(b.GetProperty("ready").GetBoolean());
        Assert.Equal(reason, b.GetProperty("reason").GetString());
        var a = root.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "a");
        Assert.False(a.TryGetProperty("reason", out _));
    }

    [Fact]
    public void Known_details_are_reported_and_unknown_ones_left_out()
    {
        var health = new NodeHealth("capture", [], new ServiceCollection().BuildServiceProvider(),
            [new HealthDetail("identitySlice", _ => "10.200.3.0/24"), new HealthDetail("unknownYet", _ => null)]);

        using var json = JsonDocument.Parse(health.Evaluate().ToJson());

        var details = json.RootElement.GetProperty("details");
        Assert.Equal("10.200.3.0/24", details.GetProperty("identitySlice").GetString());
        Assert.False(details.TryGetProperty("unknownYet", out _));
        Assert.False(json.RootElement.TryGetProperty("address", out _)); // no actor system yet
    }

    [Fact]
    public void A_check_whose_service_is_missing_is_not_ready_instead_of_failing_the_probe()
    {
        var health = new NodeHealth("intercept", [new ReadinessCheck("pump", p => p.GetRequiredService<StringBuilder>().ToString())],
            new ServiceCollection().BuildServiceProvider());

        var check = health.Evaluate().Checks[1];

        Assert.False(check.Ready);
        Assert.Contains(nameof(StringBuilder), check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void The_port_is_off_unless_set_and_a_bad_one_names_its_setting()
    {
        Assert.Equal(0, HealthSettings.Read("capture", Akka.Configuration.ConfigurationFactory.Empty).Port);
        Assert.Equal(9101, HealthSettings.Read("capture", Akka.Configuration.ConfigurationFactory.ParseString("replaycluster.capture.health.port = 9101")).Port);
        var error = Assert.Throws<NodeConfigurationException>(() =>
            HealthSettings.Read("intercept", Akka.Configuration.ConfigurationFactory.ParseString("replaycluster.intercept.health.port = 70000")));
        Assert.Contains("replaycluster.intercept.health.port", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_endpoint_answers_healthz_readyz_and_nothing_else()
    {
        var ready = false;
        var health = new NodeHealth("intercept", [new ReadinessCheck("reply capture", _ => ready ? null : "not open")], new ServiceCollection().BuildServiceProvider());
        using var endpoint = new HealthEndpoint(new IPEndPoint(IPAddress.Loopback, 0), health, NullLogger<HealthEndpoint>.Instance);
        await endpoint.StartAsync(Ct);
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://{endpoint.BoundEndpoint}") };

            using var alive = await http.GetAsync(new Uri("/healthz", UriKind.Relative), Ct);
            Assert.Equal(HttpStatusCode.OK, alive.StatusCode);

            using var notReady = await http.GetAsync(new Uri("/readyz", UriKind.Relative), Ct);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, notReady.StatusCode);
            Assert.Equal("application/json", notReady.Content.Headers.ContentType?.MediaType);
            Assert.Contains("not open", await notReady.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

            using var missing = await http.GetAsync(new Uri("/metrics", UriKind.Relative), Ct);
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);

            using var post = await http.PostAsync(new Uri("/readyz", UriKind.Relative), new StringContent("x"), Ct);
            Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);

            // Still not ready: no actor system. The role check alone turning ready changes its line only.
            ready = true;
            using var json = JsonDocument.Parse(await (await http.GetAsync(new Uri("/readyz", UriKind.Relative), Ct)).Content.ReadAsStringAsync(Ct));
            Assert.True(json.RootElement.GetProperty("checks")[1].GetProperty("ready").GetBoolean());
            Assert.False(json.RootElement.GetProperty("ready").GetBoolean());
        }
        finally
        {
            await endpoint.StopAsync(Ct);
        }
    }

    [Fact]
    public async Task A_client_that_never_finishes_its_request_is_dropped_after_the_deadline_and_others_are_served()
    {
        var health = new NodeHealth("capture", [], new ServiceCollection().BuildServiceProvider());
        using var endpoint = new HealthEndpoint(new IPEndPoint(IPAddress.Loopback, 0), health, NullLogger<HealthEndpoint>.Instance);
        await endpoint.StartAsync(Ct);
        try
        {
            using var silent = new TcpClient();
            await silent.ConnectAsync(endpoint.BoundEndpoint!, Ct);
            await silent.GetStream().WriteAsync("GET /healthz HTTP/1.1\r\n"u8.ToArray(), Ct); // no end of headers

            var started = TimeProvider.System.GetTimestamp();
            using var http = new HttpClient { BaseAddress = new Uri($"http://{endpoint.BoundEndpoint}"), Timeout = TimeSpan.FromSeconds(10) };
            using var answer = await http.GetAsync(new Uri("/healthz", UriKind.Relative), Ct);
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            Assert.InRange(TimeProvider.System.GetElapsedTime(started), TimeSpan.Zero, TimeSpan.FromSeconds(5));
        }
        finally
        {
            await endpoint.StopAsync(Ct);
        }
    }

    [Fact]
    public async Task A_node_is_not_ready_until_it_joins_and_ready_once_it_has()
    {
        var healthPort = FreePorts.Next();
        var seedPort = FreePorts.Next();
        await using var capture = await InProcessNode.StartAsync(NodeRoles.Capture, new NodeConfigOverrides
        {
            Seeds = [$"127.0.0.1:{seedPort.ToString(CultureInfo.InvariantCulture)}"],
            Sets = [$"replaycluster.capture.health.port = {healthPort.ToString(CultureInfo.InvariantCulture)}"],
        });
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{healthPort.ToString(CultureInfo.InvariantCulture)}") };

        using var before = await http.GetAsync(new Uri("/readyz", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, before.StatusCode);
        Assert.Contains("not joined", await before.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/healthz", UriKind.Relative), Ct)).StatusCode);

        await using var coordinator = await InProcessNode.StartAsync(NodeRoles.Coordinator, new NodeConfigOverrides { Port = seedPort.ToString(CultureInfo.InvariantCulture) });
        var deadline = TimeProvider.System.GetTimestamp();
        HttpStatusCode status;
        do
        {
            await Task.Delay(200, Ct);
            status = (await http.GetAsync(new Uri("/readyz", UriKind.Relative), Ct)).StatusCode;
        }
        while (status != HttpStatusCode.OK && TimeProvider.System.GetElapsedTime(deadline) < TimeSpan.FromSeconds(30));

        // The bare node of this test has no role checks: joined is ready, at the address it reports.
        Assert.Equal(HttpStatusCode.OK, status);
        using var ready = JsonDocument.Parse(await http.GetStringAsync(new Uri("/readyz", UriKind.Relative), Ct));
        Assert.Equal(capture.Cluster.SelfAddress.ToString(), ready.RootElement.GetProperty("address").GetString());
    }

}
