using ReplayCluster.Capture.Sessions;
using ReplayCluster.Plans;
using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Plans;

/// <summary>
/// What this capture node replays right now: its own settings with the coordinator's plan laid over
/// them (a field the plan leaves unset keeps the node's own value). Sessions take their options when
/// they start; a change applies to sessions started after it.
/// </summary>
internal sealed record AppliedPlan
{
    /// <summary>The plan version followed; 0 while the node follows only its own flags.</summary>
    public long Version { get; init; }

    /// <summary>The plan itself, as received (reported back to a restarted coordinator).</summary>
    public ReplayPlan? Plan { get; init; }

    /// <summary>Online services and their targets; null until the node has any (no -x and no plan yet).</summary>
    public TargetMapping? Targets { get; init; }

    /// <summary>The capture filter these targets need (the node's own -F when given).</summary>
    public string? Filter { get; init; }

    public int Copies { get; init; } = 1;

    public double SamplePercent { get; init; } = 100;

    /// <summary>This node's share of the plan's rate cap, in sessions per second; null for no cap.</summary>
    public double? RateCap { get; init; }

    public required SessionOptions Session { get; init; }

    /// <summary>
    /// The options of a session replayed on <paramref name="route"/>: <see cref="Session"/> with the route's
    /// pacing (<c>/wait</c>, <c>/wait:N</c>, <c>/no-wait</c>) laid over it. Routes without a pacing of their
    /// own share <see cref="Session"/> itself.
    /// </summary>
    public SessionOptions SessionFor(in TargetRoute route) => route.Pacing.Mode switch
    {
        TargetPacingMode.Wait => Session with
        {
            Pacing = PacingMode.WaitForResponse,
            MaxOutstandingRequests = route.Pacing.MaxOutstanding > 0 ? route.Pacing.MaxOutstanding : Session.MaxOutstandingRequests,
        },
        TargetPacingMode.NoWait => Session with { Pacing = PacingMode.NoWait },
        _ => Session,
    };

    /// <summary>The node's own settings, before any plan.</summary>
    public static AppliedPlan Own(CaptureNodeSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new AppliedPlan
        {
            Targets = settings.Targets,
            Filter = settings.ExplicitFilter ?? settings.Targets?.ToCaptureFilter(),
            Copies = settings.Copies,
            SamplePercent = settings.SamplePercent,
            Session = settings.Session,
        };
    }

    /// <summary>The node's own settings under <paramref name="assigned"/> (validated by the coordinator).</summary>
    public static AppliedPlan Apply(CaptureNodeSettings settings, ReplayPlanAssigned assigned)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(assigned);
        var plan = assigned.Plan;
        var targets = plan.Targets is { } entries ? TargetMapping.Parse(entries, "targets of the coordinator's plan") : settings.Targets;
        return new AppliedPlan
        {
            Version = assigned.Version,
            Plan = plan,
            Targets = targets,
            Filter = settings.ExplicitFilter ?? targets?.ToCaptureFilter(),
            Copies = plan.Copies ?? settings.Copies,
            SamplePercent = plan.SamplePercent ?? settings.SamplePercent,
            RateCap = assigned.RateCapShare,
            Session = settings.Session with
            {
                IdleTimeout = plan.IdleTimeout ?? settings.Session.IdleTimeout,
                KeepAliveTimeout = plan.KeepAliveTimeout ?? settings.Session.KeepAliveTimeout,
                ResponseWaitLimit = plan.ResponseWaitLimit ?? settings.Session.ResponseWaitLimit,
            },
        };
    }
}

/// <summary>
/// The plan in effect, shared by the session manager (which applies new plans) and the capture pump
/// (which reads the targets per packet and re-filters when they change).
/// </summary>
internal sealed class PlanInEffect(AppliedPlan initial)
{
    private AppliedPlan _current = initial;

    /// <summary>Raised after <see cref="Current"/> changed, on the thread that changed it.</summary>
    public event Action<AppliedPlan, AppliedPlan>? Changed;

    public AppliedPlan Current => Volatile.Read(ref _current);

    public void Set(AppliedPlan plan)
    {
        var previous = Interlocked.Exchange(ref _current, plan);
        Changed?.Invoke(previous, plan);
    }
}
