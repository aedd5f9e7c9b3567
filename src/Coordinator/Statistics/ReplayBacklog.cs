namespace ReplayCluster.Coordinator.Statistics;

/// <summary>
/// How far a replay is behind, from what capture nodes report. They report the requests their live sessions hold
/// unacknowledged (<c>requests_in_flight</c>) and, cumulatively, those the target acknowledged and those lost; no node
/// reports the age of its oldest held request. Little's law gives the mean time a request spends between being
/// captured and leaving the replay (acknowledged or lost): requests held / requests leaving per second. That is the
/// replay's lag in seconds as the dashboard shows it, an estimate over the last report interval, not a measured age.
/// </summary>
internal static class ReplayBacklog
{
    /// <summary>The counters of requests lost, by the end reason of their sessions: <c>requests_lost_{reason}</c>.</summary>
    public const string LostByReasonPrefix = "requests_lost_";

    /// <summary>
    /// Seconds behind: <paramref name="inFlight"/> / (<paramref name="deliveredRate"/> + <paramref name="lostRate"/>);
    /// 0 when nothing is held; null when requests are held and none left in the last interval (no finite
    /// estimate: the replay made no progress, or there is no rate yet).
    /// </summary>
    public static double? BehindSeconds(long inFlight, double deliveredRate, double lostRate)
    {
        if (inFlight <= 0)
        {
            return 0;
        }

        var leaving = deliveredRate + lostRate;
        return leaving > 0 ? inFlight / leaving : null;
    }

    /// <summary>The <c>requests_lost_{reason}</c> counters of <paramref name="counters"/> by reason (only reasons that lost some appear).</summary>
    public static IReadOnlyDictionary<string, long> LostByReason(IReadOnlyDictionary<string, long> counters)
    {
        ArgumentNullException.ThrowIfNull(counters);
        return counters.Where(c => c.Key.StartsWith(LostByReasonPrefix, StringComparison.Ordinal) && c.Value > 0)
            .ToDictionary(c => c.Key[LostByReasonPrefix.Length..], c => c.Value, StringComparer.Ordinal);
    }
}
