namespace ReplayCluster.Packets;

/// <summary>
/// Thread-safe counters of <see cref="ParseResult"/> values. The parser does not count by itself: a capture loop
/// that wants the numbers (the "captured / rejected by reason" line printed at the end of a run) calls
/// <see cref="Count"/> with each result. One interlocked increment per call, no allocation.
/// </summary>
public sealed class ParseRejectCounters
{
    private static readonly ParseResult[] AllResults = Enum.GetValues<ParseResult>();
    private readonly long[] _counts = new long[AllResults.Length];

    /// <summary>Adds one to the counter of <paramref name="result"/> (<see cref="ParseResult.Ok"/> is counted too).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined <see cref="ParseResult"/>.</exception>
    public void Count(ParseResult result)
    {
        var index = (int)result;
        if ((uint)index >= (uint)_counts.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(result), result, "Not a defined ParseResult.");
        }

        Interlocked.Increment(ref _counts[index]);
    }

    /// <summary>Current count of one result.</summary>
    public long Get(ParseResult result)
    {
        var index = (int)result;
        return (uint)index < (uint)_counts.Length ? Interlocked.Read(ref _counts[index]) : 0;
    }

    /// <summary>All counted results, <see cref="ParseResult.Ok"/> included.</summary>
    public long Total
    {
        get
        {
            long total = 0;
            for (var i = 0; i < _counts.Length; i++)
            {
                total += Interlocked.Read(ref _counts[i]);
            }

            return total;
        }
    }

    /// <summary>Counted rejections: <see cref="Total"/> minus <see cref="ParseResult.Ok"/>.</summary>
    public long Rejected => Total - Get(ParseResult.Ok);

    /// <summary>
    /// A copy of every counter, zeros included. Each counter is read atomically but not all at the same instant, so
    /// under concurrent counting the values may be from slightly different moments.
    /// </summary>
    public IReadOnlyDictionary<ParseResult, long> Snapshot()
    {
        var snapshot = new Dictionary<ParseResult, long>(AllResults.Length);
        foreach (var result in AllResults)
        {
            snapshot[result] = Get(result);
        }

        return snapshot;
    }
}
