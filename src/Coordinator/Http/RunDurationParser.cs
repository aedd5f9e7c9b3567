using System.Globalization;

namespace ReplayCluster.Coordinator.Http;

/// <summary>
/// Reads a run's duration as people type it: <c>30s</c>, <c>5m</c>, <c>1.5h</c>, <c>500ms</c>, a bare
/// number of seconds, or <c>none</c> for a run that lasts until stopped.
/// </summary>
internal static class RunDurationParser
{
    /// <summary>The longest run: well within what a timer can wait, and longer than any replay we heard of.</summary>
    public static readonly TimeSpan Longest = TimeSpan.FromDays(30);

    private static readonly (string Suffix, double Seconds)[] Units = [("ms", 0.001), ("s", 1), ("m", 60), ("min", 60), ("h", 3600)];

    /// <summary>
    /// Parses <paramref name="text"/>; an absent value (null) gives <paramref name="fallback"/>. On failure
    /// <paramref name="error"/> names the <c>duration</c> parameter and says what would be accepted.
    /// </summary>
    public static bool TryParse(string? text, TimeSpan? fallback, out TimeSpan? duration, out string error)
    {
        duration = fallback;
        error = string.Empty;
        if (text is null)
        {
            return true;
        }

        var value = text.Trim().ToLowerInvariant();
        if (value == "none")
        {
            duration = null;
            return true;
        }

        // Longest suffix first: "ms" and "min" before "s" and "m".
        var (suffix, unit) = Units.OrderByDescending(u => u.Suffix.Length).FirstOrDefault(u => value.EndsWith(u.Suffix, StringComparison.Ordinal));
        var number = suffix is null ? value : value[..^suffix.Length].TrimEnd();
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount))
        {
            error = $"duration: '{text}' is not a duration; use e.g. 30s, 5m, 1.5h or 500ms (a bare number is seconds), or none";
            return false;
        }

        var seconds = amount * (suffix is null ? 1 : unit);
        if (seconds <= 0 || seconds > Longest.TotalSeconds)
        {
            error = $"duration: '{text}' is out of range; a run lasts more than 0 s and at most {Longest.TotalDays:0} days";
            return false;
        }

        duration = TimeSpan.FromSeconds(seconds);
        return true;
    }
}
