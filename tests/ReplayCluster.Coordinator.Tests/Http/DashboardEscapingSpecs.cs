using System.Diagnostics;
using Akka.Actor;
using Akka.TestKit;
using ReplayCluster.Coordinator.Http;
using ReplayCluster.Coordinator.Plans;
using ReplayCluster.Coordinator.Statistics;
using ReplayCluster.Plans;

namespace ReplayCluster.Coordinator.Tests.Http;

/// <summary>
/// Text that comes from the cluster (a node's self-declared role, its address, its state, plan fields) is shown as
/// text by the dashboard: markup in it never becomes elements. Checked in a real browser (headless Chromium) that
/// loads the page from the real API with its token and its Content-Security-Policy.
/// </summary>
public sealed class DashboardEscapingSpecs() : Akka.TestKit.Xunit.TestKit(Akka.Configuration.ConfigurationFactory.ParseString("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0"))
{
    private const string Chromium = "/usr/bin/chromium";
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public void The_dashboard_script_never_turns_strings_into_markup()
    {
        using var stream = typeof(HttpApi).Assembly.GetManifestResourceStream("dashboard.html")!;
        var html = new StreamReader(stream).ReadToEnd();

        foreach (var sink in new[] { "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute(\"on", " style=\"" })
        {
            Assert.DoesNotContain(sink, html, StringComparison.Ordinal);
        }

        Assert.Single(System.Text.RegularExpressions.Regex.Matches(html, "<script"));
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(html, "<style"));
    }

    [Fact]
    public async Task Markup_in_a_role_an_address_a_state_or_a_plan_field_is_shown_as_text_in_a_real_browser()
    {
        Assert.True(File.Exists(Chromium), "chromium is not installed (apt-get install chromium; deploy/install-prereqs.sh does)");
        const string Role = "<img src=x onerror=\"document.title='pwned'\">";
        const string Address = "akka.tcp://replaycluster@<b id=injected>10.0.0.9</b>:4000";
        const string State = "\"><svg onload=alert(1)>";
        const string Target = "80-<i id=plan-injected>t</i>";
        var node = new NodeStatistics(Address, Role, 10, new Dictionary<string, long> { ["requests_captured"] = 7 }, new Dictionary<string, double>(), State);
        var statistics = new ClusterStatistics([node], new Dictionary<string, long>(), 1, 1, 0);

        // The statistics and the plan as the actors would answer them: what the nodes said, unchecked.
        var aggregator = CreateTestProbe();
        aggregator.SetAutoPilot(new DelegateAutoPilot((sender, message) =>
        {
            sender.Tell(message is GetClusterStatistics ? statistics : new Status.Failure(new InvalidOperationException($"unexpected {message}")));
            return AutoPilot.KeepRunning;
        }));
        var keeper = CreateTestProbe();
        keeper.SetAutoPilot(new DelegateAutoPilot((sender, _) =>
        {
            sender.Tell(new CurrentPlan(1, new ReplayPlan { Targets = [Target] }, 1));
            return AutoPilot.KeepRunning;
        }));
        await using var server = await ApiServer.StartAsync(aggregator.Ref, keeper.Ref);

        var dom = await DumpDomAsync(new Uri(server.BaseAddress, $"/#token={server.Token}"), server.Folder);

        // The data arrived (with the token from the fragment) and shows as text.
        Assert.Contains("&lt;img src=x onerror=\"document.title='pwned'\"&gt;</td>", dom, StringComparison.Ordinal);
        Assert.Contains("&lt;b id=injected&gt;10.0.0.9&lt;/b&gt;:4000</td>", dom, StringComparison.Ordinal);
        Assert.Contains("targets 80-&lt;i id=plan-injected&gt;t&lt;/i&gt;", dom, StringComparison.Ordinal);

        // None of it became an element or ran.
        Assert.DoesNotContain("<img src=\"x\"", dom, StringComparison.Ordinal);
        Assert.DoesNotContain("<b id=\"injected\"", dom, StringComparison.Ordinal);
        Assert.DoesNotContain("<i id=\"plan-injected\"", dom, StringComparison.Ordinal);
        Assert.DoesNotContain("<svg onload=\"alert(1)\"", dom, StringComparison.Ordinal);
        Assert.DoesNotContain("pwned</title>", dom, StringComparison.Ordinal);
        Assert.Equal(0, server.Refusals.Total);
    }

    [Fact]
    public async Task Without_a_token_the_dashboard_asks_for_one_and_shows_no_data()
    {
        Assert.True(File.Exists(Chromium), "chromium is not installed (apt-get install chromium; deploy/install-prereqs.sh does)");
        await using var server = await ApiServer.StartAsync(CreateTestProbe().Ref, CreateTestProbe().Ref);

        var dom = await DumpDomAsync(server.BaseAddress, server.Folder);
        var wrong = await DumpDomAsync(new Uri(server.BaseAddress, "/#token=not-the-token-0123456789012345678901234"), server.Folder);

        // The script's source holds these texts too: the elements are what counts.
        Assert.Contains("<form id=\"login\">", dom, StringComparison.Ordinal);
        Assert.Contains("<p id=\"login-reason\">The coordinator's API needs its token.</p>", dom, StringComparison.Ordinal);
        Assert.Contains("<form id=\"login\">", wrong, StringComparison.Ordinal);
        Assert.Contains("<p id=\"login-reason\">The coordinator refused that token.</p>", wrong, StringComparison.Ordinal);
        Assert.Contains("<tbody id=\"nodes\"></tbody>", wrong, StringComparison.Ordinal);
        Assert.Equal(1, server.Refusals[HttpRefusal.Token]);
    }

    private static async Task<string> DumpDomAsync(Uri url, string folder)
    {
        var start = new ProcessStartInfo(Chromium)
        {
            ArgumentList =
            {
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", $"--user-data-dir={Path.Combine(folder, "chromium")}", "--virtual-time-budget=3000",
                "--dump-dom", url.ToString(),
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(Cancellation);
        var error = process.StandardError.ReadToEndAsync(Cancellation);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Cancellation);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        Assert.True(process.ExitCode == 0, await error);
        return await output;
    }
}
