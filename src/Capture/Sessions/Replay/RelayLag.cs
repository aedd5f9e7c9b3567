using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// How far behind the reply relay runs, per shard: how long ago the replies it delivers now would have come on an idle
/// relay. A session whose retransmission timer expires before the relay had that long to bring the answer has no sign
/// of loss yet, only a late relay, and waits for it (<see cref="ReplaySession"/>'s retransmission timeout).
/// </summary>
/// <remarks>
/// <para>
/// Every reply record carries when the intercept captured it (its host's clock). Received here, "now − captured" is the
/// clocks' offset plus the relay's delay; its least value over the last one to two <see cref="Window"/>s is the offset
/// plus the relay's delay with nothing queued, so the difference is the time the record spent queued: the lag. No
/// clock has to agree with another: only differences of one intercept's timestamps count, and each intercept (its own
/// clock) is followed apart. The lag of a batch is its latest record's (batches are in capture order): what is known
/// to be queued at least.
/// </para>
/// <para>
/// Why: at the lab's maximum short-connection rate (FloodLabTests, ~16k connections/s online, 2026-12-02) the relay fell
/// 0.6-1 s behind and the capture node retransmitted ~0.9 SYNs per session (106k for 117k sessions) although the
/// target had answered the first: its SYN-ACK was queued behind other replies. Each needless SYN is another send and
/// another answer of the target to capture, relay and handle, so the backlog fed itself and the target kept receiving
/// 18 s after the load. A TCP stack's ACKs come on the wire it sends on; here they come through a queue whose delay
/// is known, so a timeout is measured against what that queue has delivered, not against the clock alone.
/// </para>
/// <para>
/// The lag is the largest of the intercepts heard from within <see cref="Stale"/>: a session does not know which one
/// relays its replies, and one that stopped delivering altogether holds nothing back (its sessions retransmit as
/// without this). Written by the shard as it takes reply batches, read by its sessions: on one thread with shard
/// threads, else the two longs are read and written whole (<see cref="Volatile"/>).
/// </para>
/// </remarks>
internal sealed class RelayLag
{
    /// <summary>The least delay is taken over the last one to two windows: long enough to remember the idle relay
    /// through a load's busy spell, short enough to follow a stepped clock within a minute.</summary>
    internal static readonly TimeSpan Window = TimeSpan.FromSeconds(30);

    /// <summary>An intercept whose last record came longer ago than this no longer holds sessions back.</summary>
    internal static readonly TimeSpan Stale = TimeSpan.FromMilliseconds(250);

    /// <summary>More intercepts than a deployment has: past this many, what was learned is dropped and learned again.</summary>
    internal const int MaxOrigins = 64;

    private const long NanosPerTick = 100;

    private readonly Dictionary<object, Origin> _origins = [];
    private readonly Func<bool>? _noIntercept;

    /// <param name="noIntercept">
    /// True while no intercept node is in the cluster (<c>CaptureReadiness.RepliesCanReturn</c> is false, which also
    /// keeps new sessions out): then no reply can come back at all, however long a session waits
    /// (<see cref="NoIntercept"/>). Null: always false.
    /// </param>
    public RelayLag(Func<bool>? noIntercept = null) => _noIntercept = noIntercept;

    /// <summary>
    /// No intercept is in the cluster: nothing relays the target's answers, so a session's retransmission proves nothing
    /// and holds (<see cref="ReplaySession"/>) instead of spending its retries. An intercept restart takes 15-25 s on
    /// the lab machine (it must be removed from the cluster before its address rejoins), while ten retransmissions from a
    /// LAN round trip's RTO (30 ms, backed off to 5 s) give up after ~23 s: a keep-alive session lost 67 of its 100
    /// requests that way in a full suite (InterceptRestartLabTests, 2026-12-03).
    /// </summary>
    public bool NoIntercept => _noIntercept?.Invoke() == true;
    private readonly Lock _lock = new();

    // Nanoseconds; the arrival in Unix nanoseconds of this host's clock, 0 before the first record.
    private long _lag;
    private long _lastArrival;

    /// <summary>How long the relay is behind at <paramref name="now"/>; zero when no intercept delivered within <see cref="Stale"/>.</summary>
    public TimeSpan Current(DateTimeOffset now)
    {
        var lastArrival = Volatile.Read(ref _lastArrival);
        return lastArrival == 0 || ResponseRecord.UnixNanos(now) - lastArrival > Stale.Ticks * NanosPerTick
            ? TimeSpan.Zero
            : TimeSpan.FromTicks(Volatile.Read(ref _lag) / NanosPerTick);
    }

    /// <summary>
    /// How much longer a retransmission timer armed at <paramref name="armedAt"/> (when what it waits on was sent) should
    /// wait at <paramref name="now"/> for an answer the relay may still hold: the answer to a segment sent then comes at
    /// the earliest a round trip (<paramref name="roundTrip"/>, an idle path's) plus the lag after it; zero when the relay
    /// is not behind or that time has passed. The timer's own RTO already covers a lag its round-trip samples saw, so
    /// a session whose RTO is longer than the lag never waits.
    /// </summary>
    public TimeSpan Behind(DateTimeOffset armedAt, DateTimeOffset now, TimeSpan roundTrip)
    {
        var lag = Current(now);
        if (lag <= TimeSpan.Zero)
        {
            return TimeSpan.Zero;
        }

        var wait = lag + roundTrip - (now - armedAt);
        return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
    }

    /// <summary>
    /// Replies from <paramref name="origin"/> (one intercept), the latest captured there at <paramref name="capturedAtNanos"/>
    /// (its clock, Unix nanoseconds), arrived at <paramref name="now"/>.
    /// </summary>
    public void Observe(object origin, long capturedAtNanos, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(origin);
        if (capturedAtNanos <= 0)
        {
            return;
        }

        var nowNanos = ResponseRecord.UnixNanos(now);
        lock (_lock)
        {
            if (!_origins.TryGetValue(origin, out var state))
            {
                if (_origins.Count >= MaxOrigins)
                {
                    _origins.Clear();
                }

                state = new Origin(nowNanos);
                _origins[origin] = state;
            }

            state.Take(nowNanos - capturedAtNanos, nowNanos);
            var lag = 0L;
            foreach (var other in _origins.Values)
            {
                if (nowNanos - other.LastArrival <= Stale.Ticks * NanosPerTick && other.Lag > lag)
                {
                    lag = other.Lag;
                }
            }

            Volatile.Write(ref _lag, lag);
            Volatile.Write(ref _lastArrival, nowNanos);
        }
    }

    private sealed class Origin(long nowNanos)
    {
        // The least delay of the current window and of the one before it: a rolling minimum over 1-2 windows.
        private long _windowStart = nowNanos;
        private long _least = long.MaxValue;
        private long _leastBefore = long.MaxValue;

        public long LastArrival { get; private set; }

        public long Lag { get; private set; }

        public void Take(long delay, long now)
        {
            if (now - _windowStart >= Window.Ticks * NanosPerTick)
            {
                (_leastBefore, _least, _windowStart) = (_least, long.MaxValue, now);
            }

            _least = Math.Min(_least, delay);
            Lag = delay - Math.Min(_least, _leastBefore);
            LastArrival = now;
        }
    }
}
