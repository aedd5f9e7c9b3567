using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Akka.Actor;
using Akka.TestKit;
using ReplayCluster.Coordinator.Plans;
using ReplayCluster.Coordinator.Statistics;
using ReplayCluster.Plans;
using ReplayCluster.Statistics;

namespace ReplayCluster.Coordinator.Tests.Http;

/// <summary>
/// The dashboard read as a user reads it, in a real browser (headless Chromium over the DevTools protocol) against the
/// real API: every chart has a value axis with its unit and nice ticks scaled to the data, a clock-time axis and a
/// legend that gives the values of the sample under the pointer; the numbers shown are those /api/status served.
/// </summary>
public sealed partial class DashboardChartsSpecs() : Akka.TestKit.Xunit.TestKit(Akka.Configuration.ConfigurationFactory.ParseString("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0"))
{
    private const string Capture = "akka.tcp://replaycluster@10.0.0.11:4000";

    private static readonly Dictionary<string, string> Units = new()
    {
        ["rate-chart"] = "requests/s", ["flight-chart"] = "requests", ["behind-chart"] = "seconds", ["loss-chart"] = "% of captured", ["latency-chart"] = "ms",
    };

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Charts_have_scaled_axes_and_hover_values_and_the_numbers_are_those_of_the_status_api()
    {
        Assert.True(File.Exists(DevToolsBrowser.Chromium), "chromium is not installed (apt-get install chromium; deploy/install-prereqs.sh does)");

        // Every /api/status answer is a new sample, in the order served (the page polls one at a time).
        var served = new List<ClusterStatistics>();
        var aggregator = CreateTestProbe();
        aggregator.SetAutoPilot(new DelegateAutoPilot((sender, message) =>
        {
            lock (served)
            {
                served.Add(Sample(served.Count));
                sender.Tell(served[^1]);
            }

            return AutoPilot.KeepRunning;
        }));
        var keeper = CreateTestProbe();
        keeper.SetAutoPilot(new DelegateAutoPilot((sender, _) =>
        {
            sender.Tell(new CurrentPlan(1, new ReplayPlan(), 1));
            return AutoPilot.KeepRunning;
        }));
        await using var server = await ApiServer.StartAsync(aggregator.Ref, keeper.Ref);
        await using var browser = await DevToolsBrowser.StartAsync(1280, 1400, Cancellation);
        await browser.NavigateAsync(new Uri(server.BaseAddress, $"/#token={server.Token}"), Cancellation);

        // Six samples, so the lines have a shape (one of them stalled: no estimate of behind, a gap in its line).
        JsonElement page = default;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline && (page.ValueKind != JsonValueKind.Object || SamplesOf(page) < 6))
        {
            await Task.Delay(300, Cancellation);
            page = await browser.EvaluateAsync(ReadPage, Cancellation);
        }

        var n = SamplesOf(page);
        Assert.True(n >= 6, $"the page rendered {n} samples in 30 s: {page}");
        List<ClusterStatistics> shown;
        lock (served)
        {
            shown = served.Take(n).ToList();
        }

        var latest = shown[^1];
        AssertNumbers(page, latest);
        foreach (var chart in page.GetProperty("charts").EnumerateArray())
        {
            AssertAxes(chart, shown);
        }

        // Not hovering: the legend says the latest values.
        var rate = Chart(page, "rate-chart");
        Assert.StartsWith("now (", Legend(rate)[^1], StringComparison.Ordinal);
        Assert.Equal(latest.OnlineRequestRate, LegendValue(rate, "online"), latest.OnlineRequestRate * 0.005);
        Assert.Equal(latest.ReplayedRequestRate, LegendValue(rate, "replayed"), latest.ReplayedRequestRate * 0.005);
        Assert.Equal(latest.RequestsInFlight, LegendValue(Chart(page, "flight-chart"), "in flight"));

        // Hovering the second sample of the rate chart: a crosshair, and the legend gives the values of the sample under
        // it. The chart moves left as samples arrive (1/30 of its width a second), so on a busy machine the pointer may
        // arrive over a later sample than the one it aimed at; the crosshair and the legend read in one go must agree.
        var box = await browser.EvaluateAsync("(() => { const b = document.getElementById('rate-chart').getBoundingClientRect(); return [b.left, b.top, b.width, b.height]; })()", Cancellation);
        var (left, top, width, height) = (box[0].GetDouble(), box[1].GetDouble(), box[2].GetDouble(), box[3].GetDouble());
        var secondX = Points(Path(rate, "online"))[1].X;
        await browser.MoveMouseAsync(left + (secondX / 600 * width), top + (height / 2), Cancellation);
        var hovered = Chart(await browser.EvaluateAsync(ReadPage, Cancellation), "rate-chart");
        var legend = Legend(hovered);
        Assert.Matches(@"^at \d\d:\d\d:\d\d$", legend[^1]);
        Assert.Equal(1, hovered.GetProperty("crosshairs").GetInt32());
        var crossX = hovered.GetProperty("crossX").GetDouble();
        var onlinePoints = Points(Path(hovered, "online"));
        var sample = onlinePoints.FindIndex(p => Math.Abs(p.X - crossX) < 0.1); // the path's x is rounded to 0.1
        Assert.True(sample >= 1, $"the crosshair at x={crossX} is on no sample from the second on: {Path(hovered, "online")}");
        List<ClusterStatistics> servedNow;
        lock (served)
        {
            servedNow = [.. served];
        }

        Assert.Equal(servedNow[sample].OnlineRequestRate, LegendValue(hovered, "online"), servedNow[sample].OnlineRequestRate * 0.005);
        Assert.Equal(servedNow[sample].ReplayedRequestRate, LegendValue(hovered, "replayed"), servedNow[sample].ReplayedRequestRate * 0.005);
        Assert.Equal(2, hovered.GetProperty("dots").GetInt32());
        if (Environment.GetEnvironmentVariable("REPLAYCLUSTER_KEEP_SCREENSHOT") is { Length: > 0 } keep)
        {
            await browser.ScreenshotAsync(keep, Cancellation);
        }

        // The pointer gone, the legend is back to now.
        await browser.MoveMouseAsync(2, 2, Cancellation);
        var away = Chart(await browser.EvaluateAsync(ReadPage, Cancellation), "rate-chart");
        Assert.StartsWith("now (", Legend(away)[^1], StringComparison.Ordinal);
        Assert.Equal(0, away.GetProperty("crosshairs").GetInt32());
    }

    /// <summary>The cards and the capture node's row say what the status the page rendered last says.</summary>
    private static void AssertNumbers(JsonElement page, ClusterStatistics status)
    {
        var cards = page.GetProperty("cards");
        string Card(string id) => cards.GetProperty(id).GetString()!;
        Assert.Equal(status.OnlineRequestRate.ToString("F1", CultureInfo.InvariantCulture), Card("online-rate"));
        Assert.Equal(status.ReplayedRequestRate.ToString("F1", CultureInfo.InvariantCulture), Card("replayed-rate"));
        Assert.Equal(status.RequestsInFlight.ToString(CultureInfo.InvariantCulture), Card("in-flight"));
        AssertBehind(status.BehindSeconds, Card("behind"), " s");
        Assert.Equal(status.RequestsLost.ToString(CultureInfo.InvariantCulture), Card("lost"));
        Assert.Equal(status.RequestsLostByReason.Select(r => $"{r.Key}: {r.Value}").Order(StringComparer.Ordinal),
            page.GetProperty("lostByReason").EnumerateArray().Select(r => r.GetString()!).Order(StringComparer.Ordinal));
        Assert.Equal(status.LossRatio.ToString("F6", CultureInfo.InvariantCulture), Card("loss-ratio"));
        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"{status.ReplyLatency!.Recent.P99Ms:F2} ms"), Card("latency-p99"));
        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"{status.CaptureLatency!.Recent.P99Ms:F3} ms"), Card("capture-p99"));

        var node = status.Nodes.Single(n => n.Role == "capture");
        var row = page.GetProperty("rows").EnumerateArray().Single(r => r[0].GetString() == "capture");
        Assert.Equal("10.0.0.11:4000", row[1].GetString());
        Assert.Equal(node.Rates["requests_delivered"].ToString("F1", CultureInfo.InvariantCulture), row[3].GetString());
        Assert.Equal(node.RequestsInFlight!.Value.ToString(CultureInfo.InvariantCulture), row[4].GetString());
        AssertBehind(node.BehindSeconds, row[5].GetString()!, string.Empty);
        Assert.Equal(node.RequestsLost!.Value.ToString(CultureInfo.InvariantCulture), row[6].GetString());
        Assert.Equal(node.Counters["requests_captured"].ToString(CultureInfo.InvariantCulture), row[8].GetString());
        Assert.Equal(node.Counters["requests_delivered"].ToString(CultureInfo.InvariantCulture), row[9].GetString());
        Assert.Equal(string.Join(", ", node.RequestsLostByReason!.OrderByDescending(r => r.Value).Select(r => $"{r.Key}: {r.Value}")), page.GetProperty("lostTitle").GetString());
    }

    private static void AssertBehind(double? behind, string shown, string unit)
    {
        if (behind is null)
        {
            Assert.Equal("no progress", shown);
            return;
        }

        var match = Regex.Match(shown, $@"^(?<v>\d+(\.\d+)?){unit}$");
        Assert.True(match.Success, $"behind shows '{shown}'");
        Assert.Equal(behind.Value, double.Parse(match.Groups["v"].Value, CultureInfo.InvariantCulture), 0.01);
    }

    /// <summary>A value axis from 0 in nice even steps to a tick above the largest value, with its unit; clock-time ticks; lines within.</summary>
    private static void AssertAxes(JsonElement chart, List<ClusterStatistics> shown)
    {
        var id = chart.GetProperty("id").GetString()!;
        Assert.Equal(Units[id], chart.GetProperty("yTitle").GetString());
        var ticks = chart.GetProperty("yTicks").EnumerateArray().Select(t => (Value: TickValue(t.GetProperty("text").GetString()!), Y: t.GetProperty("y").GetDouble())).ToList();
        Assert.True(ticks.Count >= 3, $"{id}: {ticks.Count} value ticks");
        Assert.Equal(0, ticks[0].Value);
        var step = ticks[1].Value - ticks[0].Value;
        var mantissa = step / Math.Pow(10, Math.Floor(Math.Log10(step) + 1e-9));
        Assert.Contains(Math.Round(mantissa, 6), new[] { 1.0, 2.0, 5.0 });
        for (var i = 1; i < ticks.Count; i++)
        {
            Assert.Equal(step, ticks[i].Value - ticks[i - 1].Value, step * 1e-6);
            Assert.Equal(ticks[1].Y - ticks[0].Y, ticks[i].Y - ticks[i - 1].Y, 0.5);
        }

        // Auto-scaled: the top tick above every value drawn, but within a step and a tenth of the largest.
        var max = shown.SelectMany(s => Values(id, s)).Max();
        var topTick = ticks[^1];
        Assert.True(topTick.Value > max && topTick.Value <= (max * 1.1) + step + 1e-9, $"{id}: top tick {topTick.Value} for a largest value {max}");

        // Each line's points sit where the axis says their values are, none on the top edge.
        double ValueAt(double y) => (ticks[0].Y - y) / (ticks[0].Y - topTick.Y) * topTick.Value;
        foreach (var path in chart.GetProperty("paths").EnumerateArray())
        {
            var points = Points(path.GetProperty("d").GetString()!);
            Assert.All(points, p => Assert.True(p.Y > topTick.Y + 1, $"{id}: a point at y {p.Y}, the top tick at {topTick.Y}"));
            var series = path.GetProperty("series").GetString()!;
            var expected = Values(id, shown[^1], series).SingleOrDefault(double.NaN);
            if (!double.IsNaN(expected) && points.Count > 0)
            {
                Assert.Equal(expected, ValueAt(points[^1].Y), (topTick.Value * 0.002) + 1e-9);
            }
        }

        var times = chart.GetProperty("xTicks").EnumerateArray().Select(t => (Text: t.GetProperty("text").GetString()!, X: t.GetProperty("x").GetDouble())).ToList();
        Assert.True(times.Count >= 2, $"{id}: {times.Count} time ticks");
        Assert.All(times, t => Assert.Matches(@"^\d\d:\d\d:\d\d$", t.Text));
        for (var i = 1; i < times.Count; i++)
        {
            Assert.True(TimeSpan.Parse(times[i].Text, CultureInfo.InvariantCulture) > TimeSpan.Parse(times[i - 1].Text, CultureInfo.InvariantCulture) || times[i].Text.StartsWith("00", StringComparison.Ordinal));
            Assert.True(times[i].X > times[i - 1].X);
        }

        Assert.Equal(Units[id], Regex.Match(Legend(chart)[0], @"^● .+? [\d.,–]+ (?<unit>.+)$").Groups["unit"].Value);
    }

    /// <summary>The values a chart draws for a status, per series (a stalled sample has no behind).</summary>
    private static IEnumerable<double> Values(string chart, ClusterStatistics s, string? series = null)
    {
        IEnumerable<(string Series, double? Value)> all = chart switch
        {
            "rate-chart" => [("online", s.OnlineRequestRate), ("replayed", s.ReplayedRequestRate)],
            "flight-chart" => [("in flight", s.RequestsInFlight)],
            "behind-chart" => [("behind", s.BehindSeconds)],
            "loss-chart" => [("lost / captured", s.LossRatio * 100)],
            "latency-chart" => [("p50", s.ReplyLatency!.Recent.P50Ms), ("p99", s.ReplyLatency.Recent.P99Ms)],
            _ => throw new ArgumentException(chart),
        };
        return all.Where(v => (series is null || v.Series == series) && v.Value is not null).Select(v => v.Value!.Value);
    }

    /// <summary>
    /// The i-th status served: one capture node and one intercept, rates growing, losses by two reasons; every fourth
    /// sample the capture node made no progress (requests held, none acknowledged: no estimate of behind).
    /// </summary>
    private static ClusterStatistics Sample(int i)
    {
        var stalled = i % 4 == 3;
        double online = 100 + (10 * i), replayed = stalled ? 0 : (2 * online) - 1.5, lostRate = i % 2 == 0 ? 0 : 0.5;
        long inFlight = 40 + (3 * i), captured = 10_000 + (200 * i), lost = 5 + i;
        var counters = new Dictionary<string, long>
        {
            ["packets_captured"] = 50_000 + i, ["requests_captured"] = captured, ["requests_delivered"] = captured - inFlight - lost, ["requests_in_flight"] = inFlight,
            ["requests_lost"] = lost, ["requests_lost_timeout"] = 3, ["requests_lost_reset"] = 2 + i, ["retransmissions"] = 7, ["sessions_live"] = 12, ["plan_version"] = 1,
        };
        var rates = new Dictionary<string, double> { ["requests_delivered"] = replayed, ["requests_lost"] = stalled ? 0 : lostRate };
        var nodes = new List<NodeStatistics>
        {
            new(Capture, "capture", 10, counters, rates),
            new("akka.tcp://replaycluster@10.0.0.12:4000", "intercept", 10, new Dictionary<string, long> { ["replies_routed"] = 9_000 + i }, new Dictionary<string, double>()),
        };
        ReplyLatencyStatistics Latency(double p50, double p99) => new(10, new LatencyPercentiles(100, p50, p50, p99 * 0.8, p99), LatencyPercentiles.Empty);
        return new ClusterStatistics(nodes, counters, online, replayed, (double)lost / captured, Latency(1.5 + (0.1 * i), 4 + (0.3 * i)), Latency(0.05, 0.2),
            null, stalled ? 0 : lostRate, Latency(0.01, 0.125 + (0.001 * i)));
    }

    private const string ReadPage = """
        (() => {
          // null until the dashboard's document has replaced the blank page it navigated from and is parsed whole.
          if (document.readyState === "loading" || !document.getElementById("updated")) return null;
          const text = id => document.getElementById(id).textContent;
          const cards = {};
          for (const id of ["online-rate", "replayed-rate", "in-flight", "behind", "lost", "loss-ratio", "latency-p99", "capture-p99"]) cards[id] = text(id);
          const rows = [...document.querySelectorAll("#nodes tr")].map(r => [...r.cells].map(c => c.textContent));
          const captureRow = [...document.querySelectorAll("#nodes tr")].find(r => r.dataset.role === "capture");
          const charts = [...document.querySelectorAll(".chart svg")].map(s => ({
            id: s.id,
            yTitle: s.querySelector("text.y-title")?.textContent ?? null,
            yTicks: [...s.querySelectorAll("text.y-tick")].map(t => ({ text: t.textContent, y: +t.getAttribute("y") - 4 })),
            xTicks: [...s.querySelectorAll("text.x-tick")].map(t => ({ text: t.textContent, x: +t.getAttribute("x") })),
            paths: [...s.querySelectorAll("path")].map(p => ({ series: p.dataset.series, d: p.getAttribute("d") })),
            crosshairs: s.querySelectorAll("line.cross").length,
            crossX: s.querySelector("line.cross") ? +s.querySelector("line.cross").getAttribute("x1") : null,
            dots: s.querySelectorAll("circle").length,
            legend: [...document.getElementById(s.id + "-legend").children].map(c => c.textContent) }));
          return { updated: text("updated"), cards, rows, charts, lostTitle: captureRow ? captureRow.cells[6].title : null,
                   lostByReason: [...document.querySelectorAll("#lost-by-reason li")].map(l => l.textContent) };
        })()
        """;

    private static int SamplesOf(JsonElement page) =>
        page.ValueKind == JsonValueKind.Object && Regex.Match(page.GetProperty("updated").GetString()!, @"· (?<n>\d+) samples") is { Success: true } m ? int.Parse(m.Groups["n"].Value, CultureInfo.InvariantCulture) : 0;

    private static JsonElement Chart(JsonElement page, string id) => page.GetProperty("charts").EnumerateArray().Single(c => c.GetProperty("id").GetString() == id);

    private static string[] Legend(JsonElement chart) => [.. chart.GetProperty("legend").EnumerateArray().Select(l => l.GetString()!)];

    private static string Path(JsonElement chart, string series) =>
        chart.GetProperty("paths").EnumerateArray().Single(p => p.GetProperty("series").GetString() == series).GetProperty("d").GetString()!;

    private static double LegendValue(JsonElement chart, string series)
    {
        var entry = Legend(chart).Single(l => l.StartsWith($"● {series} ", StringComparison.Ordinal));
        return double.Parse(entry[$"● {series} ".Length..].Split(' ')[0].Replace(",", string.Empty, StringComparison.Ordinal), CultureInfo.InvariantCulture);
    }

    private static double TickValue(string text) => text.EndsWith('k')
        ? double.Parse(text[..^1], CultureInfo.InvariantCulture) * 1000
        : double.Parse(text, CultureInfo.InvariantCulture);

    /// <summary>The points of an SVG path of M and L commands (M starts a new segment after a gap).</summary>
    private static List<(double X, double Y)> Points(string d) =>
        [.. PathPoint().Matches(d).Select(m => (double.Parse(m.Groups["x"].Value, CultureInfo.InvariantCulture), double.Parse(m.Groups["y"].Value, CultureInfo.InvariantCulture)))];

    [GeneratedRegex(@"[ML](?<x>-?[\d.]+),(?<y>-?[\d.]+)", RegexOptions.CultureInvariant)]
    private static partial Regex PathPoint();
}
