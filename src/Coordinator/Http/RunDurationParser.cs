using ReplayCluster.Configuration;

namespace ReplayCluster.Coordinator.Http;

/// <summary>
/// Reads a run's duration the way the plan API reads durations (<see cref="DurationText"/>: <c>30s</c>,
/// <c>10m</c>, <c>1.5h</c>, <c>500ms</c>), or <c>none</c> for a run that lasts until stopped.
/// </summary>
internal static class RunDurationParser
{
    /// <summary>The longest run, the same bound as the plan's runDuration.</summary>
    public static readonly TimeSpan Longest = ReplayCluster.Plans.ReplayPlanValidator.LongestRun;

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

        if (string.Equals(text.Trim(), "none", StringComparison.OrdinalIgnoreCase))
        {
            duration = null;
            return true;
        }

        if (!DurationText.TryParse(text, out var value))
        {
            error = $"duration: '{text}' is not a duration; use a number and a unit, e.g. 30s, 10m, 1.5h or 500ms, or none";
            return false;
        }

        if (value <= TimeSpan.Zero || value > Longest)
        {
            error = $"duration: '{text}' is out of range; a run lasts more than 0 s and at most {Longest.TotalDays:0} days";
            return false;
        }

        duration = value;
        return true;
    }
}
