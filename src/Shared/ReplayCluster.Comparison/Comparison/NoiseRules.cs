namespace ReplayCluster.Comparison;

/// <summary>Why a field was treated as noise, as the report names it.</summary>
internal static class NoiseReasons
{
    /// <summary>A header in <see cref="NoiseOptions.DefaultIgnoredHeaders"/> or with a request-id-like name.</summary>
    public const string DefaultIgnoredHeader = "ignored by default (changes on every response or describes framing)";

    /// <summary>A header in <see cref="NoiseOptions.IgnoredHeaders"/>.</summary>
    public const string ConfiguredIgnoredHeader = "ignored by configuration (noise.ignored-headers)";

    /// <summary>A JSON path in <see cref="NoiseOptions.IgnoredJsonPaths"/>.</summary>
    public const string ConfiguredIgnoredJsonPath = "ignored by configuration (noise.ignored-json-paths)";

    /// <summary>Learned: it differed between the two references answering the same requests.</summary>
    public const string LearnedFromSecondary = "learned: differs between the primary and secondary reference";

    /// <summary>Learned: it differed between online responses to identical requests.</summary>
    public const string LearnedFromRepeats = "learned: differs between online responses to identical requests";
}

/// <summary>The noise and redaction rules of <see cref="NoiseOptions"/>, compiled once for fast lookups.</summary>
internal sealed class NoiseRules
{
    private const string Redacted = "[redacted]";
    private readonly HashSet<string> _defaultIgnored = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _configuredIgnored = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _redactedHeaders = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _redactedFields = new(StringComparer.OrdinalIgnoreCase);
    private readonly string[] _ignoredJsonPaths;
    private readonly IReadOnlyList<string> _fragments;

    public NoiseRules(NoiseOptions options, int maxExampleChars)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.UseDefaultIgnoredHeaders)
        {
            _defaultIgnored.UnionWith(NoiseOptions.DefaultIgnoredHeaders);
        }

        _fragments = options.UseDefaultIgnoredHeaders ? NoiseOptions.DefaultIgnoredHeaderFragments : [];
        _configuredIgnored.UnionWith(options.IgnoredHeaders);
        _redactedHeaders.UnionWith(NoiseOptions.AlwaysRedactedHeaders);
        _redactedHeaders.UnionWith(options.RedactedHeaders);
        _redactedFields.UnionWith(options.RedactedFields);
        _ignoredJsonPaths = [.. options.IgnoredJsonPaths.Select(NormalizeIndexes)];
        MaxExampleChars = maxExampleChars;
    }

    public int MaxExampleChars { get; }

    /// <summary>Whether any JSON path is ignored (when none is, paths are not even built for equal fields).</summary>
    public bool HasIgnoredJsonPaths => _ignoredJsonPaths.Length > 0;

    /// <summary>Why the header is never compared, or null.</summary>
    public string? IgnoredHeaderReason(string name)
    {
        if (_configuredIgnored.Contains(name))
        {
            return NoiseReasons.ConfiguredIgnoredHeader;
        }

        if (_defaultIgnored.Contains(name))
        {
            return NoiseReasons.DefaultIgnoredHeader;
        }

        foreach (var fragment in _fragments)
        {
            if (name.Contains(fragment, StringComparison.OrdinalIgnoreCase))
            {
                return NoiseReasons.DefaultIgnoredHeader;
            }
        }

        return null;
    }

    /// <summary>Whether the JSON path (or one above it) is configured as ignored; <c>[*]</c> in a rule matches any index.</summary>
    public bool IsIgnoredJsonPath(string path)
    {
        if (_ignoredJsonPaths.Length == 0)
        {
            return false;
        }

        var normalized = NormalizeIndexes(path);
        foreach (var rule in _ignoredJsonPaths)
        {
            if (normalized.StartsWith(rule, StringComparison.Ordinal)
                && (normalized.Length == rule.Length || normalized[rule.Length] is '.' or '['))
            {
                return true;
            }
        }

        return false;
    }

    public bool IsRedactedHeader(string name) => _redactedHeaders.Contains(name);

    public bool IsRedactedField(string name) => _redactedFields.Contains(name);

    /// <summary>A header value as an example may show it: redacted if secret, cut to the example length.</summary>
    public string HeaderExample(string name, string? value) =>
        value is null ? "(absent)" : IsRedactedHeader(name) ? Redacted : Truncate(value);

    /// <summary>A text line as an example may show it: redacted if it names a secret header or field.</summary>
    public string LineExample(string? line)
    {
        if (line is null)
        {
            return "(absent)";
        }

        foreach (var name in _redactedHeaders)
        {
            if (line.Contains(name, StringComparison.OrdinalIgnoreCase))
            {
                return Redacted;
            }
        }

        foreach (var name in _redactedFields)
        {
            if (line.Contains(name, StringComparison.OrdinalIgnoreCase))
            {
                return Redacted;
            }
        }

        return Truncate(line);
    }

    public static string RedactedValue => Redacted;

    public string Truncate(string value) =>
        value.Length <= MaxExampleChars ? value : string.Concat(value.AsSpan(0, MaxExampleChars), $"...(+{value.Length - MaxExampleChars} chars)");

    /// <summary><c>$.items[3].id</c> becomes <c>$.items[*].id</c>.</summary>
    internal static string NormalizeIndexes(string path)
    {
        if (!path.Contains('[', StringComparison.Ordinal))
        {
            return path;
        }

        var builder = new System.Text.StringBuilder(path.Length);
        for (var i = 0; i < path.Length; i++)
        {
            if (path[i] == '[' && i + 1 < path.Length && char.IsAsciiDigit(path[i + 1]))
            {
                var close = path.IndexOf(']', i);
                if (close > 0)
                {
                    builder.Append("[*]");
                    i = close;
                    continue;
                }
            }

            builder.Append(path[i]);
        }

        return builder.ToString();
    }
}
