namespace ReplayCluster.Memory;

/// <summary>
/// When a node gives the native memory its start left free back to the system: once it has been ready for
/// <c>settle</c> (its start-up and the first calls of its periodic work, most of it the JIT, are then done), or, if
/// it is not ready within <see cref="ReadyWaitLimit"/>, that long after start plus the settle. No I/O, no clock:
/// <see cref="MemoryTrimmer"/> feeds it the time since start and readiness at each tick and waits the delay it
/// returns.
/// </summary>
internal sealed class MemoryTrimPolicy
{
    /// <summary>How often readiness is looked at until the node is ready (start only).</summary>
    public static readonly TimeSpan ReadyPoll = TimeSpan.FromMilliseconds(500);

    /// <summary>A node not ready after this long (no coordinator yet, say) counts as ready and stops polling.</summary>
    public static readonly TimeSpan ReadyWaitLimit = TimeSpan.FromSeconds(60);

    private readonly TimeSpan _settle;
    private Phase _phase = Phase.WaitingForReady;

    /// <param name="settle">How long the node is ready before the trim (longer than zero).</param>
    public MemoryTrimPolicy(TimeSpan settle)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(settle, TimeSpan.Zero);
        _settle = settle;
    }

    private enum Phase { WaitingForReady, Settling, Done }

    /// <summary>
    /// One tick: whether to trim now, and how long until the next tick (null: no more ticks, the trim is done).
    /// </summary>
    /// <param name="sinceStart">Time since the node started.</param>
    /// <param name="ready">Whether the node is ready now (asked only while waiting for it).</param>
    public (bool Trim, TimeSpan? Next) OnTick(TimeSpan sinceStart, Func<bool> ready)
    {
        ArgumentNullException.ThrowIfNull(ready);
        switch (_phase)
        {
            case Phase.WaitingForReady:
                if (sinceStart < ReadyWaitLimit && !ready())
                {
                    return (false, ReadyPoll);
                }

                _phase = Phase.Settling;
                return (false, _settle);

            case Phase.Settling:
                _phase = Phase.Done;
                return (true, null);

            default:
                return (false, null);
        }
    }
}
