using System.Globalization;

namespace ReplayCluster.Configuration;

/// <summary>
/// Durations as people type them in the plan API and on command lines: a number and a unit
/// (<c>500ms</c>, <c>30s</c>, <c>10m</c>, <c>2h</c>, <c>1d</c>), the subset of HOCON's durations
/// that cannot be misread. Formatted back in the largest unit that keeps the value whole.
/// </summary>
public static class DurationText
{
    private static readonly (string Unit, TimeSpan Size)[] Units =
    [
        ("d", TimeSpan.FromDays(1)),
        ("h", TimeSpan.FromHours(1)),
        ("m", TimeSpan.FromMinutes(1)),
        ("s", TimeSpan.FromSeconds(1)),
        ("ms", TimeSpan.FromMilliseconds(1)),
    ];

    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = default;
        text = text?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        var split = text.Length;
        while (split > 0 && char.IsAsciiLetter(text[split - 1]))
        {
            split--;
        }

        var unit = text[split..].ToLowerInvariant();
        if (!double.TryParse(text[..split].TrimEnd(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
        {
            return false;
        }

        foreach (var (name, size) in Units)
        {
            if (name == unit)
            {
                var ticks = number * size.Ticks;
                if (ticks > TimeSpan.MaxValue.Ticks)
                {
                    return false;
                }

                value = TimeSpan.FromTicks((long)ticks);
                return true;
            }
        }

        return false;
    }

    public static string Format(TimeSpan value)
    {
        if (value == TimeSpan.Zero)
        {
            return "0s"; // every unit divides zero; the largest, "0d", reads oddly
        }

        foreach (var (name, size) in Units)
        {
            if (value.Ticks % size.Ticks == 0)
            {
                return string.Create(CultureInfo.InvariantCulture, $"{value.Ticks / size.Ticks}{name}");
            }
        }

        return string.Create(CultureInfo.InvariantCulture, $"{value.TotalMilliseconds}ms");
    }
}
