using ReplayCluster.Capture.Sessions;

namespace ReplayCluster.Capture.Admission;

/// <summary>
/// The node-wide ceilings every shard's admission checks before it starts a session: the plan's rate
/// cap (a token bucket), the live-session ceiling and the buffer budget. Shards run on different
/// threads: the bucket takes a lock (once per new session, never per packet), the live count is atomic.
/// </summary>
internal sealed class AdmissionLimits
{
    private readonly Lock _bucketLock = new();
    private readonly TimeProvider _time;
    private long _live;
    private double? _rate;
    private double _tokens;
    private DateTimeOffset _tokensAt;

    public AdmissionLimits(long maxLiveSessions, BufferBudget budget, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxLiveSessions);
        ArgumentNullException.ThrowIfNull(budget);
        ArgumentNullException.ThrowIfNull(time);
        MaxLiveSessions = maxLiveSessions;
        Budget = budget;
        _time = time;
    }

    /// <summary>Sessions (copies included) that may be live at once on this node.</summary>
    public long MaxLiveSessions { get; }

    /// <summary>Whether a connection first seen after its handshake is replayed (replaycluster.capture.join-mid-stream).</summary>
    public bool JoinMidStream { get; init; }

    /// <summary>What capture waits for at start; after it, new sessions still need an intercept in the cluster. Null: not checked.</summary>
    public CaptureReadiness? Readiness { get; init; }

    /// <summary>Captured bytes held for the target by every session together.</summary>
    public BufferBudget Budget { get; }

    /// <summary>Sessions live now.</summary>
    public long LiveSessions => Interlocked.Read(ref _live);

    /// <summary>
    /// Sets this node's share of the rate cap in sessions per second (null: no cap). A changed rate starts
    /// a full bucket of one second's worth (at least one session), as the cap promises a burst of that.
    /// </summary>
    public void SetRate(double? sessionsPerSecond)
    {
        lock (_bucketLock)
        {
            if (sessionsPerSecond == _rate)
            {
                return;
            }

            _rate = sessionsPerSecond;
            _tokens = Math.Max(1, sessionsPerSecond ?? 0);
            _tokensAt = _time.GetUtcNow();
        }
    }

    /// <summary>Takes one session's worth of the rate cap; false when the bucket is empty.</summary>
    public bool TryTakeRateToken()
    {
        lock (_bucketLock)
        {
            if (_rate is not { } rate)
            {
                return true;
            }

            var now = _time.GetUtcNow();
            _tokens = Math.Min(Math.Max(1, rate), _tokens + ((now - _tokensAt).TotalSeconds * rate));
            _tokensAt = now;
            if (_tokens < 1)
            {
                return false;
            }

            _tokens--;
            return true;
        }
    }

    /// <summary>Reserves a live-session slot; false at the ceiling. Give it back with <see cref="ReleaseLive"/>.</summary>
    public bool TryReserveLive()
    {
        if (Interlocked.Increment(ref _live) <= MaxLiveSessions)
        {
            return true;
        }

        Interlocked.Decrement(ref _live);
        return false;
    }

    public void ReleaseLive() => Interlocked.Decrement(ref _live);
}
