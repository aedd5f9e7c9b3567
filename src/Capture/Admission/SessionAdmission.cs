using ReplayCluster.Capture.Plans;
using ReplayCluster.Capture.Identities;
using ReplayCluster.Capture.Admission;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Packets;

namespace ReplayCluster.Capture.Admission;

/// <summary>What admission decided about a captured packet of a connection that has no session.</summary>
internal enum AdmissionVerdict
{
    /// <summary>Start sessions for it (each copy still takes a rate token, a live slot and an identity).</summary>
    Admit,

    /// <summary>Nothing to replay: a pure ACK, FIN or RST of a connection whose start we never saw.</summary>
    NotReplayable,

    /// <summary>A connection sampling left out (or that got no session at all): its packets stay out.</summary>
    LeftOut,

    /// <summary>The node's buffer budget is exhausted.</summary>
    RefusedMemory,
}

/// <summary>What admission decided about one copy of an admitted connection.</summary>
internal enum CopyVerdict
{
    Admit,
    RateLimited,
    RefusedCeiling,
}

/// <summary>
/// Decides which captured connections become sessions: sampling (an unbiased hash of the session, the same
/// on every node), the memory of connections left out (so their later packets are not taken for new
/// sessions), the node's buffer budget, and per copy the rate cap and the live-session ceiling. A plain
/// class: one per shard (connections are partitioned by shard, so the memory needs no lock), with the
/// node-wide ceilings shared through <see cref="AdmissionLimits"/>. Every refusal is counted.
/// </summary>
internal sealed class SessionAdmission
{
    // A left-out connection silent this long is forgotten (a keep-alive idle beyond this comes back as mid-stream).
    internal static readonly TimeSpan LeftOutMemory = TimeSpan.FromMinutes(2);

    private readonly Dictionary<OnlineConnection, (uint ClientIsn, DateTimeOffset LastSeen)> _leftOut = [];
    private readonly AdmissionLimits _limits;
    private readonly CaptureNodeStatistics _statistics;
    private readonly TimeProvider _time;
    private AppliedPlan? _samplerPlan;
    private SessionSampler _sampler = new(100);

    public SessionAdmission(AdmissionLimits limits, CaptureNodeStatistics statistics, TimeProvider time)
    {
        _limits = limits;
        _statistics = statistics;
        _time = time;
    }

    /// <summary>Connections remembered as left out.</summary>
    public int LeftOutCount => _leftOut.Count;

    /// <summary>
    /// True when <paramref name="connection"/> was left out and this packet still belongs to that
    /// connection (not a SYN with another ISN, which opens a new one). Keeps the memory fresh.
    /// </summary>
    public bool IsLeftOut(in OnlineConnection connection, in CapturedSegment segment)
    {
        if (!_leftOut.TryGetValue(connection, out var entry))
        {
            return false;
        }

        var isSyn = segment.HasFlag(TcpFlags.Syn) && !segment.HasFlag(TcpFlags.Ack);
        if (isSyn && entry.ClientIsn != segment.Sequence)
        {
            return false;
        }

        if (segment.HasFlag(TcpFlags.Fin) || segment.HasFlag(TcpFlags.Rst))
        {
            // The client is closing it: nothing more worth remembering (keeps short connections cheap).
            _leftOut.Remove(connection);
        }
        else
        {
            _leftOut[connection] = entry with { LastSeen = _time.GetUtcNow() };
        }

        return true;
    }

    /// <summary>Decides about the first packet of a connection without a session.</summary>
    public AdmissionVerdict Decide(in OnlineConnection connection, in CapturedSegment segment, AppliedPlan plan, out uint clientIsn)
    {
        var isSyn = segment.HasFlag(TcpFlags.Syn) && !segment.HasFlag(TcpFlags.Ack);
        clientIsn = isSyn ? segment.Sequence : segment.Sequence - 1;
        if ((!segment.HasFlag(TcpFlags.Syn) && segment.Payload.IsEmpty) || segment.HasFlag(TcpFlags.Rst))
        {
            _statistics.CountIgnored();
            return AdmissionVerdict.NotReplayable;
        }

        // A connection already open when this node first saw it: its one data segment may be a spoofed one.
        if (!isSyn && !_limits.JoinMidStream)
        {
            LeaveOut(connection, clientIsn);
            _statistics.CountNotJoinedMidStream();
            return AdmissionVerdict.LeftOut;
        }

        if (!ReferenceEquals(plan, _samplerPlan))
        {
            _sampler = new SessionSampler(plan.SamplePercent);
            _samplerPlan = plan;
        }

        if (!_sampler.Takes(connection, clientIsn))
        {
            LeaveOut(connection, clientIsn);
            _statistics.CountSkipped();
            return AdmissionVerdict.LeftOut;
        }

        // No intercept in the cluster any more (it left, or was downed): the target's replies cannot come back, and
        // a session started now would only retransmit its SYN into the target until it gives up.
        if (_limits.Readiness is { RepliesCanReturn: false })
        {
            LeaveOut(connection, clientIsn);
            _statistics.CountRefusedNoIntercept();
            return AdmissionVerdict.LeftOut;
        }

        _leftOut.Remove(connection);
        if (_limits.Budget.Exhausted)
        {
            _statistics.CountRefusedMemory();
            return AdmissionVerdict.RefusedMemory;
        }

        return AdmissionVerdict.Admit;
    }

    /// <summary>Decides about one copy; on <see cref="CopyVerdict.Admit"/> a live slot is reserved (give it back when the session ends).</summary>
    public CopyVerdict DecideCopy()
    {
        if (!_limits.TryTakeRateToken())
        {
            _statistics.CountRateLimited();
            return CopyVerdict.RateLimited;
        }

        if (!_limits.TryReserveLive())
        {
            _statistics.CountRefusedCeiling();
            return CopyVerdict.RefusedCeiling;
        }

        return CopyVerdict.Admit;
    }

    /// <summary>Remembers a connection that gets no session, so its later packets are not taken for a new one.</summary>
    public void LeaveOut(in OnlineConnection connection, uint clientIsn) => _leftOut[connection] = (clientIsn, _time.GetUtcNow());

    /// <summary>Forgets left-out connections silent for <see cref="LeftOutMemory"/>.</summary>
    public void ForgetIdle()
    {
        var idleSince = _time.GetUtcNow() - LeftOutMemory;
        List<OnlineConnection>? idle = null;
        foreach (var (connection, entry) in _leftOut)
        {
            if (entry.LastSeen < idleSince)
            {
                (idle ??= []).Add(connection);
            }
        }

        foreach (var connection in idle ?? [])
        {
            _leftOut.Remove(connection);
        }
    }
}
