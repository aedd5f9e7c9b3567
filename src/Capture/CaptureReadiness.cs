namespace ReplayCluster.Capture;

/// <summary>
/// Whether the node may start capturing, pushed by the actors that know (plan follower, identity lease,
/// route announcer) instead of polled: the pump waits on <see cref="WaitForChangeAsync"/>. Capture waits
/// until replies can come back (an intercept knows our routes), client identities are settled and the
/// plan names targets: every session started earlier would wait on SYN retransmissions.
/// </summary>
/// <remarks>
/// "An intercept knows our routes" is more than an intercept being a member in this node's view: gossip shows a
/// capture node the intercept before it shows the intercept the capture node, and until then the intercept holds
/// the node's route claims. So an intercept counts once it accepted this node (<see cref="SetIntercepts"/>).
/// </remarks>
internal sealed class CaptureReadiness
{
    private readonly Lock _gate = new();
    private TaskCompletionSource _changed = NewSignal();
    private int _intercepts;
    private int _interceptsAccepted;
    private bool _identitiesSettled;
    private bool _planSettled;
    private volatile bool _captureOpen;

    /// <summary>True when capture may start.</summary>
    public bool IsReady
    {
        get
        {
            lock (_gate)
            {
                return _interceptsAccepted > 0 && _identitiesSettled && _planSettled;
            }
        }
    }

    /// <summary>What capture still waits for, in words for the log; empty when ready.</summary>
    public string Reason
    {
        get
        {
            lock (_gate)
            {
                return _intercepts == 0 ? "no intercept node in the cluster (replies could not come back)"
                    : _interceptsAccepted == 0 ? "waiting for an intercept node to accept this node (its reply channel connects)"
                    : !_identitiesSettled ? "waiting for an identity slice from the coordinator"
                    : !_planSettled ? "waiting for the coordinator's replay plan (this node has no -x of its own)"
                    : string.Empty;
            }
        }
    }

    /// <summary>
    /// Null when the node is ready to replay: capture may start (<see cref="IsReady"/>) and the pump has opened it;
    /// else what it waits for. Read by the node's <c>/readyz</c>; capture opening gates nothing, so it is not part
    /// of <see cref="IsReady"/> (which the pump waits on before it opens the capture).
    /// </summary>
    public string? ReplayReason
    {
        get
        {
            var reason = Reason;
            return reason.Length > 0 ? reason : _captureOpen ? null : "capture not open yet";
        }
    }

    /// <summary>Set by the pump once the live capture or the pcap replay runs, cleared when it stops or fails.</summary>
    public void SetCaptureOpen(bool open) => _captureOpen = open;

    /// <summary>Whether an intercept is in the cluster, so a target's replies can come back; read once per new session, without the lock.</summary>
    public bool RepliesCanReturn => Volatile.Read(ref _intercepts) > 0;

    /// <summary>
    /// Intercepts in the cluster (<paramref name="known"/>), and how many of them accepted this node: connected its
    /// reply channel, or were given up waiting for (<see cref="Routing.RouteAnnouncer"/>).
    /// </summary>
    public void SetIntercepts(int known, int accepted) => Update(() => (_intercepts, _interceptsAccepted) = (known, accepted));

    public void SetIdentitiesSettled(bool settled) => Update(() => _identitiesSettled = settled);

    public void SetPlanSettled(bool settled) => Update(() => _planSettled = settled);

    /// <summary>Completes at the next change of any of the three, or when <paramref name="cancellationToken"/> fires.</summary>
    public Task WaitForChangeAsync(CancellationToken cancellationToken)
    {
        Task signal;
        lock (_gate)
        {
            signal = _changed.Task;
        }

        return signal.WaitAsync(cancellationToken);
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void Update(Action change)
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            change();
            changed = _changed;
            _changed = NewSignal();
        }

        changed.TrySetResult();
    }
}
