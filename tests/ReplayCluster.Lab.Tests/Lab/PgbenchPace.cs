using System.Globalization;

namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>What a pgbench run reported, and its load window from the per-transaction log (<c>pgbench -l</c>).</summary>
/// <param name="Transactions">"number of transactions actually processed".</param>
/// <param name="Tps">pgbench's own tps (without initial connection time).</param>
/// <param name="LoadStart">Unix seconds when the first transaction started.</param>
/// <param name="LoadEnd">Unix seconds when the last transaction ended: the end of the load.</param>
/// <param name="LoggedTransactions">Lines of the per-transaction log.</param>
public sealed record PgbenchRun(long Transactions, double Tps, double LoadStart, double LoadEnd, long LoggedTransactions)
{
    /// <summary>The load window in seconds.</summary>
    public double Seconds => LoadEnd - LoadStart;

    /// <summary>
    /// Parses pgbench's summary (<paramref name="output"/>) and its per-transaction log lines
    /// (<c>client_id transaction_no latency_us script_no epoch_s epoch_us</c>).
    /// </summary>
    public static PgbenchRun Parse(string output, IEnumerable<string> logLines)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(logLines);
        long? transactions = null;
        double? tps = null;
        foreach (var raw in output.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith("number of transactions actually processed:", StringComparison.Ordinal))
            {
                transactions = long.Parse(line.Split(':')[1].Trim().Split(' ', '/')[0], CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("tps = ", StringComparison.Ordinal))
            {
                tps = double.Parse(line["tps = ".Length..].Split(' ')[0], CultureInfo.InvariantCulture);
            }
        }

        double start = double.MaxValue, end = double.MinValue;
        long logged = 0;
        foreach (var line in logLines)
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 6)
            {
                continue;
            }

            var latency = double.Parse(f[2], CultureInfo.InvariantCulture) / 1e6;
            var finished = long.Parse(f[4], CultureInfo.InvariantCulture) + (long.Parse(f[5], CultureInfo.InvariantCulture) / 1e6);
            start = Math.Min(start, finished - latency);
            end = Math.Max(end, finished);
            logged++;
        }

        return transactions is { } n && tps is { } t && logged > 0
            ? new PgbenchRun(n, t, start, end, logged)
            : throw new FormatException($"Not a pgbench run with a per-transaction log ({logged} log lines):\n{output}");
    }
}

/// <summary>
/// Does the target keep pace with the online PostgreSQL? One pgbench run judged by the two <c>pgbench_history</c>
/// tables: how much of the online work the target had committed when the load ended, how long its count kept growing
/// afterwards, and whether it ended with exactly the same transactions.
/// </summary>
/// <param name="Online">The online history after the run.</param>
/// <param name="Target">The target history when the wait for it ended.</param>
/// <param name="LoadSeconds">The load window (first transaction start to last commit, pgbench's clock).</param>
/// <param name="TargetAtLoadEnd">The target's count at the end of the load, interpolated between polls.</param>
/// <param name="DrainSeconds">From the end of the load to the poll that first saw the target's final count (0 if before).</param>
/// <param name="Settled">False when the target was still growing when the wait gave up (the drain is a lower bound).</param>
public sealed record PgbenchPace(HistorySummary Online, HistorySummary Target, double LoadSeconds, double TargetAtLoadEnd, double DrainSeconds, bool Settled)
{
    /// <summary>Online transactions per second over the load window.</summary>
    public double OnlineTps => Online.Count / LoadSeconds;

    /// <summary>Target transactions committed per second over the same window.</summary>
    public double TargetTps => TargetAtLoadEnd / LoadSeconds;

    /// <summary>Target over online during the load (issue 13: at least 0.95).</summary>
    public double Ratio => Online.Count == 0 ? 0 : TargetAtLoadEnd / Online.Count;

    /// <summary>Online transactions the target does not have (negative: duplicates).</summary>
    public long Missing => Online.Count - Target.Count;

    /// <summary>Both histories hold the same transactions (same sorted rows).</summary>
    public bool SameTransactions => Online.Digest == Target.Digest;

    /// <summary>Judges one run from the load, the target's count samples and both final histories.</summary>
    public static PgbenchPace Measure(PgbenchRun load, IReadOnlyList<HistorySample> target, HistorySummary online, HistorySummary targetFinal, bool settled)
    {
        ArgumentNullException.ThrowIfNull(load);
        ArgumentNullException.ThrowIfNull(target);
        if (target.Count == 0)
        {
            throw new ArgumentException("No samples of the target's count.", nameof(target));
        }

        // The count at the load's end: the last sample before it, interpolated toward the first one after it.
        double atEnd = 0;
        for (var i = 0; i < target.Count; i++)
        {
            if (target[i].Epoch <= load.LoadEnd)
            {
                atEnd = target[i].Count;
                continue;
            }

            if (i > 0)
            {
                var (a, b) = (target[i - 1], target[i]);
                atEnd = a.Count + ((b.Count - a.Count) * (load.LoadEnd - a.Epoch) / (b.Epoch - a.Epoch));
            }

            break;
        }

        var final = target[^1].Count;
        var reached = target.First(s => s.Count == final).Epoch;
        var drain = settled ? Math.Max(0, reached - load.LoadEnd) : Math.Max(0, target[^1].Epoch - load.LoadEnd);
        return new PgbenchPace(online, targetFinal, load.Seconds, atEnd, drain, settled);
    }

    /// <summary>One line for test output and reports.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"online {Online.Count} transactions in {LoadSeconds:0.00} s ({OnlineTps:0} tps); target {TargetAtLoadEnd:0} by the load's end " +
        $"({TargetTps:0} tps, {Ratio:0.000}x online), {Target.Count} in the end; missing {Missing}; " +
        $"histories {(SameTransactions ? "identical" : "differ")}; drain {(Settled ? string.Empty : ">")}{DrainSeconds:0.0} s");
}
