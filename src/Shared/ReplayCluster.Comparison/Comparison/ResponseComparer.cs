using System.Globalization;
using System.Text;
using System.Text.Json;

namespace ReplayCluster.Comparison;

/// <summary>What kind of difference a field shows.</summary>
internal enum DifferenceKind
{
    /// <summary>The status codes differ.</summary>
    Status,

    /// <summary>A header's value differs (names compared case-insensitively; for Set-Cookie only the cookie names).</summary>
    HeaderChanged,

    /// <summary>The reference has the header, the target not.</summary>
    HeaderMissing,

    /// <summary>The target has a header the reference has not.</summary>
    HeaderAdded,

    /// <summary>A JSON value differs (same JSON type).</summary>
    ValueChanged,

    /// <summary>A JSON value changed type (a number became a string, an object null...).</summary>
    TypeChanged,

    /// <summary>The reference has the JSON field or array item, the target not.</summary>
    FieldMissing,

    /// <summary>The target has a JSON field or array item the reference has not.</summary>
    FieldAdded,

    /// <summary>A line of a text body differs.</summary>
    LineChanged,

    /// <summary>A text body has a different number of lines.</summary>
    LineCountChanged,

    /// <summary>Bodies compared by hash differ (binary, too large, or undecodable).</summary>
    BodyChanged,

    /// <summary>One body is JSON and the other is not.</summary>
    BodyFormatChanged,

    /// <summary>One side speaks HTTP and the other not, or one side's response could not be parsed.</summary>
    ProtocolChanged,

    /// <summary>A non-HTTP response has a different length.</summary>
    LengthChanged,
}

/// <summary>One field that differs: its path (<c>status</c>, <c>header:content-type</c>, <c>$.user.age</c>, <c>body:line[3]</c>), the kind, and both values, truncated and redacted.</summary>
internal sealed record Difference(string Field, DifferenceKind Kind, string? Reference, string? Target);

/// <summary>The differences of one pair of responses, and the fields that differed but are never compared (with why).</summary>
internal sealed class PairComparison
{
    internal PairComparison(int maxDifferences) => MaxDifferences = maxDifferences;

    public List<Difference> Differences { get; } = [];

    /// <summary>Fields that differed but are ignored, with the rule that ignores them.</summary>
    public List<KeyValuePair<string, string>> Ignored { get; } = [];

    /// <summary>Differences beyond <see cref="ComparisonBudget.MaxDifferencesPerPair"/>, counted only.</summary>
    public int Overflow { get; internal set; }

    internal int MaxDifferences { get; }

    internal bool Full => Differences.Count >= MaxDifferences;

    internal void Add(Difference difference)
    {
        if (Full)
        {
            Overflow++;
        }
        else
        {
            Differences.Add(difference);
        }
    }
}

/// <summary>
/// Compares a reference response with a target response: status, headers (case-insensitive names, ignored headers
/// skipped but noted), and body: JSON structurally field by field (arrays by index), other UTF-8 text line by line,
/// anything else by hash. Equal body hashes skip the body walk. Values in the result are truncated and redacted.
/// Stateless apart from its rules; safe to share.
/// </summary>
internal sealed class ResponseComparer
{
    private static readonly JsonDocumentOptions JsonOptions = new() { MaxDepth = 64, AllowTrailingCommas = false };
    private readonly NoiseRules _rules;
    private readonly int _maxDifferences;

    public ResponseComparer(ComparisonOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _rules = new NoiseRules(options.Noise, options.Budget.MaxExampleChars);
        _maxDifferences = options.Budget.MaxDifferencesPerPair;
    }

    internal NoiseRules Rules => _rules;

    /// <summary>Compares two exchanges (reference first). Refused or dropped exchanges are the caller's to filter.</summary>
    public PairComparison Compare(Exchange reference, Exchange target)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(target);
        var result = new PairComparison(_maxDifferences);
        if (reference.Opaque is { } a && target.Opaque is { } b)
        {
            if (a.ResponseBytes != b.ResponseBytes)
            {
                result.Add(new Difference("response:length", DifferenceKind.LengthChanged, Bytes(a.ResponseBytes), Bytes(b.ResponseBytes)));
            }
            else if (a.ResponseHash != b.ResponseHash)
            {
                result.Add(new Difference("response:hash", DifferenceKind.BodyChanged, Fnv64.Format(a.ResponseHash), Fnv64.Format(b.ResponseHash)));
            }

            return result;
        }

        if (reference.Response is not { } r)
        {
            return result;
        }

        if (target.Response is not { } t)
        {
            var what = target.Refusal is { } refusal ? "unparseable: " + ComparisonCounters.NameOf(refusal) : target.Opaque is not null ? "not HTTP" : "no response";
            result.Add(new Difference("response", DifferenceKind.ProtocolChanged, $"HTTP {r.Status}", what));
            return result;
        }

        Compare(r, t, result);
        return result;
    }

    /// <summary>Compares two HTTP responses (reference first).</summary>
    public PairComparison Compare(HttpResponse reference, HttpResponse target)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(target);
        var result = new PairComparison(_maxDifferences);
        Compare(reference, target, result);
        return result;
    }

    private void Compare(HttpResponse reference, HttpResponse target, PairComparison result)
    {
        if (reference.Status != target.Status)
        {
            result.Add(new Difference("status", DifferenceKind.Status, reference.Status.ToString(CultureInfo.InvariantCulture), target.Status.ToString(CultureInfo.InvariantCulture)));
        }

        CompareHeaders(reference.Headers, target.Headers, result);
        CompareBodies(reference, target, result);
    }

    private void CompareHeaders(HttpHeaderList reference, HttpHeaderList target, PairComparison result)
    {
        var left = HeaderMap(reference);
        var right = HeaderMap(target);
        foreach (var (name, value) in left)
        {
            right.TryGetValue(name, out var other);
            if (string.Equals(value, other, StringComparison.Ordinal))
            {
                continue;
            }

            var field = "header:" + name.ToLowerInvariant();
            if (_rules.IgnoredHeaderReason(name) is { } reason)
            {
                result.Ignored.Add(new(field, reason));
                continue;
            }

            result.Add(new Difference(field, other is null ? DifferenceKind.HeaderMissing : DifferenceKind.HeaderChanged,
                _rules.HeaderExample(name, value), _rules.HeaderExample(name, other)));
        }

        foreach (var (name, value) in right)
        {
            if (left.ContainsKey(name))
            {
                continue;
            }

            var field = "header:" + name.ToLowerInvariant();
            if (_rules.IgnoredHeaderReason(name) is { } reason)
            {
                result.Ignored.Add(new(field, reason));
                continue;
            }

            result.Add(new Difference(field, DifferenceKind.HeaderAdded, "(absent)", _rules.HeaderExample(name, value)));
        }
    }

    /// <summary>
    /// Name (case-insensitive) to joined values, in the order of first appearance; Set-Cookie reduced to its cookie names
    /// (values change per response). Names are lower-cased only when a difference is reported.
    /// </summary>
    private static Dictionary<string, string> HeaderMap(HttpHeaderList headers)
    {
        var map = new Dictionary<string, string>(headers.Count, StringComparer.OrdinalIgnoreCase);
        foreach (var (name, rawValue) in headers.Fields)
        {
            var value = rawValue;
            if (name.Equals("set-cookie", StringComparison.OrdinalIgnoreCase))
            {
                var equals = value.IndexOf('=', StringComparison.Ordinal);
                value = equals < 0 ? value : value[..equals].Trim();
            }

            map[name] = map.TryGetValue(name, out var existing) ? existing + ", " + value : value;
        }

        return map;
    }

    private void CompareBodies(HttpResponse reference, HttpResponse target, PairComparison result)
    {
        if (reference.BodyLength == target.BodyLength && reference.BodyHash == target.BodyHash)
        {
            return;
        }

        if (reference.Completeness != BodyCompleteness.Whole || target.Completeness != BodyCompleteness.Whole)
        {
            result.Add(new Difference("body", DifferenceKind.BodyChanged, BodyFingerprint(reference), BodyFingerprint(target)));
            return;
        }

        var left = reference.Body.Span;
        var right = target.Body.Span;
        var leftJson = LooksLikeJson(reference.Headers, left) ? TryParseJson(reference.Body) : null;
        var rightJson = LooksLikeJson(target.Headers, right) ? TryParseJson(target.Body) : null;
        try
        {
            if (leftJson is not null && rightJson is not null)
            {
                CompareJson(new StringBuilder("$", 64), leftJson.RootElement, rightJson.RootElement, redacted: false, result);
                return;
            }

            if (leftJson is not null || rightJson is not null)
            {
                result.Add(new Difference("body", DifferenceKind.BodyFormatChanged, leftJson is null ? "not JSON" : "JSON", rightJson is null ? "not JSON" : "JSON"));
                return;
            }
        }
        finally
        {
            leftJson?.Dispose();
            rightJson?.Dispose();
        }

        if (IsText(left) && IsText(right))
        {
            CompareLines(Encoding.UTF8.GetString(left), Encoding.UTF8.GetString(right), result);
            return;
        }

        result.Add(new Difference("body", DifferenceKind.BodyChanged, BodyFingerprint(reference), BodyFingerprint(target)));
    }

    /// <summary>
    /// Walks both trees together. The path is one builder, extended and cut back as the walk goes, and made a string
    /// only for a difference or an ignore rule: equal fields, the common case, allocate nothing.
    /// </summary>
    private void CompareJson(StringBuilder path, JsonElement left, JsonElement right, bool redacted, PairComparison result)
    {
        if (result.Full)
        {
            result.Overflow++;
            return;
        }

        if (_rules.HasIgnoredJsonPaths && _rules.IsIgnoredJsonPath(path.ToString()))
        {
            if (!JsonEqual(left, right))
            {
                result.Ignored.Add(new(path.ToString(), NoiseReasons.ConfiguredIgnoredJsonPath));
            }

            return;
        }

        if (left.ValueKind != right.ValueKind && !(IsBoolean(left) && IsBoolean(right)))
        {
            result.Add(new Difference(path.ToString(), DifferenceKind.TypeChanged, JsonExample(left, redacted), JsonExample(right, redacted)));
            return;
        }

        switch (left.ValueKind)
        {
            case JsonValueKind.Object:
                if (!CompareObjectsInOrder(path, left, right, redacted, result))
                {
                    CompareObjectsByName(path, left, right, redacted, result);
                }

                break;
            case JsonValueKind.Array:
                {
                    // Walked with enumerators in step: indexing an array of objects is a scan in JsonDocument.
                    var leftLength = left.GetArrayLength();
                    var rightLength = right.GetArrayLength();
                    var longest = Math.Max(leftLength, rightLength);
                    var a = left.EnumerateArray();
                    var b = right.EnumerateArray();
                    var mark = path.Length;
                    for (var i = 0; i < longest; i++)
                    {
                        var hasLeft = a.MoveNext();
                        var hasRight = b.MoveNext();
                        if (result.Full)
                        {
                            result.Overflow += longest - i;
                            return;
                        }

                        path.Append('[').Append(i).Append(']');
                        if (hasLeft && hasRight)
                        {
                            CompareJson(path, a.Current, b.Current, redacted, result);
                        }
                        else if (!_rules.HasIgnoredJsonPaths || !_rules.IsIgnoredJsonPath(path.ToString()))
                        {
                            result.Add(hasLeft
                                ? new Difference(path.ToString(), DifferenceKind.FieldMissing, JsonExample(a.Current, redacted), "(absent)")
                                : new Difference(path.ToString(), DifferenceKind.FieldAdded, "(absent)", JsonExample(b.Current, redacted)));
                        }

                        path.Length = mark;
                    }

                    break;
                }

            default:
                if (!JsonEqual(left, right))
                {
                    result.Add(new Difference(path.ToString(), DifferenceKind.ValueChanged, JsonExample(left, redacted), JsonExample(right, redacted)));
                }

                break;
        }
    }

    /// <summary>Objects that list the same names in the same order (what one app version usually sends) compare without a lookup table; false if they do not.</summary>
    private bool CompareObjectsInOrder(StringBuilder path, JsonElement left, JsonElement right, bool redacted, PairComparison result)
    {
        if (left.GetPropertyCount() != right.GetPropertyCount())
        {
            return false;
        }

        var a = left.EnumerateObject();
        var b = right.EnumerateObject();
        while (a.MoveNext() && b.MoveNext())
        {
            if (!a.Current.NameEquals(b.Current.Name))
            {
                return false;
            }
        }

        var mark = path.Length;
        a = left.EnumerateObject();
        b = right.EnumerateObject();
        while (a.MoveNext() && b.MoveNext())
        {
            AppendName(path, a.Current.Name);
            CompareJson(path, a.Current.Value, b.Current.Value, redacted || _rules.IsRedactedField(a.Current.Name), result);
            path.Length = mark;
        }

        return true;
    }

    private void CompareObjectsByName(StringBuilder path, JsonElement left, JsonElement right, bool redacted, PairComparison result)
    {
        var rightFields = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var property in right.EnumerateObject())
        {
            rightFields[property.Name] = property.Value;
        }

        var mark = path.Length;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in left.EnumerateObject())
        {
            if (!seen.Add(property.Name))
            {
                continue;
            }

            AppendName(path, property.Name);
            var childRedacted = redacted || _rules.IsRedactedField(property.Name);
            if (rightFields.TryGetValue(property.Name, out var other))
            {
                CompareJson(path, property.Value, other, childRedacted, result);
            }
            else if (!_rules.HasIgnoredJsonPaths || !_rules.IsIgnoredJsonPath(path.ToString()))
            {
                result.Add(new Difference(path.ToString(), DifferenceKind.FieldMissing, JsonExample(property.Value, childRedacted), "(absent)"));
            }

            path.Length = mark;
        }

        foreach (var (name, value) in rightFields)
        {
            if (seen.Contains(name))
            {
                continue;
            }

            AppendName(path, name);
            if (!_rules.HasIgnoredJsonPaths || !_rules.IsIgnoredJsonPath(path.ToString()))
            {
                result.Add(new Difference(path.ToString(), DifferenceKind.FieldAdded, "(absent)", JsonExample(value, redacted || _rules.IsRedactedField(name))));
            }

            path.Length = mark;
        }
    }

    private void CompareLines(string left, string right, PairComparison result)
    {
        var leftLines = left.Split('\n');
        var rightLines = right.Split('\n');
        if (leftLines.Length != rightLines.Length)
        {
            result.Add(new Difference("body:lines", DifferenceKind.LineCountChanged,
                leftLines.Length.ToString(CultureInfo.InvariantCulture), rightLines.Length.ToString(CultureInfo.InvariantCulture)));
        }

        for (var i = 0; i < Math.Min(leftLines.Length, rightLines.Length); i++)
        {
            var a = leftLines[i].TrimEnd('\r');
            var b = rightLines[i].TrimEnd('\r');
            if (!string.Equals(a, b, StringComparison.Ordinal))
            {
                if (result.Full)
                {
                    result.Overflow++;
                    continue;
                }

                result.Add(new Difference(string.Create(CultureInfo.InvariantCulture, $"body:line[{i + 1}]"), DifferenceKind.LineChanged, _rules.LineExample(a), _rules.LineExample(b)));
            }
        }
    }

    private string JsonExample(JsonElement value, bool redacted)
    {
        if (redacted)
        {
            return NoiseRules.RedactedValue;
        }

        return value.ValueKind switch
        {
            JsonValueKind.Object => _rules.Truncate(RedactedRaw(value)),
            JsonValueKind.Array => _rules.Truncate(RedactedRaw(value)),
            _ => _rules.Truncate(value.GetRawText()),
        };
    }

    /// <summary>An object or array shown whole, with redacted fields' values replaced (a missing object may hold a password).</summary>
    private string RedactedRaw(JsonElement value)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            WriteRedacted(writer, value, depth: 0);
        }

        return Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
    }

    private void WriteRedacted(Utf8JsonWriter writer, JsonElement value, int depth)
    {
        // Examples are cut at a few hundred characters anyway; deep structures are elided, not walked.
        if (depth > 8 || writer.BytesPending > _rules.MaxExampleChars * 4)
        {
            writer.WriteStringValue("...");
            return;
        }

        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                writer.WriteStartObject();
                foreach (var property in value.EnumerateObject())
                {
                    writer.WritePropertyName(property.Name);
                    if (_rules.IsRedactedField(property.Name))
                    {
                        writer.WriteStringValue(NoiseRules.RedactedValue);
                    }
                    else
                    {
                        WriteRedacted(writer, property.Value, depth + 1);
                    }
                }

                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in value.EnumerateArray())
                {
                    WriteRedacted(writer, item, depth + 1);
                }

                writer.WriteEndArray();
                break;
            default:
                value.WriteTo(writer);
                break;
        }
    }

    private static bool JsonEqual(JsonElement left, JsonElement right)
    {
        if (left.ValueKind == JsonValueKind.Number && right.ValueKind == JsonValueKind.Number)
        {
            var a = left.GetRawText();
            var b = right.GetRawText();
            // 1.0 and 1 are the same number; compare as decimals when both fit, as text otherwise.
            return a == b || (decimal.TryParse(a, NumberStyles.Float, CultureInfo.InvariantCulture, out var x)
                && decimal.TryParse(b, NumberStyles.Float, CultureInfo.InvariantCulture, out var y) && x == y);
        }

        if (left.ValueKind == JsonValueKind.String && right.ValueKind == JsonValueKind.String)
        {
            return left.ValueEquals(right.GetString());
        }

        if (left.ValueKind != right.ValueKind)
        {
            return false;
        }

        return left.ValueKind is JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null
            || JsonElement.DeepEquals(left, right);
    }

    private static bool IsBoolean(JsonElement value) => value.ValueKind is JsonValueKind.True or JsonValueKind.False;

    private static void AppendName(StringBuilder path, string name)
    {
        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
            {
                path.Append("['").Append(name.Replace("'", "\\'", StringComparison.Ordinal)).Append("']");
                return;
            }
        }

        if (name.Length == 0)
        {
            path.Append("['']");
        }
        else
        {
            path.Append('.').Append(name);
        }
    }

    private static bool LooksLikeJson(HttpHeaderList headers, ReadOnlySpan<byte> body)
    {
        var type = headers.Get("content-type");
        if (type is not null && type.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        var trimmed = body.TrimStart(" \t\r\n"u8);
        return !trimmed.IsEmpty && trimmed[0] is (byte)'{' or (byte)'[';
    }

    private static JsonDocument? TryParseJson(ReadOnlyMemory<byte> body)
    {
        try
        {
            return JsonDocument.Parse(body, JsonOptions);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static bool IsText(ReadOnlySpan<byte> body) =>
        System.Text.Unicode.Utf8.IsValid(body) && !body.Contains((byte)0);

    private static string BodyFingerprint(HttpResponse response) =>
        string.Create(CultureInfo.InvariantCulture, $"{response.BodyLength} bytes, hash {Fnv64.Format(response.BodyHash)}");

    private static string Bytes(long count) => string.Create(CultureInfo.InvariantCulture, $"{count} bytes");
}
