using System.Diagnostics;

namespace ReplayCluster.Tests.TestSupport;

/// <summary>
/// When each timer a test arms is due: its delay after the scheduler read the clock, which lies between the test's
/// readings just before and just after the arming call. A slow machine may stall in between (the first call compiles
/// the scheduler) for longer than two delays differ, which reorders them; due order is the contract, so two timers are
/// compared only where those windows do not overlap.
/// </summary>
internal sealed class DueWindows(Stopwatch clock)
{
    private readonly Dictionary<int, (double Earliest, double Latest)> _due = [];

    /// <summary>The window in which timer <paramref name="key"/> is due, in ms of the test's clock.</summary>
    public (double Earliest, double Latest) this[int key] => _due[key];

    /// <summary>Arms timer <paramref name="key"/> with <paramref name="arm"/>, due <paramref name="delayMs"/> after it reads the clock.</summary>
    public void Arm(int key, double delayMs, Action arm)
    {
        ArgumentNullException.ThrowIfNull(arm);
        var before = clock.Elapsed.TotalMilliseconds;
        arm();
        _due[key] = (before + delayMs, clock.Elapsed.TotalMilliseconds + delayMs);
    }

    /// <summary>
    /// Fails unless every timer in <paramref name="fired"/> (in the order they fired) was, when it fired, not due after
    /// a later one for certain, beyond the <paramref name="grainMs"/> both are rounded up to.
    /// </summary>
    public void AssertFiredInDueOrder(IReadOnlyList<int> fired, double grainMs)
    {
        ArgumentNullException.ThrowIfNull(fired);
        for (var i = 0; i < fired.Count; i++)
        {
            for (var j = i + 1; j < fired.Count; j++)
            {
                Assert.True(_due[fired[i]].Earliest <= _due[fired[j]].Latest + grainMs, $"{fired[i]} fired before {fired[j]}, though due after it ({this})");
            }
        }
    }

    public override string ToString() => string.Join(", ", _due.Select(d => $"{d.Key}: due {d.Value.Earliest:F1}-{d.Value.Latest:F1} ms"));
}
