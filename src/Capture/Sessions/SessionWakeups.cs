using Akka.Actor;

namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// A shard's far deadlines of its sessions: one entry (actor, moment) per session at most, woken by the shard's
/// scan every <see cref="Resolution"/>, up to one resolution early (a session woken early re-arms: the rest of
/// the wait goes on Akka's scheduler, precise). An idle keep-alive session waits minutes for its deadline;
/// one scheduled tell of Akka's scheduler per session held ~230 bytes (registration, cancellation token and
/// source, the message) for that whole time, an entry here ~30.
/// </summary>
/// <remarks>
/// Thread-safe: the sessions arm and forget from their threads (their shard's, unless shard threads are off),
/// the shard scans from its own. A session is forgotten when it stops, so nothing here outlives its actor.
/// The scan walks every entry: ~100,000 entries cost well under a millisecond per second.
/// </remarks>
internal sealed class SessionWakeups
{
    /// <summary>How often the shard wakes the due sessions (and how early one may be woken).</summary>
    public static readonly TimeSpan Resolution = TimeSpan.FromSeconds(1);

    /// <summary>Deadlines at least this far ahead are kept here; nearer ones go on Akka's scheduler.</summary>
    public static readonly TimeSpan FarAhead = 3 * Resolution;

    private readonly Dictionary<IActorRef, long> _due = [];
    private readonly Lock _lock = new();

    /// <summary>Sessions with a wake-up here.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _due.Count;
            }
        }
    }

    /// <summary>Wakes <paramref name="session"/> at (up to <see cref="Resolution"/> before) <paramref name="utcTicks"/>, replacing its earlier wish.</summary>
    public void WakeAt(IActorRef session, long utcTicks)
    {
        lock (_lock)
        {
            _due[session] = utcTicks;
        }
    }

    /// <summary>The session stopped: no wake-up for it any more.</summary>
    public void Forget(IActorRef session)
    {
        lock (_lock)
        {
            _due.Remove(session);
        }
    }

    /// <summary>Takes out every session due by <paramref name="utcTicks"/> plus <see cref="Resolution"/> (the next scan would be late for them).</summary>
    public void TakeDue(long utcTicks, List<IActorRef> due)
    {
        ArgumentNullException.ThrowIfNull(due);
        var limit = utcTicks + Resolution.Ticks;
        lock (_lock)
        {
            foreach (var (session, at) in _due)
            {
                if (at <= limit)
                {
                    // Removing the current entry does not disturb the enumeration (.NET Core 3.0 on).
                    _due.Remove(session);
                    due.Add(session);
                }
            }
        }
    }
}
