using Akka.Actor;
using Akka.Cluster;
using Microsoft.Extensions.Logging;
using ReplayCluster.Capture.Plans;
using ReplayCluster.Capture.Replay;
using ReplayCluster.Cluster;
using ReplayCluster.Configuration;
using ReplayCluster.Plans;
using ReplayCluster.Replay;

namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// Supervises the node's session actors: creates one per new online connection (with its identity at
/// the target), routes captured segments and response records to them, and tells the intercept nodes
/// which sessions are ours. A failed session is stopped and counted, never restarted.
/// </summary>
internal sealed class SessionManager : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan SliceAnswerTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan PlanAnswerTimeout = TimeSpan.FromSeconds(5);

    // A skipped connection silent this long is forgotten (a keep-alive idle beyond this comes back as mid-stream).
    private static readonly TimeSpan SkippedMemory = TimeSpan.FromMinutes(2);

    // Routes live 10 minutes at the intercept unless refreshed; refresh well within that.
    private static readonly TimeSpan ClaimRefreshInterval = TimeSpan.FromMinutes(2);

    // The newest sessions (one per copy) of each online connection, with the client ISN that started them.
    private readonly Dictionary<OnlineConnection, (IActorRef[] Sessions, uint? ClientIsn)> _byConnection = [];

    // Connections sampling left out, so their later packets are not taken for new sessions; forgotten when idle.
    private readonly Dictionary<OnlineConnection, (uint ClientIsn, DateTimeOffset LastSeen)> _skipped = [];
    private SessionSampler _sampler;
    private readonly Dictionary<SessionEndpoints, IActorRef> _byEndpoints = [];
    private readonly Dictionary<IActorRef, (OnlineConnection Connection, SessionEndpoints Endpoints)> _byActor = [];
    private readonly HashSet<Address> _intercepts = [];
    private readonly List<SessionEndpoints> _claims = [];
    private readonly List<SessionEndpoints> _releases = [];
    private readonly CaptureNodeSettings _settings;
    private readonly ISegmentTransport _transport;
    private readonly TimeProvider _time;
    private readonly CaptureNodeStatistics _statistics;
    private readonly PlanInEffect _plan;
    private bool _planSettled;

    // Token bucket of the rate cap: one second's worth of sessions may start at once.
    private double _tokens;
    private DateTimeOffset _tokensAt;
    private ClientIdentityMapper _identities;
    private string? _slice;
    private bool _identitiesSettled;
    private readonly BufferBudget _budget;
    private readonly ILogger _logger;
    private bool _flushQueued;

    public SessionManager(CaptureNodeSettings settings, PlanInEffect plan, ISegmentTransport transport, TimeProvider time, CaptureNodeStatistics statistics, ILogger logger)
    {
        _settings = settings;
        _plan = plan;
        _transport = transport;
        _time = time;
        _statistics = statistics;
        _logger = logger;
        _budget = new BufferBudget(settings.MaxNodeBufferedBytes);
        _sampler = new SessionSampler(plan.Current.SamplePercent);

        // With its own targets (-x) the node can replay before any plan arrives; without, it waits.
        _planSettled = plan.Current.Targets is not null;
        _statistics.Budget = _budget;
        _identities = settings.FakeClientRange is { } range
            ? ClientIdentityMapper.FromRange(range, "replaycluster.capture.fake-client-range", settings.Identities, time)
            : ClientIdentityMapper.KeepReal(settings.Identities, time);

        // With its own range (-c) the node is settled; otherwise it asks the coordinator for a slice.
        _identitiesSettled = settings.FakeClientRange is not null;

        Receive<CapturedPacket>(OnCaptured);
        Receive<ResponseBatch>(OnResponses);
        Receive<Terminated>(t => OnSessionStopped(t.ActorRef));
        Receive<FlushClaimsNow>(_ => FlushClaims());
        Receive<RefreshClaims>(_ => SendClaims([.. _byEndpoints.Keys], [], _intercepts));
        Receive<LogStatistics>(_ =>
        {
            CaptureLog.Statistics(_logger, _statistics.Summary());
            ForgetIdleSkipped();
        });
        Receive<CollectProgress>(_ =>
        {
            foreach (var session in _byActor.Keys)
            {
                session.Tell(ReportProgress.Instance);
            }
        });
        Receive<ClusterEvent.MemberUp>(e => OnMemberUp(e.Member));
        Receive<ClusterEvent.MemberRemoved>(e => _intercepts.Remove(e.Member.Address));
        Receive<ReadinessQuery>(_ => Sender.Tell(new Readiness(_intercepts.Count, _identitiesSettled, _planSettled && _plan.Current.Targets is not null)));
        Receive<ReplayPlanAssigned>(OnPlanAssigned);
        Receive<PlanAnswerOverdue>(_ =>
        {
            CaptureLog.PlanUnanswered(_logger, _plan.Current.Targets is null ? "waiting on: this node has no -x of its own" : "replaying with this node's own settings");
            _planSettled = true;
        });
        Receive<IdentitySliceGranted>(OnSliceGranted);
        Receive<IdentitySliceRefused>(r => SettleIdentities(() => CaptureLog.SliceRefused(_logger, r.Reason)));
        Receive<SliceAnswerOverdue>(_ => SettleIdentities(() => CaptureLog.SliceRefused(_logger, "no answer from the coordinator")));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(CaptureNodeSettings settings, PlanInEffect plan, ISegmentTransport transport, TimeProvider time, CaptureNodeStatistics statistics, ILogger logger) =>
        Akka.Actor.Props.Create(() => new SessionManager(settings, plan, transport, time, statistics, logger));

    protected override void PreStart()
    {
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.MemberUp), typeof(ClusterEvent.MemberRemoved));
        Timers.StartPeriodicTimer("refresh", RefreshClaims.Instance, ClaimRefreshInterval);
        Timers.StartPeriodicTimer("statistics", LogStatistics.Instance, _settings.StatisticsInterval);

        // Every second, like the reports to the coordinator, so its rates move with the traffic.
        Timers.StartPeriodicTimer("progress", CollectProgress.Instance, TimeSpan.FromSeconds(1));
    }

    protected override void PostStop()
    {
        Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);

        // Children stop before their parent's PostStop: none is live any more.
        _statistics.LiveSessions = 0;
        CaptureLog.Statistics(_logger, _statistics.Summary());
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(error =>
    {
        _statistics.SessionsFailed++;
        CaptureLog.SessionFailed(_logger, "(session actor)", error.Message);
        return Directive.Stop;
    });

    private void OnCaptured(CapturedPacket packet)
    {
        var segment = packet.Segment;
        var isSyn = segment.HasFlag(Packets.TcpFlags.Syn) && !segment.HasFlag(Packets.TcpFlags.Ack);
        if (_skipped.TryGetValue(packet.Connection, out var skipped) && !(isSyn && skipped.ClientIsn != segment.Sequence))
        {
            if (segment.HasFlag(Packets.TcpFlags.Fin) || segment.HasFlag(Packets.TcpFlags.Rst))
            {
                // The client is closing it: nothing more worth remembering (keeps short connections cheap).
                _skipped.Remove(packet.Connection);
            }
            else
            {
                _skipped[packet.Connection] = skipped with { LastSeen = _time.GetUtcNow() };
            }

            return;
        }

        if (_byConnection.TryGetValue(packet.Connection, out var current) && !(isSyn && current.ClientIsn != segment.Sequence))
        {
            foreach (var copy in current.Sessions)
            {
                copy.Tell(segment);
            }

            return;
        }

        // A new connection (or the same client port reused while our replay of its previous connection
        // is still under way: clients cycle ports faster than a lagging replay finishes). The old session
        // keeps going on its own identity; the new one gets another, so neither is lost.
        var plan = _plan.Current;
        if ((!segment.HasFlag(Packets.TcpFlags.Syn) && segment.Payload.IsEmpty) || segment.HasFlag(Packets.TcpFlags.Rst)
            || plan.Targets is not { } targets || !targets.TryMap(packet.Connection.ServerAddress, packet.Connection.ServerPort, out var route))
        {
            _statistics.CountIgnored();
            return;
        }

        var connection = packet.Connection;
        var clientIsn = isSyn ? segment.Sequence : segment.Sequence - 1;
        if (!_sampler.Takes(connection, clientIsn))
        {
            _skipped[connection] = (clientIsn, _time.GetUtcNow());
            _statistics.SessionsSkipped++;
            return;
        }

        _skipped.Remove(connection);
        if (_budget.Exhausted)
        {
            _statistics.SessionsRefusedMemory++;
            return;
        }

        // One session per copy, each from its own identity: copies of one client port get different
        // addresses of the range, so no two share a 4-tuple at the target.
        var copies = new List<IActorRef>(plan.Copies);
        for (var copy = 0; copy < plan.Copies; copy++)
        {
            if (!TakeRateToken(plan))
            {
                _statistics.SessionsRateLimited++;
                continue;
            }

            if (!_identities.TryAcquire(connection.ClientAddress, connection.ClientPort, route.TargetAddress, route.TargetPort, out var address, out var port))
            {
                _statistics.SessionsWithoutIdentity++;
                continue;
            }

            var endpoints = new SessionEndpoints(address, port, route.TargetAddress, route.TargetPort);
            var session = Context.ActorOf(SessionActor.Props(endpoints, plan.Session, _transport, _time, _statistics, _budget, firstCopy: copies.Count == 0));
            Context.Watch(session);
            _byEndpoints[endpoints] = session;
            _byActor[session] = (connection, endpoints);
            _statistics.SessionsStarted++;
            Queue(_claims, endpoints);
            copies.Add(session);
        }

        if (copies.Count == 0)
        {
            // Not replayed at all: its later packets must not be taken for a new session.
            _skipped[connection] = (clientIsn, _time.GetUtcNow());
            return;
        }

        _byConnection[connection] = ([.. copies], isSyn ? segment.Sequence : null);
        _statistics.LiveSessions = _byActor.Count;
        foreach (var session in copies)
        {
            session.Tell(segment);
        }
    }

    private void ForgetIdleSkipped()
    {
        var idleSince = _time.GetUtcNow() - SkippedMemory;
        foreach (var connection in _skipped.Where(s => s.Value.LastSeen < idleSince).Select(s => s.Key).ToList())
        {
            _skipped.Remove(connection);
        }
    }

    private void OnResponses(ResponseBatch batch)
    {
        foreach (ref readonly var record in batch.Records)
        {
            if (_byEndpoints.TryGetValue(SessionEndpoints.Of(record), out var session))
            {
                session.Tell(record);
            }
            else
            {
                _statistics.ResponsesUnmatched++;
            }
        }
    }

    private void OnSessionStopped(IActorRef session)
    {
        if (!_byActor.Remove(session, out var entry))
        {
            return;
        }

        if (_byConnection.TryGetValue(entry.Connection, out var current) && current.Sessions.Contains(session))
        {
            var remaining = current.Sessions.Where(s => !s.Equals(session)).ToArray();
            if (remaining.Length == 0)
            {
                _byConnection.Remove(entry.Connection);
            }
            else
            {
                _byConnection[entry.Connection] = current with { Sessions = remaining };
            }
        }

        _byEndpoints.Remove(entry.Endpoints);
        _identities.Release(entry.Endpoints.ClientAddress, entry.Endpoints.ClientPort, entry.Endpoints.TargetAddress, entry.Endpoints.TargetPort);
        _statistics.LiveSessions = _byActor.Count;
        Queue(_releases, entry.Endpoints);
    }

    private void OnMemberUp(Member member)
    {
        if (member.HasRole(NodeRoles.Coordinator))
        {
            // Also after a coordinator restart: it learns the plan we follow, in case it was changed at run time.
            var current = _plan.Current;
            Context.ActorSelection(new RootActorPath(member.Address) / "user" / ActorNames.ReplayPlan)
                .Tell(new SubscribeReplayPlan(current.Version, current.Plan));
            if (current.Version == 0)
            {
                _planSettled = false;
                Timers.StartSingleTimer("plan-answer", PlanAnswerOverdue.Instance, PlanAnswerTimeout);
            }
        }

        if (member.HasRole(NodeRoles.Coordinator) && _settings.FakeClientRange is null)
        {
            // Also after a coordinator restart: it gets our slice back as the preferred one.
            Context.ActorSelection(new RootActorPath(member.Address) / "user" / ActorNames.IdentitySlices)
                .Tell(new RequestIdentitySlice(_slice));
            Timers.StartSingleTimer("slice-answer", SliceAnswerOverdue.Instance, SliceAnswerTimeout);
        }

        if (!member.HasRole(NodeRoles.Intercept) || !_intercepts.Add(member.Address))
        {
            return;
        }

        CaptureLog.InterceptJoined(_logger, member.Address.ToString(), _byEndpoints.Count);
        SendClaims([.. _byEndpoints.Keys], [], [member.Address]);
    }

    private void OnPlanAssigned(ReplayPlanAssigned assigned)
    {
        AppliedPlan applied;
        try
        {
            applied = AppliedPlan.Apply(_settings, assigned);
        }
        catch (NodeConfigurationException ex)
        {
            // The coordinator validated it; a node of another version might still read it differently.
            CaptureLog.PlanUnusable(_logger, assigned.Version, ex.Message);
            return;
        }

        Timers.Cancel("plan-answer");
        var previous = _plan.Current;
        _sampler = new SessionSampler(applied.SamplePercent);
        if (applied.RateCap != previous.RateCap)
        {
            _tokens = Math.Max(1, applied.RateCap ?? 0);
            _tokensAt = _time.GetUtcNow();
        }

        _plan.Set(applied);
        _planSettled = true;
        _statistics.PlanVersion = applied.Version;
        CaptureLog.PlanApplied(_logger, applied.Version, applied.Copies, applied.SamplePercent,
            applied.RateCap is { } cap ? $"{cap:F1}/s" : "none", applied.Filter ?? "(no targets)");
    }

    private bool TakeRateToken(AppliedPlan plan)
    {
        if (plan.RateCap is not { } rate)
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

    private void OnSliceGranted(IdentitySliceGranted granted)
    {
        if (granted.Range != _slice)
        {
            // Sessions already running keep their identities; new ones draw from the slice.
            _identities = ClientIdentityMapper.FromRange(granted.Range, "identity slice from the coordinator", _settings.Identities, _time);
            _slice = granted.Range;
        }

        SettleIdentities(() => CaptureLog.SliceGranted(_logger, granted.Range));
    }

    private void SettleIdentities(Action log)
    {
        Timers.Cancel("slice-answer");
        log();
        _identitiesSettled = true;
    }

    private void Queue(List<SessionEndpoints> list, SessionEndpoints endpoints)
    {
        list.Add(endpoints);
        if (!_flushQueued)
        {
            // Sent after the messages already in the mailbox: a burst of new sessions becomes one message.
            _flushQueued = true;
            Self.Tell(FlushClaimsNow.Instance);
        }
    }

    private void FlushClaims()
    {
        _flushQueued = false;
        SendClaims(_claims, _releases, _intercepts);
        _claims.Clear();
        _releases.Clear();
    }

    private void SendClaims(IReadOnlyList<SessionEndpoints> claims, IReadOnlyList<SessionEndpoints> releases, IEnumerable<Address> intercepts)
    {
        if (claims.Count + releases.Count == 0)
        {
            return;
        }

        foreach (var address in intercepts)
        {
            var router = Context.ActorSelection(new RootActorPath(address) / "user" / ActorNames.ReplyRouter);
            for (var offset = 0; offset < Math.Max(claims.Count, releases.Count); offset += RouteClaims.MaxEntries / 2)
            {
                router.Tell(new RouteClaims(Self,
                    [.. claims.Skip(offset).Take(RouteClaims.MaxEntries / 2)],
                    [.. releases.Skip(offset).Take(RouteClaims.MaxEntries / 2)]));
            }
        }
    }

    /// <summary>Asks whether capture may start (answer: <see cref="Readiness"/>).</summary>
    public sealed class ReadinessQuery
    {
        public static readonly ReadinessQuery Instance = new();
    }

    /// <summary>Intercept nodes our routes go to, whether client identities are settled, and whether the plan (with targets) is.</summary>
    public sealed record Readiness(int Intercepts, bool IdentitiesSettled, bool PlanSettled);

    private sealed class PlanAnswerOverdue
    {
        public static readonly PlanAnswerOverdue Instance = new();
    }

    private sealed class SliceAnswerOverdue
    {
        public static readonly SliceAnswerOverdue Instance = new();
    }

    private sealed class FlushClaimsNow
    {
        public static readonly FlushClaimsNow Instance = new();
    }

    private sealed class RefreshClaims
    {
        public static readonly RefreshClaims Instance = new();
    }

    private sealed class LogStatistics
    {
        public static readonly LogStatistics Instance = new();
    }

    private sealed class CollectProgress
    {
        public static readonly CollectProgress Instance = new();
    }
}
