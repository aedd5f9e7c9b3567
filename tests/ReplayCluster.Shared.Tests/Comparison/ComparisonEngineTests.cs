using System.Globalization;
using CsCheck;
using ReplayCluster.Comparison;

namespace ReplayCluster.Shared.Tests.Comparison;

public sealed class ComparisonEngineTests
{
    private static readonly DateTime Start = new(2026, 11, 30, 12, 0, 0, DateTimeKind.Utc);

    /// <summary>Feeds one request and each side's response to a session, as the capture and intercept would.</summary>
    private static void Exchange(ComparedSession session, byte[] request, byte[] online, byte[] target, byte[]? secondary = null, int piece = int.MaxValue)
    {
        void Side(ComparisonSide side, byte[] response)
        {
            HttpText.FeedInPieces(b => session.Feed(side, StreamDirection.ClientToServer, b), request, Math.Min(piece, request.Length));
            HttpText.FeedInPieces(b => session.Feed(side, StreamDirection.ServerToClient, b), response, Math.Min(piece, response.Length));
        }

        Side(ComparisonSide.Online, online);
        Side(ComparisonSide.Target, target);
        if (secondary is not null)
        {
            Side(ComparisonSide.Secondary, secondary);
        }
    }

    /// <summary>What a side's server answers: the same app everywhere, with a Date and a random request id on every response.</summary>
    private static byte[] App(string path, Random random, int userAge)
    {
        var date = "Date: " + Start.AddSeconds(random.Next(100_000)).ToString("r", CultureInfo.InvariantCulture);
        var requestId = "X-Request-Id: " + Guid.NewGuid().ToString("N");
        var segments = path.Split('/');
        return segments[1] switch
        {
            "users" => HttpText.Response(200, $$"""{"id":{{segments[2]}},"name":"user{{segments[2]}}","age":{{userAge}},"roles":["reader"]}""",
                "Content-Type: application/json", date, requestId),
            "products" => HttpText.Chunked(200, HttpText.Gzip($$"""{"id":{{segments[2]}},"price":9.5,"stock":[1,2,3]}"""), 16,
                "Content-Type: application/json", "Content-Encoding: gzip", date, requestId),
            _ => HttpText.Response(200, "<html>\n<body>ok</body>\n</html>\n", "Content-Type: text/html", date, requestId),
        };
    }

    [Fact]
    public void The_issue_scenario_flags_exactly_the_differing_endpoint_and_field_and_reports_Date_and_request_id_as_noise()
    {
        var engine = new ComparisonEngine(ComparisonOptions.Default);
        var random = new Random(7);
        var paths = new[] { "/users/1", "/users/2", "/products/10", "/products/11", "/", "/about" };
        for (var s = 0; s < 20; s++)
        {
            using var session = engine.OpenSession();
            // Keep-alive sessions of 3 requests; every other session pipelines them (all requests, then all responses).
            var chosen = Enumerable.Range(0, 3).Select(_ => paths[random.Next(paths.Length)]).ToArray();
            if (s % 2 == 0)
            {
                foreach (var path in chosen)
                {
                    Exchange(session, HttpText.Request("GET", path), App(path, random, 30), App(path, random, 31), piece: 1 + (s % 5) * 13);
                }
            }
            else
            {
                byte[] requests = [.. chosen.SelectMany(p => HttpText.Request("GET", p))];
                session.Feed(ComparisonSide.Online, StreamDirection.ClientToServer, requests);
                session.Feed(ComparisonSide.Target, StreamDirection.ClientToServer, requests);
                session.Feed(ComparisonSide.Online, StreamDirection.ServerToClient, [.. chosen.SelectMany(p => App(p, random, 30))]);
                session.Feed(ComparisonSide.Target, StreamDirection.ServerToClient, [.. chosen.SelectMany(p => App(p, random, 31))]);
            }

            session.Complete();
        }

        var report = ComparisonReport.Build(engine.Snapshot(), engine.Options.Noise);

        Assert.Equal(60, report.PairsCompared);
        Assert.Equal(20, report.Sessions);
        Assert.Empty(report.Counters);
        var differing = Assert.Single(report.Endpoints, e => e.Differing > 0);
        Assert.Equal("GET /users/{id}", differing.Endpoint);
        Assert.Equal(differing.Compared, differing.Differing);
        var field = Assert.Single(differing.Differences);
        Assert.Equal("$.age", field.Field);
        Assert.Equal(new DifferenceExample(nameof(DifferenceKind.ValueChanged), "30", "31"), field.Example);
        Assert.Equal(1.0, field.Rate);

        Assert.Equal(["GET /", "GET /about", "GET /products/{id}", "GET /users/{id}"], report.Endpoints.Select(e => e.Endpoint).Order(StringComparer.Ordinal));
        foreach (var endpoint in report.Endpoints)
        {
            Assert.True(endpoint.Compared > 0);
            var noise = endpoint.Noise.ToDictionary(n => n.Field);
            Assert.Equal(NoiseReasons.DefaultIgnoredHeader, noise["header:date"].Reason);
            Assert.Equal(NoiseReasons.DefaultIgnoredHeader, noise["header:x-request-id"].Reason);
            Assert.Equal(endpoint.Compared, noise["header:x-request-id"].IgnoredDifferences);
            Assert.DoesNotContain(endpoint.Differences, d => d.Field.StartsWith("header:", StringComparison.Ordinal));
        }

        Assert.Equal(0, engine.PendingExchanges);
        Assert.Equal(0, engine.PendingBodyBytes);
    }

    [Fact]
    public void The_report_does_not_depend_on_how_the_sides_bytes_are_cut_and_interleaved()
    {
        // Fixed responses (no random ids) so every run must give the very same report, examples included.
        var paths = new[] { "/users/1", "/products/2", "/", "/users/1" };
        byte[] Online(string p) => HttpText.Response(200, $$"""{"p":"{{p}}","v":1}""", "Content-Type: application/json", "Date: a");
        byte[] Target(string p) => p.StartsWith("/products", StringComparison.Ordinal)
            ? HttpText.Chunked(200, HttpText.Gzip($$"""{"p":"{{p}}","v":2}"""), 7, "Content-Type: application/json", "Date: b", "Content-Encoding: gzip")
            : HttpText.Response(200, $$"""{"p":"{{p}}","v":1}""", "Content-Type: application/json", "Date: b");

        string Run(Random random, bool cut)
        {
            var engine = new ComparisonEngine(ComparisonOptions.Default);
            for (var s = 0; s < 3; s++)
            {
                using var session = engine.OpenSession();
                // Each side's events in its own order; the sides interleaved at random (they come from different hosts).
                var events = new List<(ComparisonSide Side, StreamDirection Direction, byte[] Bytes)>[2];
                for (var side = 0; side < 2; side++)
                {
                    events[side] = [];
                    foreach (var path in paths)
                    {
                        foreach (var (direction, bytes) in new[] { (StreamDirection.ClientToServer, HttpText.Request("GET", path)), (StreamDirection.ServerToClient, side == 0 ? Online(path) : Target(path)) })
                        {
                            for (var i = 0; i < bytes.Length;)
                            {
                                var n = cut ? Math.Min(bytes.Length - i, random.Next(1, 50)) : bytes.Length;
                                events[side].Add(((ComparisonSide)side, direction, bytes[i..(i + n)]));
                                i += n;
                            }
                        }
                    }
                }

                int a = 0, b = 0;
                while (a < events[0].Count || b < events[1].Count)
                {
                    var fromOnline = b >= events[1].Count || (a < events[0].Count && random.Next(2) == 0);
                    var e = fromOnline ? events[0][a++] : events[1][b++];
                    session.Feed(e.Side, e.Direction, e.Bytes);
                }

                session.Complete();
            }

            return ComparisonReport.Build(engine.Snapshot(), engine.Options.Noise).ToJson();
        }

        var expected = Run(new Random(0), cut: false);
        Assert.Contains("\"field\":\"$.v\"", expected, StringComparison.Ordinal);
        Assert.Contains("\"field\":\"header:content-encoding\"", expected, StringComparison.Ordinal);
        Gen.Int.Sample(seed => Assert.Equal(expected, Run(new Random(seed), cut: true)), iter: 100);
    }

    [Fact]
    public void A_status_regression_and_a_missing_header_are_flagged()
    {
        var engine = new ComparisonEngine(ComparisonOptions.Default);
        using (var session = engine.OpenSession())
        {
            Exchange(session, HttpText.Request("GET", "/orders/5"), HttpText.Response(200, "{}", "Content-Type: application/json"), HttpText.Response(500, "{}", "Content-Type: application/json"));
            Exchange(session, HttpText.Request("GET", "/page"), HttpText.Response(200, "hi", "Content-Type: text/html"), HttpText.Response(200, "hi"));
            session.Complete();
        }

        var report = ComparisonReport.Build(engine.Snapshot(), engine.Options.Noise);
        var orders = report.Endpoints.Single(e => e.Endpoint == "GET /orders/{id}");
        Assert.Equal(new DifferenceExample("Status", "200", "500"), Assert.Single(orders.Differences).Example);
        var page = report.Endpoints.Single(e => e.Endpoint == "GET /page");
        Assert.Equal("header:content-type", Assert.Single(page.Differences).Field);
        Assert.Equal("HeaderMissing", page.Differences[0].Example!.Kind);
    }

    [Fact]
    public void A_field_random_in_every_body_is_learned_as_noise_from_a_secondary_reference()
    {
        // No repeated requests: only the secondary reference can tell that "nonce" varies by itself.
        var engine = new ComparisonEngine(ComparisonOptions.Default with { Noise = new NoiseOptions { LearnFromRepeatedRequests = false } });
        for (var i = 0; i < 40; i++)
        {
            using var session = engine.OpenSession(withSecondary: true);
            byte[] Body(int version) => HttpText.Response(200, $$"""{"nonce":"{{Guid.NewGuid()}}","version":{{version}}}""", "Content-Type: application/json");
            Exchange(session, HttpText.Request("GET", $"/items/{i}"), Body(1), Body(i % 4 == 0 ? 2 : 1), Body(1));
            session.Complete();
        }

        var endpoint = Assert.Single(ComparisonReport.Build(engine.Snapshot(), engine.Options.Noise).Endpoints);
        Assert.Equal("GET /items/{id}", endpoint.Endpoint);
        Assert.Equal(40, endpoint.NoiseSamples);
        var nonce = Assert.Single(endpoint.Noise);
        Assert.Equal(("$.nonce", NoiseReasons.LearnedFromSecondary, 40L, 40L), (nonce.Field, nonce.Reason, nonce.Differing, nonce.NoiseDifferences));
        var version = Assert.Single(endpoint.Differences);
        Assert.Equal("$.version", version.Field);
        Assert.Equal(10, version.Differing);
        Assert.Equal(10, endpoint.Differing);
        Assert.Equal(40, endpoint.DifferingRaw);
    }

    [Fact]
    public void Without_a_secondary_reference_fields_that_vary_between_online_responses_to_identical_requests_are_noise()
    {
        // Default ignores off: the request id and Date must be learned, not known.
        var engine = new ComparisonEngine(ComparisonOptions.Default with { Noise = new NoiseOptions { UseDefaultIgnoredHeaders = false } });
        var random = new Random(3);
        byte[] Body(int price) => HttpText.Response(200, $$"""{"generatedAt":{{random.Next()}},"price":{{price}}}""",
            "Content-Type: application/json", "X-Request-Id: " + Guid.NewGuid(), "Date: " + Start.AddSeconds(random.Next(1000)).ToString("r", CultureInfo.InvariantCulture));
        for (var i = 0; i < 30; i++)
        {
            using var session = engine.OpenSession();
            Exchange(session, HttpText.Request("GET", "/prices/" + (i % 3)), Body(10), Body(12));
            session.Complete();
        }

        var endpoint = Assert.Single(ComparisonReport.Build(engine.Snapshot(), engine.Options.Noise).Endpoints);
        Assert.Equal(27, endpoint.NoiseSamples);
        Assert.Equal("$.price", Assert.Single(endpoint.Differences).Field);
        var noise = endpoint.Noise.ToDictionary(n => n.Field);
        // The body's length varies with generatedAt, so Content-Length (ignored by default) is learned too.
        Assert.Equal(["$.generatedAt", "header:content-length", "header:date", "header:x-request-id"], noise.Keys.Order(StringComparer.Ordinal));
        Assert.All(noise.Values, n => Assert.Equal(NoiseReasons.LearnedFromRepeats, n.Reason));
        Assert.Equal(30, endpoint.Differing);
    }

    [Fact]
    public void The_noise_rule_reports_a_field_that_differs_clearly_more_often_than_between_references()
    {
        var options = new NoiseOptions();
        FieldSummary Field(long differences, long noise) => new() { Field = "$.f", Differences = differences, SecondaryNoise = noise };
        bool Reported(long compared, long differences, long samples, long noise)
        {
            var summary = new ComparisonSummary
            {
                Endpoints = [new EndpointSummary { Endpoint = "GET /", Compared = compared, DifferingRaw = differences, SecondarySamples = samples, Fields = [Field(differences, noise)], DifferenceSets = [new DifferenceSet(["$.f"], differences)] }],
            };
            return ComparisonReport.Build(summary, options).Endpoints[0].Differences.Count == 1;
        }

        Assert.True(Reported(100, 1, 100, 0));     // never seen varying: one difference is a difference
        Assert.True(Reported(100, 1, 0, 0));       // no reference pairs at all
        Assert.False(Reported(100, 50, 100, 49));  // as often as between references
        Assert.False(Reported(100, 10, 100, 8));   // 0.10 vs 0.08: within the absolute threshold
        Assert.True(Reported(100, 60, 100, 20));   // 0.60 vs 0.20
        Assert.False(Reported(100, 95, 100, 90));  // 0.95 vs 0.90: not 1.2 times
    }

    [Fact]
    public void Over_the_pending_budget_exchanges_keep_their_place_and_their_pairs_are_counted_as_dropped()
    {
        var engine = new ComparisonEngine(ComparisonOptions.Default with { Budget = new ComparisonBudget { MaxPendingExchanges = 2 } });
        using var session = engine.OpenSession();
        byte[] requests = [.. Enumerable.Range(0, 5).SelectMany(i => HttpText.Request("GET", "/n/" + i))];
        byte[] Responses(int v) => [.. Enumerable.Range(0, 5).SelectMany(i => HttpText.Response(200, $"{{\"n\":{i},\"v\":{(i == 4 ? v : 0)}}}"))];
        session.Feed(ComparisonSide.Online, StreamDirection.ClientToServer, requests);
        session.Feed(ComparisonSide.Online, StreamDirection.ServerToClient, Responses(1));
        Assert.Equal(2, engine.PendingExchanges);
        session.Feed(ComparisonSide.Target, StreamDirection.ClientToServer, requests);
        session.Feed(ComparisonSide.Target, StreamDirection.ServerToClient, Responses(2));
        session.Complete();

        Assert.Equal(3, engine.Counters.Get(ComparisonDrop.PendingExchangesFull));
        var summary = engine.Snapshot();
        Assert.Equal(2, summary.PairsCompared);
        Assert.Equal(3, summary.Counters["dropped_pending_exchanges_full"]);
        Assert.Equal(0, engine.PendingExchanges);
    }

    [Fact]
    public void Over_the_pending_byte_budget_bodies_are_not_held()
    {
        var engine = new ComparisonEngine(ComparisonOptions.Default with { Budget = new ComparisonBudget { MaxPendingBodyBytes = 2500 } });
        using var session = engine.OpenSession();
        foreach (var i in Enumerable.Range(0, 3))
        {
            session.Feed(ComparisonSide.Online, StreamDirection.ClientToServer, HttpText.Request("GET", "/big/" + i));
            session.Feed(ComparisonSide.Online, StreamDirection.ServerToClient, HttpText.Response(200, new string('x', 1000)));
        }

        Assert.Equal(2000, engine.PendingBodyBytes);
        foreach (var i in Enumerable.Range(0, 3))
        {
            session.Feed(ComparisonSide.Target, StreamDirection.ClientToServer, HttpText.Request("GET", "/big/" + i));
            session.Feed(ComparisonSide.Target, StreamDirection.ServerToClient, HttpText.Response(200, new string('x', 1000)));
        }

        session.Complete();
        Assert.Equal(1, engine.Counters.Get(ComparisonDrop.PendingBytesFull));
        Assert.Equal(2, engine.Snapshot().PairsCompared);
        Assert.Equal(0, engine.PendingBodyBytes);
    }

    [Fact]
    public void A_silent_secondary_reference_never_blocks_the_comparison()
    {
        var engine = new ComparisonEngine(ComparisonOptions.Default);
        using (var session = engine.OpenSession(withSecondary: true))
        {
            Exchange(session, HttpText.Request("GET", "/s"), HttpText.Response(200, "{\"a\":1}"), HttpText.Response(200, "{\"a\":2}"));
            Assert.Equal(0, engine.Snapshot().PairsCompared);
            session.Complete();
        }

        var endpoint = Assert.Single(ComparisonReport.Build(engine.Snapshot(), engine.Options.Noise).Endpoints);
        Assert.Equal("$.a", Assert.Single(endpoint.Differences).Field);
        Assert.Equal(0, endpoint.NoiseSamples);
    }

    [Fact]
    public void Unpaired_and_abandoned_exchanges_are_counted()
    {
        var engine = new ComparisonEngine(ComparisonOptions.Default);
        using (var session = engine.OpenSession())
        {
            Exchange(session, HttpText.Request("GET", "/a"), HttpText.Response(200, "a"), HttpText.Response(200, "a"));
            session.Feed(ComparisonSide.Online, StreamDirection.ClientToServer, HttpText.Request("GET", "/b"));
            session.Feed(ComparisonSide.Online, StreamDirection.ServerToClient, HttpText.Response(200, "b"));
            session.Complete();
        }

        Assert.Equal(1, engine.Counters.Get(ComparisonDrop.Unpaired));

        var abandoned = engine.OpenSession();
        abandoned.Feed(ComparisonSide.Online, StreamDirection.ClientToServer, HttpText.Request("GET", "/c"));
        abandoned.Feed(ComparisonSide.Online, StreamDirection.ServerToClient, HttpText.Response(200, "c"));
        Assert.Equal(1, engine.PendingExchanges);
        abandoned.Dispose();
        Assert.Equal(1, engine.Counters.Get(ComparisonDrop.SessionAbandoned));
        Assert.Equal(0, engine.PendingExchanges);
    }

    [Fact]
    public void A_target_answering_garbage_is_a_difference_and_a_refused_reference_a_counted_drop()
    {
        var engine = new ComparisonEngine(ComparisonOptions.Default);
        using (var session = engine.OpenSession())
        {
            Exchange(session, HttpText.Request("GET", "/x"), HttpText.Response(200, "x"), "HTTP/1.1 OK\r\n\r\n"u8.ToArray());
            session.Complete();
        }

        using (var session = engine.OpenSession())
        {
            Exchange(session, HttpText.Request("GET", "/y"), "garbage\r\n\r\n"u8.ToArray(), HttpText.Response(200, "y"));
            session.Complete();
        }

        var report = ComparisonReport.Build(engine.Snapshot(), engine.Options.Noise);
        var x = Assert.Single(report.Endpoints);
        var difference = Assert.Single(x.Differences);
        Assert.Equal(("response", "HTTP 200", "unparseable: refused_malformed_status_line"), (difference.Field, difference.Example!.Reference, difference.Example.Target));
        Assert.Equal(1, engine.Counters.Get(ComparisonDrop.ReferenceRefused));
        Assert.Equal(2, engine.Counters.Get(StreamRefusal.MalformedStatusLine));
    }

    [Fact]
    public void A_request_the_target_never_answers_is_a_difference()
    {
        var engine = new ComparisonEngine(ComparisonOptions.Default);
        using (var session = engine.OpenSession())
        {
            Exchange(session, HttpText.Request("GET", "/ok"), HttpText.Response(200, "a"), HttpText.Response(200, "a"));
            var request = HttpText.Request("POST", "/pay", "{}");
            session.Feed(ComparisonSide.Online, StreamDirection.ClientToServer, request);
            session.Feed(ComparisonSide.Online, StreamDirection.ServerToClient, HttpText.Response(201, "paid"));
            session.Feed(ComparisonSide.Target, StreamDirection.ClientToServer, request);
            session.Complete();
        }

        var pay = ComparisonReport.Build(engine.Snapshot(), engine.Options.Noise).Endpoints.Single(e => e.Endpoint == "POST /pay");
        Assert.Equal(new DifferenceExample("ProtocolChanged", "HTTP 201", "no response"), Assert.Single(pay.Differences).Example);
        Assert.Empty(engine.Snapshot().Counters);
    }

    [Fact]
    public void Non_HTTP_sessions_are_compared_by_byte_counts_and_hashes()
    {
        var engine = new ComparisonEngine(ComparisonOptions.Default with { Noise = new NoiseOptions { LearnFromRepeatedRequests = false } });
        for (var i = 0; i < 3; i++)
        {
            using var session = engine.OpenSession();
            byte[] query = [0, 0, 0, 9, (byte)'Q', (byte)'s', (byte)'e', (byte)'l', (byte)i];
            Exchange(session, query, [1, 2, 3, (byte)i], i == 2 ? [1, 2, 3, 99] : [1, 2, 3, (byte)i]);
            Exchange(session, [7, 7], [5], i == 1 ? [5, 5] : [5]);
            session.Complete();
        }

        var endpoint = Assert.Single(ComparisonReport.Build(engine.Snapshot(), engine.Options.Noise).Endpoints);
        Assert.Equal(EndpointTemplate.NonHttp, endpoint.Endpoint);
        Assert.Equal(6, endpoint.Compared);
        Assert.Equal(2, endpoint.Differing);
        Assert.Equal(["response:hash", "response:length"], endpoint.Differences.Select(d => d.Field).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Summaries_merge_into_what_one_engine_would_have_seen_and_survive_JSON()
    {
        var options = ComparisonOptions.Default with { Noise = new NoiseOptions { LearnFromRepeatedRequests = false } };
        var one = new ComparisonEngine(options);
        var a = new ComparisonEngine(options);
        var b = new ComparisonEngine(options);
        for (var i = 0; i < 10; i++)
        {
            foreach (var engine in new[] { one, i % 2 == 0 ? a : b })
            {
                using var session = engine.OpenSession();
                Exchange(session, HttpText.Request("GET", $"/e{i % 3}/{i}"), HttpText.Response(200, $"{{\"v\":{i}}}"), HttpText.Response(i % 3 == 0 ? 500 : 200, $"{{\"v\":{i % 2}}}"));
                session.Complete();
            }
        }

        var merged = ComparisonSummary.Merge(a.Snapshot(), b.Snapshot());
        var roundTripped = ComparisonSummary.FromJson(merged.ToJson(), out var error);
        Assert.Null(error);
        // The example kept is the first one seen, which depends on the order of arrival: compared apart.
        static string WithoutExamples(ComparisonReport report) => (report with
        {
            Endpoints = [.. report.Endpoints.Select(e => e with { Differences = [.. e.Differences.Select(d => d with { Example = null })] })],
        }).ToJson();
        var expected = WithoutExamples(ComparisonReport.Build(one.Snapshot(), options.Noise));
        Assert.Equal(expected, WithoutExamples(ComparisonReport.Build(merged, options.Noise)));
        Assert.Equal(expected, WithoutExamples(ComparisonReport.Build(roundTripped!, options.Noise)));
        Assert.All(ComparisonReport.Build(merged, options.Noise).Endpoints.SelectMany(e => e.Differences), d => Assert.NotNull(d.Example));
        Assert.Contains("\"endpoint\":\"GET /e0/{id}\"", merged.ToJson(), StringComparison.Ordinal);

        Assert.Null(ComparisonSummary.FromJson("{\"version\":99}", out error));
        Assert.NotNull(error);
        Assert.Null(ComparisonSummary.FromJson("not json", out error));
    }

    [Fact]
    public void Endpoints_beyond_the_bound_are_counted_together()
    {
        var engine = new ComparisonEngine(ComparisonOptions.Default with { Budget = new ComparisonBudget { MaxEndpoints = 2 } });
        foreach (var path in new[] { "/a", "/b", "/c", "/d", "/a" })
        {
            using var session = engine.OpenSession();
            Exchange(session, HttpText.Request("GET", path), HttpText.Response(200, "1"), HttpText.Response(200, "2"));
            session.Complete();
        }

        var summary = engine.Snapshot();
        Assert.Equal(["GET /a", "GET /b", EndpointSummary.OtherEndpoints], summary.Endpoints.Select(e => e.Endpoint));
        Assert.Equal(2, summary.Endpoints[2].Compared);
        Assert.Equal(2, summary.Endpoints[0].Compared);
    }

    [Fact]
    public void Invalid_options_are_refused_by_setting_name()
    {
        var errors = ComparisonOptionsValidator.Validate(new ComparisonOptions
        {
            Parser = new HttpParserLimits { MaxHeaderBytes = 10, MaxHeaderCount = 0 },
            Noise = new NoiseOptions { AbsoluteThreshold = 2, IgnoredJsonPaths = ["user.age"], IgnoredHeaders = ["x bad"] },
            Budget = new ComparisonBudget { MaxEndpoints = 0 },
        });
        Assert.Equal(
            ["budget.max-endpoints", "noise.absolute-threshold", "noise.ignored-headers", "noise.ignored-json-paths", "parser.max-header-bytes", "parser.max-header-count"],
            errors.Select(e => e.Setting).Order(StringComparer.Ordinal));
        Assert.Empty(ComparisonOptionsValidator.Validate(ComparisonOptions.Default));
        Assert.Throws<ArgumentException>(() => new ComparisonEngine(new ComparisonOptions { Budget = new ComparisonBudget { MaxEndpoints = 0 } }));
    }
}
