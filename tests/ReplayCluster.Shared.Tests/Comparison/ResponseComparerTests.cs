using System.Text;
using ReplayCluster.Comparison;

namespace ReplayCluster.Shared.Tests.Comparison;

public sealed class ResponseComparerTests
{
    private static HttpResponse Response(int status, string body, params string[] headers)
    {
        var list = new HttpHeaderList();
        foreach (var header in headers)
        {
            var colon = header.IndexOf(':', StringComparison.Ordinal);
            list.Add(header[..colon], header[(colon + 1)..].Trim());
        }

        var bytes = Encoding.UTF8.GetBytes(body);
        return new HttpResponse(status, list, bytes, bytes.Length, Fnv(bytes), BodyCompleteness.Whole);
    }

    private static ulong Fnv(byte[] bytes)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in bytes)
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return hash;
    }

    private static readonly ResponseComparer Comparer = new(ComparisonOptions.Default);

    [Fact]
    public void JSON_is_compared_field_by_field_with_paths()
    {
        var result = Comparer.Compare(
            Response(200, """{"user":{"name":"ann","age":41,"tags":["a","b"]},"ok":true,"gone":1,"odd key":1}""", "Content-Type: application/json"),
            Response(200, """{"ok":false,"user":{"age":"41","name":"ann","tags":["a","c","d"]},"new":null,"odd key":2}""", "content-type: application/json"));

        var byField = result.Differences.ToDictionary(d => d.Field);
        Assert.Equal(DifferenceKind.TypeChanged, byField["$.user.age"].Kind);
        Assert.Equal("41", byField["$.user.age"].Reference);
        Assert.Equal("\"41\"", byField["$.user.age"].Target);
        Assert.Equal(DifferenceKind.ValueChanged, byField["$.user.tags[1]"].Kind);
        Assert.Equal(DifferenceKind.FieldAdded, byField["$.user.tags[2]"].Kind);
        Assert.Equal(DifferenceKind.ValueChanged, byField["$.ok"].Kind);
        Assert.Equal(DifferenceKind.FieldMissing, byField["$.gone"].Kind);
        Assert.Equal(DifferenceKind.FieldAdded, byField["$.new"].Kind);
        Assert.Equal(DifferenceKind.ValueChanged, byField["$['odd key']"].Kind);
        Assert.Equal(7, result.Differences.Count);
    }

    [Fact]
    public void Equal_JSON_in_another_field_order_or_number_spelling_is_equal()
    {
        var result = Comparer.Compare(
            Response(200, """{"a":1.0,"b":[1,2],"c":"x"}"""),
            Response(200, """{ "c":"x", "b":[1,2], "a":1 }"""));
        Assert.Empty(result.Differences);
    }

    [Fact]
    public void Status_and_headers_are_compared_with_case_insensitive_names()
    {
        var result = Comparer.Compare(
            Response(200, "same", "Content-Type: text/plain", "X-Version: 1", "Cache-Control: no-cache"),
            Response(500, "same", "content-type: text/plain", "X-VERSION: 2", "Vary: Accept"));

        var byField = result.Differences.ToDictionary(d => d.Field);
        Assert.Equal(("200", "500"), (byField["status"].Reference, byField["status"].Target));
        Assert.Equal(DifferenceKind.HeaderChanged, byField["header:x-version"].Kind);
        Assert.Equal(DifferenceKind.HeaderMissing, byField["header:cache-control"].Kind);
        Assert.Equal(DifferenceKind.HeaderAdded, byField["header:vary"].Kind);
        Assert.False(byField.ContainsKey("header:content-type"));
    }

    [Fact]
    public void A_missing_Content_Type_is_flagged()
    {
        var result = Comparer.Compare(Response(200, "x", "Content-Type: text/html"), Response(200, "x"));
        Assert.Equal(DifferenceKind.HeaderMissing, Assert.Single(result.Differences).Kind);
    }

    [Fact]
    public void Default_noise_headers_are_ignored_but_noted_and_set_cookie_compares_names_only()
    {
        var result = Comparer.Compare(
            Response(200, "x", "Date: Mon, 30 Nov 2026 10:00:00 GMT", "X-Request-Id: aaa", "X-Amzn-RequestId: 1", "ETag: \"1\"", "Set-Cookie: session=abc; Path=/"),
            Response(200, "x", "Date: Mon, 30 Nov 2026 10:00:01 GMT", "X-Request-Id: bbb", "X-Amzn-RequestId: 2", "ETag: \"2\"", "Set-Cookie: session=def; Path=/"));

        Assert.Empty(result.Differences);
        Assert.Equal(["header:date", "header:etag", "header:x-amzn-requestid", "header:x-request-id"], result.Ignored.Select(i => i.Key).Order(StringComparer.Ordinal));
        Assert.All(result.Ignored, i => Assert.Equal(NoiseReasons.DefaultIgnoredHeader, i.Value));

        var renamed = Comparer.Compare(Response(200, "x", "Set-Cookie: session=abc"), Response(200, "x", "Set-Cookie: sid=abc"));
        var difference = Assert.Single(renamed.Differences);
        Assert.Equal("header:set-cookie", difference.Field);
        Assert.Equal("[redacted]", difference.Reference);
    }

    [Fact]
    public void Text_is_compared_by_line_and_binary_by_hash()
    {
        var text = Comparer.Compare(Response(200, "<p>\r\nhello\r\n</p>", "Content-Type: text/html"), Response(200, "<p>\r\nhullo\r\n</p>", "Content-Type: text/html"));
        var line = Assert.Single(text.Differences);
        Assert.Equal(("body:line[2]", "hello", "hullo"), (line.Field, line.Reference, line.Target));

        var binaryA = new HttpResponse(200, new HttpHeaderList(), new byte[] { 0, 1, 2, 0xff }, 4, 1, BodyCompleteness.Whole);
        var binaryB = new HttpResponse(200, new HttpHeaderList(), new byte[] { 0, 1, 3, 0xff }, 4, 2, BodyCompleteness.Whole);
        Assert.Equal(DifferenceKind.BodyChanged, Assert.Single(Comparer.Compare(binaryA, binaryB).Differences).Kind);
    }

    [Fact]
    public void JSON_against_non_JSON_is_a_format_change()
    {
        var result = Comparer.Compare(Response(200, "{\"a\":1}", "Content-Type: application/json"), Response(200, "<html>error</html>", "Content-Type: application/json"));
        Assert.Equal(DifferenceKind.BodyFormatChanged, Assert.Single(result.Differences).Kind);
    }

    [Fact]
    public void Secrets_are_redacted_and_long_values_truncated_in_examples()
    {
        var options = ComparisonOptions.Default with
        {
            Noise = new NoiseOptions { RedactedFields = ["ssn"], RedactedHeaders = ["x-api-key"] },
            Budget = new ComparisonBudget { MaxExampleChars = 20 },
        };
        var comparer = new ResponseComparer(options);
        var result = comparer.Compare(
            Response(200, $$"""{"ssn":"123-45","profile":{"ssn":"9","name":"a"},"bio":"{{new string('x', 100)}}"}""", "X-Api-Key: k1", "Authorization: Bearer a"),
            Response(200, $$"""{"ssn":"999-99","bio":"{{new string('y', 100)}}"}""", "X-Api-Key: k2", "Authorization: Bearer b"));

        var byField = result.Differences.ToDictionary(d => d.Field);
        Assert.Equal("[redacted]", byField["$.ssn"].Reference);
        Assert.Equal("[redacted]", byField["$.ssn"].Target);
        Assert.DoesNotContain("\"9\"", byField["$.profile"].Reference, StringComparison.Ordinal);
        Assert.Equal("[redacted]", byField["header:x-api-key"].Target);
        Assert.Equal("[redacted]", byField["header:authorization"].Reference);
        Assert.StartsWith("\"xxxxxxxxxxxxxxxxxxx...(+", byField["$.bio"].Reference, StringComparison.Ordinal);
        Assert.DoesNotContain(result.Differences, d => (d.Reference + d.Target).Contains("123-45", StringComparison.Ordinal) || (d.Reference + d.Target).Contains("Bearer", StringComparison.Ordinal));
    }

    [Fact]
    public void Default_secret_fields_are_redacted_in_objects_of_the_same_shape_too()
    {
        var difference = Assert.Single(Comparer.Compare(
            Response(200, """{"auth":{"access_token":"s3cr3t-a","ttl":60}}"""),
            Response(200, """{"auth":{"access_token":"s3cr3t-b","ttl":60}}""")).Differences);
        Assert.Equal(("$.auth.access_token", "[redacted]", "[redacted]"), (difference.Field, difference.Reference, difference.Target));
    }

    [Fact]
    public void Configured_JSON_paths_are_ignored_with_wildcards_and_below()
    {
        var comparer = new ResponseComparer(ComparisonOptions.Default with
        {
            Noise = new NoiseOptions { IgnoredJsonPaths = ["$.items[*].updatedAt", "$.meta"] },
        });
        var result = comparer.Compare(
            Response(200, """{"items":[{"id":1,"updatedAt":"t1"},{"id":2,"updatedAt":"t2"}],"meta":{"took":3}}"""),
            Response(200, """{"items":[{"id":1,"updatedAt":"t9"},{"id":3,"updatedAt":"t8"}],"meta":{"took":5}}"""));

        Assert.Equal("$.items[1].id", Assert.Single(result.Differences).Field);
        Assert.Equal(["$.items[0].updatedAt", "$.items[1].updatedAt", "$.meta"], result.Ignored.Select(i => i.Key));
    }

    [Fact]
    public void Differences_per_pair_are_bounded_and_the_rest_counted()
    {
        var comparer = new ResponseComparer(ComparisonOptions.Default with { Budget = new ComparisonBudget { MaxDifferencesPerPair = 4 } });
        var result = comparer.Compare(
            Response(200, "[" + string.Join(',', Enumerable.Range(0, 100)) + "]"),
            Response(200, "[" + string.Join(',', Enumerable.Range(1000, 100)) + "]"));

        Assert.Equal(4, result.Differences.Count);
        Assert.Equal(96, result.Overflow);
    }
}
