using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Akka.Actor;
using Microsoft.Extensions.Logging.Abstractions;
using ReplayCluster.Coordinator.Http;
using ReplayCluster.Coordinator.Plans;
using ReplayCluster.Coordinator.Statistics;
using ReplayCluster.Plans;

namespace ReplayCluster.Coordinator.Tests.Http;

/// <summary>
/// The HTTP API's guard against real HTTP requests: the token, the Host header, Origin and content type of
/// changes, the body cap, duplicate JSON keys, and the headers every answer carries.
/// </summary>
public sealed class HttpApiGuardSpecs() : Akka.TestKit.Xunit.TestKit(Akka.Configuration.ConfigurationFactory.ParseString("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0"))
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Every_api_path_needs_the_token_and_a_wrong_one_is_refused_and_counted()
    {
        await using var server = await StartAsync();
        using var anonymous = server.Client();
        using var wrong = server.Client(ApiToken.NewTokenText());
        using var right = server.Client(server.Token);

        foreach (var path in new[] { "/api/status", "/api/plan", "/api/report", "/metrics" })
        {
            using var none = await anonymous.GetAsync(path, Cancellation);
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
            Assert.Equal("Bearer realm=\"replaycluster\"", none.Headers.WwwAuthenticate.ToString());
            using var bad = await wrong.GetAsync(path, Cancellation);
            Assert.Equal(HttpStatusCode.Unauthorized, bad.StatusCode);
        }

        // A prefix of the right token, the token under another scheme, the token with a character changed.
        foreach (var header in new[] { $"Bearer {server.Token[..^1]}", $"Basic {server.Token}", $"Bearer {server.Token[..^1]}{(server.Token[^1] == 'A' ? 'B' : 'A')}" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/status");
            request.Headers.TryAddWithoutValidation("Authorization", header);
            using var answer = await anonymous.SendAsync(request, Cancellation);
            Assert.Equal(HttpStatusCode.Unauthorized, answer.StatusCode);
        }

        using (var post = await anonymous.PostAsync("/api/run/start", Json("{}"), Cancellation))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, post.StatusCode);
        }

        Assert.Equal(12, server.Refusals[HttpRefusal.Token]);
        using var status = await right.GetAsync("/api/status", Cancellation);
        Assert.Equal(HttpStatusCode.OK, status.StatusCode);
        using var json = JsonDocument.Parse(await status.Content.ReadAsStringAsync(Cancellation));
        Assert.Equal(12, json.RootElement.GetProperty("httpRefusals").GetProperty("token").GetInt64());
        Assert.Equal(0, json.RootElement.GetProperty("httpRefusals").GetProperty("host").GetInt64());

        // The scheme is case-insensitive (RFC 9110), the token is not.
        using var lower = new HttpRequestMessage(HttpMethod.Get, "/api/plan");
        lower.Headers.TryAddWithoutValidation("Authorization", $"bearer {server.Token}");
        using (var answer = await anonymous.SendAsync(lower, Cancellation))
        {
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        }

        var metrics = await right.GetStringAsync("/metrics", Cancellation);
        Assert.Contains("# TYPE replaycluster_http_refused_total counter", metrics, StringComparison.Ordinal);
        Assert.Contains("replaycluster_http_refused_total{reason=\"token\"} 12", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_dashboard_page_needs_no_token_but_carries_a_content_security_policy()
    {
        await using var server = await StartAsync();
        using var anonymous = server.Client();

        using var page = await anonymous.GetAsync("/", Cancellation);

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var csp = string.Join(", ", page.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("default-src 'none'", csp, StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);
        Assert.Contains("connect-src 'self'", csp, StringComparison.Ordinal);
        Assert.Matches("script-src 'sha256-[A-Za-z0-9+/]{43}='", csp);
        Assert.DoesNotContain("unsafe-inline", csp, StringComparison.Ordinal);
        Assert.Equal("nosniff", string.Join(",", page.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal("DENY", string.Join(",", page.Headers.GetValues("X-Frame-Options")));
        Assert.Equal(0, server.Refusals.Total);

        // The hash in the policy is the page's own script: the browser runs it (and nothing else inline).
        var html = await page.Content.ReadAsStringAsync(Cancellation);
        var script = System.Text.RegularExpressions.Regex.Match(html, "<script>(?<b>.*?)</script>", System.Text.RegularExpressions.RegexOptions.Singleline).Groups["b"].Value;
        var hash = Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(script)));
        Assert.Contains($"script-src 'sha256-{hash}'", csp, StringComparison.Ordinal);

        // The API's answers may not run or frame anything either.
        using var right = server.Client(server.Token);
        using var status = await right.GetAsync("/api/status", Cancellation);
        Assert.Equal(HttpGuard.ApiContentSecurityPolicy, string.Join(", ", status.Headers.GetValues("Content-Security-Policy")));
        Assert.Equal("nosniff", string.Join(",", status.Headers.GetValues("X-Content-Type-Options")));
    }

    [Theory]
    [InlineData("evil.example", false)]
    [InlineData("evil.example:8080", false)]
    [InlineData("127.0.0.1.nip.io", false)]
    [InlineData("10.0.0.5", false)]
    [InlineData("localhost", true)]
    [InlineData("LOCALHOST:1234", true)]
    [InlineData("127.0.0.1", true)]
    [InlineData("[::1]:8080", true)]
    [InlineData("coordinator.lab", true)]
    [InlineData("coordinator.lab.", true)]
    public async Task Only_the_coordinators_own_host_names_are_answered(string host, bool allowed)
    {
        await using var server = await StartAsync(s => s with { AllowedHosts = ["coordinator.lab"] });
        using var client = server.Client(server.Token);

        foreach (var path in new[] { "/", "/api/status" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Host = host;
            using var answer = await client.SendAsync(request, Cancellation);
            Assert.Equal(allowed ? HttpStatusCode.OK : HttpStatusCode.BadRequest, answer.StatusCode);
        }

        Assert.Equal(allowed ? 0 : 2, server.Refusals[HttpRefusal.Host]);
    }

    [Fact]
    public async Task A_change_from_another_origin_is_refused_even_with_the_token()
    {
        await using var server = await StartAsync();
        using var client = server.Client(server.Token);

        foreach (var origin in new[] { "http://evil.example", "null", $"https://{server.BaseAddress.Authority}", $"http://{server.BaseAddress.Host}:1" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Patch, "/api/plan") { Content = Json("""{"copies": 2}""") };
            request.Headers.TryAddWithoutValidation("Origin", origin);
            using var answer = await client.SendAsync(request, Cancellation);
            Assert.Equal(HttpStatusCode.Forbidden, answer.StatusCode);
        }

        Assert.Equal(4, server.Refusals[HttpRefusal.Origin]);
        Assert.Null((await PlanAsync(client)).Copies);

        // The dashboard's own origin, and no Origin at all (curl, the CLI), may change the plan.
        using (var sameOrigin = new HttpRequestMessage(HttpMethod.Patch, "/api/plan") { Content = Json("""{"copies": 2}""") })
        {
            sameOrigin.Headers.TryAddWithoutValidation("Origin", $"http://{server.BaseAddress.Authority}");
            using var answer = await client.SendAsync(sameOrigin, Cancellation);
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        }

        Assert.Equal(2, (await PlanAsync(client)).Copies);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("multipart/form-data; boundary=x")]
    [InlineData("application/jsonx")]
    public async Task A_change_that_is_not_declared_json_is_refused(string? contentType)
    {
        await using var server = await StartAsync();
        using var client = server.Client(server.Token);

        foreach (var (method, path) in new[] { (HttpMethod.Patch, "/api/plan"), (HttpMethod.Put, "/api/plan"), (HttpMethod.Post, "/api/run/start"), (HttpMethod.Delete, "/api/plan") })
        {
            using var request = new HttpRequestMessage(method, path);
            if (contentType is not null)
            {
                request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes("""{"copies": 2}"""));
                request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            }

            using var answer = await client.SendAsync(request, Cancellation);
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, answer.StatusCode);
        }

        Assert.Equal(4, server.Refusals[HttpRefusal.ContentType]);
        Assert.Null((await PlanAsync(client)).Copies);

        // With a charset parameter it is still JSON.
        using var charset = new HttpRequestMessage(HttpMethod.Patch, "/api/plan") { Content = new ByteArrayContent(Encoding.UTF8.GetBytes("""{"copies": 2}""")) };
        charset.Content.Headers.TryAddWithoutValidation("Content-Type", "Application/JSON; charset=utf-8");
        using var accepted = await client.SendAsync(charset, Cancellation);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
    }

    [Fact]
    public async Task A_body_over_64_KiB_is_refused_with_413_declared_or_chunked()
    {
        await using var server = await StartAsync();
        using var client = server.Client(server.Token);
        var padding = new string(' ', 64 * 1024);
        var big = Encoding.UTF8.GetBytes($$"""{"copies": 2 {{padding}}}""");

        using (var declared = await client.PatchAsync("/api/plan", Declared(big), Cancellation))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, declared.StatusCode);
        }

        using (var chunked = await client.PatchAsync("/api/plan", new ChunkedContent(big), Cancellation))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, chunked.StatusCode);
        }

        Assert.Null((await PlanAsync(client)).Copies);

        // Exactly 64 KiB is taken (and applied); one byte more is not. A chunked body's framing counts towards
        // Kestrel's limit too, so a chunked body a little under the cap is the one that must pass.
        var exact = Encoding.UTF8.GetBytes($$"""{"copies": 2 {{padding[..(64 * 1024 - 14)]}}}""");
        Assert.Equal(64 * 1024, exact.Length);
        using (var oneMore = await client.PatchAsync("/api/plan", Declared([.. exact, (byte)' ']), Cancellation))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, oneMore.StatusCode);
        }

        using (var accepted = await client.PatchAsync("/api/plan", Declared(exact), Cancellation))
        {
            Assert.True(accepted.StatusCode == HttpStatusCode.OK, await accepted.Content.ReadAsStringAsync(Cancellation));
        }

        Assert.Equal(2, (await PlanAsync(client)).Copies);
        using var chunkedFits = await client.PatchAsync("/api/plan", new ChunkedContent(Encoding.UTF8.GetBytes($$"""{"copies": 3 {{padding[..(64 * 1024 - 100)]}}}""")), Cancellation);
        Assert.Equal(HttpStatusCode.OK, chunkedFits.StatusCode);
        Assert.Equal(3, (await PlanAsync(client)).Copies);
        Assert.Equal(3, server.Refusals[HttpRefusal.BodyTooLarge]);
    }

    [Theory]
    [InlineData("""{"copies": 2, "copies": 9}""", "copies")]
    [InlineData("""{"samplePercent": 50, "targets": ["80-10.0.0.2:80"], "samplePercent": 100}""", "samplePercent")]
    public async Task A_body_with_a_key_twice_is_refused_naming_the_key(string body, string key)
    {
        await using var server = await StartAsync();
        using var client = server.Client(server.Token);

        using var answer = await client.PatchAsync("/api/plan", Json(body), Cancellation);

        Assert.Equal(HttpStatusCode.BadRequest, answer.StatusCode);
        using var error = JsonDocument.Parse(await answer.Content.ReadAsStringAsync(Cancellation));
        Assert.Equal($"the body has the key '{key}' more than once; give each field once", error.RootElement.GetProperty("problem").GetString());
        Assert.Equal(1, server.Refusals[HttpRefusal.DuplicateKey]);
        var plan = await PlanAsync(client);
        Assert.Equal((null, null), (plan.Copies, plan.SamplePercent));
    }

    [Fact]
    public async Task Run_start_and_stop_work_with_the_token_and_a_json_content_type()
    {
        await using var server = await StartAsync();
        using var client = server.Client(server.Token);

        using var start = await client.PostAsync("/api/run/start", Json(string.Empty), Cancellation);
        Assert.Equal(HttpStatusCode.OK, start.StatusCode);
        using var stop = await client.PostAsync("/api/run/stop", Json(string.Empty), Cancellation);
        Assert.Equal(HttpStatusCode.OK, stop.StatusCode);
        Assert.Equal(0, server.Refusals.Total);
    }

    private Task<ApiServer> StartAsync(Func<HttpApiSettings, HttpApiSettings>? configure = null)
    {
        var aggregator = Sys.ActorOf(StatisticsAggregator.Props(TimeProvider.System));
        var keeper = Sys.ActorOf(ReplayPlanKeeper.Props(ReplayPlan.Empty, CreateTestProbe().Ref, NullLogger.Instance));
        return ApiServer.StartAsync(aggregator, keeper, configure);
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static ByteArrayContent Declared(byte[] body) => new(body) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } };

    private static async Task<ReplayPlan> PlanAsync(HttpClient client)
    {
        using var json = JsonDocument.Parse(await client.GetStringAsync("/api/plan", Cancellation));
        var plan = json.RootElement.GetProperty("plan");
        return new ReplayPlan
        {
            Copies = plan.GetProperty("copies").ValueKind == JsonValueKind.Number ? plan.GetProperty("copies").GetInt32() : null,
            SamplePercent = plan.GetProperty("samplePercent").ValueKind == JsonValueKind.Number ? plan.GetProperty("samplePercent").GetDouble() : null,
        };
    }

    /// <summary>A JSON body sent chunked: no Content-Length for the server to check up front.</summary>
    private sealed class ChunkedContent : HttpContent
    {
        private readonly byte[] _body;

        public ChunkedContent(byte[] body)
        {
            _body = body;
            Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(_body).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
