using System.CommandLine;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Microsoft.Extensions.Logging.Abstractions;
using ReplayCluster.CommandLine;
using ReplayCluster.Configuration;
using ReplayCluster.Coordinator.Client;
using ReplayCluster.Coordinator.Http;
using ReplayCluster.Coordinator.Plans;
using ReplayCluster.Coordinator.Statistics;
using ReplayCluster.Plans;

namespace ReplayCluster.Coordinator.Tests.Http;

/// <summary>
/// The client commands (status, plan, run) against the real API: they send the token from the token file (option or
/// environment), changes as JSON, and over HTTPS they check the certificate against the CA given.
/// </summary>
public sealed class ClientCommandsSpecs() : Akka.TestKit.Xunit.TestKit(Akka.Configuration.ConfigurationFactory.ParseString("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0"))
{
    private static readonly Lock Gate = new();
    private static RootCommand? _root;

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_commands_send_the_token_from_the_token_file_and_change_the_plan_and_runs()
    {
        await using var server = await StartAsync();
        var api = server.BaseAddress.ToString().TrimEnd('/');

        var status = await RunAsync("status", "--api", api, "--token-file", server.TokenFile);
        var set = await RunAsync("plan", "set", "--copies", "3", "--api", api, "--token-file", server.TokenFile);
        var start = await RunAsync("run", "start", "--api", api, "--token-file", server.TokenFile);
        var stop = await RunAsync("run", "stop", "--api", api, "--token-file", server.TokenFile);

        Assert.True(status.Exit == 0, status.Error);
        Assert.Contains("loss ratio", status.Output, StringComparison.Ordinal);
        Assert.True(set.Exit == 0, set.Error);
        Assert.Contains("copies", set.Output, StringComparison.Ordinal);
        Assert.True(start.Exit == 0, start.Error);
        Assert.True(stop.Exit == 0, stop.Error);
        Assert.Equal(0, server.Refusals.Total);
    }

    [Fact]
    public void Status_counters_lists_every_counter_of_every_node_without_histogram_buckets()
    {
        const string Body = """
            {"nodes": [
              {"role": "capture", "address": "akka.ssl.tcp://replaycluster@10.0.0.2:4054", "counters": {"sessions_started": 12, "requests_lost_syntimeout": 1, "reply_latency_us_le_100": 3, "reply_latency_us_count": 4}},
              {"role": "intercept", "address": "akka.ssl.tcp://replaycluster@10.0.0.3:4055", "counters": {"replies_routed": 40, "messages_refused": 0}}
            ]}
            """;

        var lines = ClientCommands.CountersTable(Body).Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);

        Assert.Matches(@"^counter\s+capture 10\.0\.0\.2:4054\s+intercept 10\.0\.0\.3:4055$", lines[0]);
        Assert.Equal(["messages_refused", "replies_routed", "reply_latency_us_count", "requests_lost_syntimeout", "sessions_started"],
            lines.Skip(1).Select(l => l.Split(' ')[0]));
        Assert.Matches(@"^sessions_started\s+12\s+-$", lines[^1]);
        Assert.Matches(@"^replies_routed\s+-\s+40$", lines[2]);
    }

    [Fact]
    public async Task Without_a_readable_token_file_or_with_another_token_the_commands_fail_and_say_why()
    {
        await using var server = await StartAsync();
        var api = server.BaseAddress.ToString().TrimEnd('/');
        var missing = Path.Combine(server.Folder, "no-such-token");
        var other = Path.Combine(server.Folder, "other-token");
        await File.WriteAllTextAsync(other, ApiToken.NewTokenText(), Cancellation);

        var noFile = await RunAsync("status", "--api", api, "--token-file", missing);
        var wrong = await RunAsync("plan", "show", "--api", api, "--token-file", other);

        Assert.Equal(1, noFile.Exit);
        Assert.Contains($"cannot read the API token from {missing}", noFile.Error, StringComparison.Ordinal);
        Assert.Contains("REPLAYCLUSTER_API_TOKEN_FILE", noFile.Error, StringComparison.Ordinal);
        Assert.Equal(1, wrong.Exit);
        Assert.Contains($"the coordinator refused the token in {other} (401)", wrong.Error, StringComparison.Ordinal);
        Assert.Equal(1, server.Refusals[HttpRefusal.Token]);
    }

    [Fact]
    public async Task The_token_file_may_come_from_the_environment()
    {
        await using var server = await StartAsync();
        var api = server.BaseAddress.ToString().TrimEnd('/');
        lock (Gate)
        {
            Environment.SetEnvironmentVariable(ClientCommands.TokenFileVariable, server.TokenFile);
        }

        try
        {
            var status = await RunAsync("status", "--json", "--api", api);
            Assert.True(status.Exit == 0, status.Error);
            Assert.Contains("\"httpRefusals\"", status.Output, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(ClientCommands.TokenFileVariable, null);
        }
    }

    [Fact]
    public async Task Over_https_the_commands_trust_the_certificate_given_with_api_ca_and_nothing_else()
    {
        var folder = Directory.CreateTempSubdirectory("replaycluster-https-test-").FullName;
        try
        {
            var (certificateFile, keyFile) = SelfSigned(folder, "replaycluster api test");
            var (strangerFile, _) = SelfSigned(folder, "someone else");
            var settings = new HttpApiSettings { CertificateFile = certificateFile, KeyFile = keyFile, TokenFile = "/unused" };
            using var certificate = StatusEndpoint.LoadCertificate(settings);
            await using var server = await StartAsync(s => s with { CertificateFile = certificateFile, KeyFile = keyFile }, certificate);
            var api = $"https://127.0.0.1:{server.BaseAddress.Port}";

            var trusted = await RunAsync("status", "--api", api, "--api-ca", certificateFile, "--token-file", server.TokenFile);
            var untrusted = await RunAsync("status", "--api", api, "--token-file", server.TokenFile);
            var stranger = await RunAsync("status", "--api", api, "--api-ca", strangerFile, "--token-file", server.TokenFile);
            var plain = await RunAsync("status", "--api", $"http://127.0.0.1:{server.BaseAddress.Port}", "--token-file", server.TokenFile);

            Assert.True(trusted.Exit == 0, trusted.Error);
            Assert.Equal((1, 1, 1), (untrusted.Exit, stranger.Exit, plain.Exit));
            Assert.Equal("https", server.BaseAddress.Scheme);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void A_certificate_that_does_not_load_names_the_setting()
    {
        var folder = Directory.CreateTempSubdirectory("replaycluster-https-test-").FullName;
        try
        {
            var (certificateFile, _) = SelfSigned(folder, "a");
            var (_, otherKey) = SelfSigned(folder, "b");
            File.WriteAllText(Path.Combine(folder, "garbage.pem"), "not a pem");

            foreach (var key in new[] { otherKey, Path.Combine(folder, "garbage.pem") })
            {
                var error = Assert.Throws<NodeConfigurationException>(() =>
                    StatusEndpoint.LoadCertificate(new HttpApiSettings { CertificateFile = certificateFile, KeyFile = key }));
                Assert.StartsWith("replaycluster.coordinator.http.tls.certificate: ", error.Message, StringComparison.Ordinal);
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private Task<ApiServer> StartAsync(Func<HttpApiSettings, HttpApiSettings>? configure = null, X509Certificate2? certificate = null)
    {
        var aggregator = Sys.ActorOf(StatisticsAggregator.Props(TimeProvider.System));
        var keeper = Sys.ActorOf(ReplayPlanKeeper.Props(ReplayPlan.Empty, CreateTestProbe().Ref, NullLogger.Instance));
        return ApiServer.StartAsync(aggregator, keeper, configure, certificate);
    }

    /// <summary>A self-signed certificate for 127.0.0.1 as PEM files: (certificate, key).</summary>
    private static (string Certificate, string Key) SelfSigned(string folder, string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        var stem = Path.Combine(folder, name.Replace(' ', '-'));
        File.WriteAllText(stem + ".crt", certificate.ExportCertificatePem());
        File.WriteAllText(stem + ".key", key.ExportPkcs8PrivateKeyPem());
        return (stem + ".crt", stem + ".key");
    }

    private static async Task<(int Exit, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await Root().Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, Cancellation);
        return (exit, output.ToString(), error.ToString());
    }

    /// <summary>The coordinator's command line as Program.cs builds it.</summary>
    private static RootCommand Root()
    {
        lock (Gate)
        {
            if (_root is null)
            {
                _root = NodeCommandLine.Create(NodeRoles.Coordinator, new NodeManual { Name = "replaycluster-coordinator", Summary = "test", Description = ["test"] },
                    CoordinatorNodeHosting.Setup);
                foreach (var command in ClientCommands.Create())
                {
                    _root.Add(command);
                }
            }

            return _root;
        }
    }
}
