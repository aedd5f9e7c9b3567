namespace ReplayCluster.PacketIO;

/// <summary>
/// When each record of a pcap file is due in an offline replay: its recorded gap to the previous record divided by
/// the speed, added up in seconds (a double: no timestamp a file can hold overflows it). A record recorded before
/// its predecessor is due at once (counted). A gap longer than <see cref="MaxGap"/> is refused: such a file is
/// damaged or mutated (or not one recording), and waiting it out would have thrown from <c>Thread.Sleep</c>,
/// which takes at most int.MaxValue ms (24.86 days), and crashed the node.
/// </summary>
public sealed class PcapReplayClock
{
    /// <summary>The longest wait between two records, after the speed: what one Thread.Sleep or timer can wait.</summary>
    public static readonly TimeSpan MaxGap = TimeSpan.FromMilliseconds(int.MaxValue);

    private readonly double _speed;
    private long _previousNanos;
    private double _dueSeconds;
    private bool _started;

    /// <param name="speed">Replay speed factor (2 = twice as fast); positive.</param>
    public PcapReplayClock(double speed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(speed);
        if (!double.IsFinite(speed))
        {
            throw new ArgumentOutOfRangeException(nameof(speed), speed, "must be finite");
        }

        _speed = speed;
    }

    /// <summary>Records whose timestamp lies before their predecessor's (replayed at once).</summary>
    public long OutOfOrder { get; private set; }

    /// <summary>
    /// How long after the replay's start the record stamped <paramref name="timestampNanos"/> is due, in seconds; false,
    /// with the reason in words, for a gap over <see cref="MaxGap"/>.
    /// </summary>
    public bool TryNext(long timestampNanos, out double dueSeconds, out string? refusal)
    {
        refusal = null;
        if (!_started)
        {
            _started = true;
            _previousNanos = timestampNanos;
            dueSeconds = 0;
            return true;
        }

        // Int128: two arbitrary 64-bit stamps differ by up to 2^64 ns without wrapping around.
        var gapNanos = (Int128)timestampNanos - _previousNanos;
        _previousNanos = timestampNanos;
        if (gapNanos < 0)
        {
            OutOfOrder++;
            dueSeconds = _dueSeconds;
            return true;
        }

        var gapSeconds = (double)gapNanos / 1e9 / _speed;
        if (gapSeconds > MaxGap.TotalSeconds)
        {
            dueSeconds = _dueSeconds;
            refusal = $"a gap of {gapSeconds / 86_400:F1} days between two records " +
                $"(after speed {_speed}) is longer than the {MaxGap.TotalDays:F2} days a replay can wait: the file is damaged or not one recording";
            return false;
        }

        _dueSeconds += gapSeconds;
        dueSeconds = _dueSeconds;
        return true;
    }
}
