namespace ReplayCluster.Comparison;

/// <summary>Why comparison options were refused: the setting (as named in <see cref="ComparisonOptions"/>) and what is wrong.</summary>
public sealed record ComparisonOptionsError(string Setting, string Problem)
{
    public override string ToString() => $"{Setting}: {Problem}";
}

/// <summary>Checks <see cref="ComparisonOptions"/> apart from the model; every problem is reported by setting name.</summary>
public static class ComparisonOptionsValidator
{
    /// <summary>The largest per-message bound: a compared body of more than 64 MiB is never what sampling means.</summary>
    public const int MaxBytesBound = 64 * 1024 * 1024;

    public static IReadOnlyList<ComparisonOptionsError> Validate(ComparisonOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<ComparisonOptionsError>();
        var p = options.Parser;
        Range(errors, "parser.max-header-bytes", p.MaxHeaderBytes, 256, MaxBytesBound);
        Range(errors, "parser.max-stream-buffer-bytes", p.MaxStreamBufferBytes, p.MaxHeaderBytes, MaxBytesBound, "at least parser.max-header-bytes");
        Range(errors, "parser.max-header-count", p.MaxHeaderCount, 1, 10_000);
        Range(errors, "parser.max-body-bytes", p.MaxBodyBytes, 0, MaxBytesBound);
        Range(errors, "parser.max-decoded-body-bytes", p.MaxDecodedBodyBytes, 0, MaxBytesBound);
        Range(errors, "parser.max-request-line-bytes", p.MaxRequestLineBytes, 16, p.MaxStreamBufferBytes, "at most parser.max-stream-buffer-bytes");

        var n = options.Noise;
        if (n.AbsoluteThreshold is < 0 or > 1 || double.IsNaN(n.AbsoluteThreshold))
        {
            errors.Add(new("noise.absolute-threshold", $"{n.AbsoluteThreshold} is not a rate between 0 and 1"));
        }

        if (n.RelativeThreshold is < 0 or > 100 || double.IsNaN(n.RelativeThreshold))
        {
            errors.Add(new("noise.relative-threshold", $"{n.RelativeThreshold} is not between 0 and 100"));
        }

        Names(errors, "noise.ignored-headers", n.IgnoredHeaders);
        Names(errors, "noise.redacted-headers", n.RedactedHeaders);
        Names(errors, "noise.redacted-fields", n.RedactedFields);
        foreach (var path in n.IgnoredJsonPaths ?? [])
        {
            if (string.IsNullOrEmpty(path) || path[0] != '$')
            {
                errors.Add(new("noise.ignored-json-paths", $"'{path}' is not a JSON path such as $.meta.generatedAt"));
            }
        }

        var b = options.Budget;
        Range(errors, "budget.max-pending-exchanges", b.MaxPendingExchanges, 0, 1_000_000);
        if (b.MaxPendingBodyBytes is < 0 or > 16L * 1024 * 1024 * 1024)
        {
            errors.Add(new("budget.max-pending-body-bytes", $"{b.MaxPendingBodyBytes} is not between 0 and 16 GiB"));
        }

        Range(errors, "budget.max-remembered-responses", b.MaxRememberedResponses, 0, 1_000_000);
        Range(errors, "budget.max-remembered-body-bytes", b.MaxRememberedBodyBytes, 0, MaxBytesBound);
        Range(errors, "budget.max-differences-per-pair", b.MaxDifferencesPerPair, 1, 10_000);
        Range(errors, "budget.max-endpoints", b.MaxEndpoints, 1, 100_000);
        Range(errors, "budget.max-fields-per-endpoint", b.MaxFieldsPerEndpoint, 1, 10_000);
        Range(errors, "budget.max-difference-sets-per-endpoint", b.MaxDifferenceSetsPerEndpoint, 0, 10_000);
        Range(errors, "budget.max-example-chars", b.MaxExampleChars, 8, 100_000);
        return errors;
    }

    private static void Range(List<ComparisonOptionsError> errors, string setting, long value, long min, long max, string? why = null)
    {
        if (value < min || value > max)
        {
            errors.Add(new(setting, $"{value} is not between {min} and {max}" + (why is null ? string.Empty : $" ({why})")));
        }
    }

    private static void Names(List<ComparisonOptionsError> errors, string setting, IReadOnlyList<string>? names)
    {
        if (names is null)
        {
            errors.Add(new(setting, "is null (use an empty list)"));
            return;
        }

        foreach (var name in names)
        {
            if (string.IsNullOrWhiteSpace(name) || name.Any(char.IsWhiteSpace) || name.Contains(':', StringComparison.Ordinal))
            {
                errors.Add(new(setting, $"'{name}' is not a name"));
            }
        }
    }
}
