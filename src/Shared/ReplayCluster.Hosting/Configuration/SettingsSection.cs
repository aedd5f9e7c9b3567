using System.Globalization;
using Akka.Configuration;

namespace ReplayCluster.Configuration;

/// <summary>
/// One HOCON section read with the checks every node applies: the one settings reader behind the node, capture,
/// intercept, coordinator, HTTP API and health settings. Every refusal is a <see cref="NodeConfigurationException"/>
/// that names the setting by its full path and quotes the value, whatever HOCON itself threw.
/// </summary>
/// <remarks>
/// A setting the reference HOCON always carries (hocon/*.hocon) is read with the plain methods; an empty or missing
/// one is refused as required. The <c>Optional</c> forms are for settings whose absence means something (off, the
/// plan leaves it to the node).
/// </remarks>
public readonly struct SettingsSection
{
    private readonly Config _config;

    public SettingsSection(Config config, string section)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentException.ThrowIfNullOrEmpty(section);
        _config = config;
        Name = section;
    }

    /// <summary>The section's path, e.g. <c>replaycluster.capture</c>.</summary>
    public string Name { get; }

    /// <summary>The full path of <paramref name="key"/> (what refusals name).</summary>
    public string PathOf(string key) => $"{Name}.{key}";

    public bool Has(string key) => _config.HasPath(PathOf(key));

    /// <summary>The trimmed value; null when missing, empty or not a single value.</summary>
    public string? OptionalText(string key)
    {
        string? value;
        try
        {
            // HOCON reads a list or an object as an empty string rather than refusing it.
            if (_config.HasPath(PathOf(key)) && _config.GetValue(PathOf(key)) is { } raw && (raw.IsArray() || raw.IsObject()))
            {
                throw new FormatException($"'{raw}' is a {(raw.IsArray() ? "list" : "section")}");
            }

            value = _config.GetString(PathOf(key), string.Empty);
        }
        catch (Exception ex) when (ex is not NodeConfigurationException)
        {
            throw NodeConfigurationException.ForSetting(PathOf(key), $"expected a single value: {ex.Message}", ex);
        }

        return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
    }

    public string Text(string key) =>
        OptionalText(key) ?? throw NodeConfigurationException.ForSetting(PathOf(key), "is required and empty");

    /// <summary>A HOCON list; empty when missing.</summary>
    public IReadOnlyList<string> List(string key)
    {
        try
        {
            return Has(key) ? [.. _config.GetStringList(PathOf(key)) ?? []] : [];
        }
        catch (Exception ex) when (ex is not NodeConfigurationException)
        {
            throw NodeConfigurationException.ForSetting(PathOf(key), $"is not a list: {ex.Message}", ex);
        }
    }

    /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public int Number(string key, int min, int max)
    {
        var text = OptionalText(key) ?? string.Empty;
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw NodeConfigurationException.ForSetting(PathOf(key), $"'{text}' is not a whole number from {min} to {max}");
    }

    /// <summary>A TCP port, 0 to 65535; <paramref name="zeroMeans"/> says what 0 does (refusals name it).</summary>
    public int Port(string key, string zeroMeans)
    {
        var text = OptionalText(key) ?? string.Empty;
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port <= 65535
            ? port
            : throw NodeConfigurationException.ForSetting(PathOf(key), $"'{text}' is not a port number (0 = {zeroMeans}, 1-65535)");
    }

    /// <summary>A number from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public double Real(string key, double min, double max)
    {
        var text = OptionalText(key) ?? string.Empty;
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw NodeConfigurationException.ForSetting(PathOf(key), $"'{text}' is not a number from {min} to {max}");
    }

    /// <summary>A size (<c>64 MiB</c>, <c>131072</c>) from <paramref name="min"/> to <paramref name="max"/> bytes.</summary>
    public long Bytes(string key, long min, long max)
    {
        var text = Text(key);
        long? value;
        try
        {
            value = _config.GetByteSize(PathOf(key));
        }
        catch (Exception ex)
        {
            throw NodeConfigurationException.ForSetting(PathOf(key), $"'{text}' is not a size (e.g. 64 MiB)", ex);
        }

        return value is { } bytes && bytes >= min && bytes <= max
            ? bytes
            : throw NodeConfigurationException.ForSetting(PathOf(key), $"'{text}' must be between {min} and {max} bytes");
    }

    /// <summary>A duration longer than zero (<c>30s</c>, <c>500ms</c>).</summary>
    public TimeSpan Duration(string key)
    {
        var value = AnyDuration(key);
        return value > TimeSpan.Zero
            ? value
            : throw NodeConfigurationException.ForSetting(PathOf(key), $"'{Text(key)}' must be longer than zero");
    }

    /// <summary>A duration from <paramref name="min"/> to <paramref name="max"/> (zero allowed when <paramref name="min"/> is).</summary>
    public TimeSpan Duration(string key, TimeSpan min, TimeSpan max)
    {
        var value = AnyDuration(key);
        return value >= min && value <= max
            ? value
            : throw NodeConfigurationException.ForSetting(PathOf(key), $"'{Text(key)}' must be from {DurationText.Format(min)} to {DurationText.Format(max)}");
    }

    /// <summary><c>on</c>/<c>off</c> (or true/false, yes/no); <paramref name="fallback"/> when missing.</summary>
    public bool Flag(string key, bool fallback)
    {
        try
        {
            return _config.GetBoolean(PathOf(key), fallback);
        }
        catch (Exception ex)
        {
            throw NodeConfigurationException.ForSetting(PathOf(key), $"'{OptionalText(key)}' is not on or off", ex);
        }
    }

    private TimeSpan AnyDuration(string key)
    {
        var text = Text(key);
        try
        {
            return _config.GetTimeSpan(PathOf(key), allowInfinite: false);
        }
        catch (Exception ex)
        {
            throw NodeConfigurationException.ForSetting(PathOf(key), $"'{text}' is not a duration (e.g. 30s, 500ms)", ex);
        }
    }
}
