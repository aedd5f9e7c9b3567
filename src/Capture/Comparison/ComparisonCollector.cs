using Akka.Actor;
using Akka.Cluster;
using Microsoft.Extensions.Logging;
using ReplayCluster.Capture.Plans;
using ReplayCluster.Capture.Routing;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Comparison;
using ReplayCluster.Configuration;
using ReplayCluster.Membership;
using ReplayCluster.Packets;
using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Comparison;

/// <summary>A packet of a compared online connection, either direction, from <see cref="OnlineComparisonCapture"/>.</summary>
internal sealed record OnlinePacket(OnlineConnection Connection, bool FromClient, uint Sequence, TcpFlags Flags, byte[] Payload);

/// <summary>The online reply capture opened: comparison is on (the collector starts its timers).</summary>
internal sealed class ComparisonTurnedOn
{
    public static readonly ComparisonTurnedOn Instance = new();
}

/// <summary>A shard started the replay of a compared connection toward <paramref name="Target"/> (its first copy).</summary>
/// <summary>A compared connection's replay started: its session at the target and, when the plan names one, at the secondary reference.</summary>
internal sealed record ComparedSessionStarted(OnlineConnection Connection, SessionEndpoints Target, SessionEndpoints? Secondary = null);

/// <summary>
/// The capture node's side of response comparison, off the hot path on its own actor: it owns the node's
/// <see cref="ComparisonEngine"/>, puts the compared sessions' streams in order (online requests and replies from
/// <see cref="OnlineComparisonCapture"/>, the target's replies from the intercepts' taps), feeds them to the engine,
/// tells the intercepts which replayed sessions to tap, and sends the coordinator what it compared every
/// <see cref="ComparisonCollectorOptions.ReportInterval"/> (<see cref="ComparisonEngine.TakeDelta"/>: compact, bounded).
/// The target's requests are the online requests (a replay sends the same bytes), so the client stream feeds both sides.
/// </summary>
internal sealed class ComparisonCollector : ReceiveActor, IWithTimers
{
    private readonly PlanInEffect _plan;
    private readonly ComparisonSwitch? _comparing;
    private readonly InterceptDirectory _intercepts;
    private readonly CaptureComparisonCounters _counters;
    private readonly ComparisonCollectorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ClusterSenders _senders;
    private readonly Dictionary<OnlineConnection, Tracked> _byConnection = [];
    private readonly Dictionary<SessionEndpoints, Tracked> _byTarget = [];
    private readonly List<SessionEndpoints> _ended = [];
    private ComparisonEngine? _engine;
    private ComparisonOptions? _engineOptions;
    private Dictionary<string, long> _countersSent = new(StringComparer.Ordinal);
    private bool _changed;
    private long _lastToldIntercepts;
    private int _interceptsTold;

    /// <summary>How often the intercepts hear that comparison is on while no session starts or ends; their tap closes after 6 of these.</summary>
    internal static readonly TimeSpan TapKeepAlive = TimeSpan.FromSeconds(5);

    public ComparisonCollector(PlanInEffect plan, InterceptDirectory intercepts, CaptureComparisonCounters counters, ComparisonCollectorOptions options,
        TimeProvider time, ILogger logger, ClusterSenders? senders = null, ComparisonSwitch? comparing = null)
    {
        _comparing = comparing;
        _plan = plan;
        _intercepts = intercepts;
        _counters = counters;
        _options = options;
        _time = time;
        _logger = logger;
        _senders = senders ?? ClusterSenders.Of(Context.System);
        Receive<OnlinePacket>(p =>
        {
            EnsureTimers();
            OnOnline(p);
        });
        Receive<ComparedSessionStarted>(started =>
        {
            EnsureTimers();
            OnStarted(started);
        });
        Receive<ComparisonTurnedOn>(_ => EnsureTimers());
        Receive<TargetReplySegments>(OnTarget);
        Receive<Tick>(_ => OnTick());
        Receive<Report>(_ => SendReport());
        Receive<GetSummary>(_ => Sender.Tell(_engine?.Snapshot() ?? ComparisonSummary.Empty));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Sessions being compared now.</summary>
    public int Sessions => _byConnection.Count;

    public static Props Props(PlanInEffect plan, InterceptDirectory intercepts, CaptureComparisonCounters counters, ComparisonCollectorOptions options,
        TimeProvider time, ILogger logger, ClusterSenders? senders = null, ComparisonSwitch? comparing = null) =>
        Akka.Actor.Props.Create(() => new ComparisonCollector(plan, intercepts, counters, options, time, logger, senders, comparing));

    /// <summary>
    /// Timers only once comparison is on (<see cref="ComparisonTurnedOn"/>, or a first packet): a node that never
    /// compares never wakes up for it (idle CPU is measured, bench/idle.sh).
    /// </summary>
    private void EnsureTimers()
    {
        if (!Timers.IsTimerActive("tick"))
        {
            Timers.StartPeriodicTimer("tick", Tick.Instance, TimeSpan.FromMilliseconds(500));
            Timers.StartPeriodicTimer("report", Report.Instance, _options.ReportInterval);
        }
    }

    protected override void PostStop()
    {
        // The node stops: what its sessions compared so far counts, and the coordinator gets it.
        foreach (var tracked in _byConnection.Values.ToList())
        {
            Finish(tracked);
        }

        SendReport();
    }

    private ComparisonEngine Engine()
    {
        var options = ComparisonPlan.Options(_plan.Current.Plan);
        if (_engine is null || !SameRules(options, _engineOptions!))
        {
            if (_engine is not null)
            {
                // New noise rules: what was compared under the old ones goes out, its open sessions are abandoned (counted).
                foreach (var tracked in _byConnection.Values.ToList())
                {
                    _counters.Count(CaptureComparisonDrop.RulesChanged);
                    Remove(tracked);
                    tracked.Session.Dispose();
                }

                SendReport();
            }

            _engine = new ComparisonEngine(options);
            _engineOptions = options;
            ComparisonLog.EngineStarted(_logger, ComparisonPlan.Percent(_plan.Current.Plan), string.Join(",", options.Noise.IgnoredHeaders),
                string.Join(",", options.Noise.IgnoredJsonPaths));
        }

        return _engine;
    }

    private static bool SameRules(ComparisonOptions a, ComparisonOptions b) =>
        a.Noise.IgnoredHeaders.SequenceEqual(b.Noise.IgnoredHeaders) && a.Noise.IgnoredJsonPaths.SequenceEqual(b.Noise.IgnoredJsonPaths)
        && a.Noise.RedactedFields.SequenceEqual(b.Noise.RedactedFields);

    private void OnOnline(OnlinePacket packet)
    {
        OnlineComparisonCapture.Dequeued(packet);
        var isSyn = (packet.Flags & TcpFlags.Syn) != 0;
        var tracked = _byConnection.GetValueOrDefault(packet.Connection);
        if (packet.FromClient && isSyn && (packet.Flags & TcpFlags.Ack) == 0)
        {
            if (tracked is not null && tracked.Client.Started && tracked.ClientIsn != packet.Sequence)
            {
                Finish(tracked); // the client port reused: a new connection
                tracked = null;
            }

            tracked ??= Open(packet.Connection);
            if (tracked is not null && !tracked.Client.Started)
            {
                tracked.ClientIsn = packet.Sequence;
                tracked.Client.Start(packet.Sequence);
            }

            return;
        }

        if (tracked is null)
        {
            return; // a connection this capture saw start before comparison was on, or one it does not compare
        }

        Touch(tracked);
        if (packet.FromClient)
        {
            tracked.Client.Add(packet.Sequence, packet.Payload, tracked.FeedClient);
            tracked.ClientClosed |= (packet.Flags & (TcpFlags.Fin | TcpFlags.Rst)) != 0;
        }
        else
        {
            if (isSyn)
            {
                tracked.OnlineServer.Start(packet.Sequence);
            }

            tracked.OnlineServer.Add(packet.Sequence, packet.Payload, tracked.FeedOnline);
            tracked.OnlineServerClosed |= (packet.Flags & (TcpFlags.Fin | TcpFlags.Rst)) != 0;
        }

        Check(tracked);
    }

    private void OnStarted(ComparedSessionStarted started)
    {
        var tracked = _byConnection.GetValueOrDefault(started.Connection);
        if (tracked?.Target is { } previous && previous != started.Target)
        {
            Finish(tracked); // a new replay of a reused client port
            tracked = null;
        }

        tracked ??= Open(started.Connection);
        if (tracked is null || tracked.Target is not null)
        {
            return;
        }

        tracked.Target = started.Target;
        _byTarget[started.Target] = tracked;
        if (started.Secondary is { } secondary && tracked.Session.HasSecondary)
        {
            tracked.Secondary = secondary;
            _byTarget[secondary] = tracked;
            Tell(new CompareSessions(Self, [started.Target, secondary], []));
            return;
        }

        Tell(new CompareSessions(Self, [started.Target], []));
    }

    private void OnTarget(TargetReplySegments message)
    {
        if (_senders.Check(Sender, NodeRoles.Intercept) != SenderVerdict.Accepted)
        {
            _counters.Count(CaptureComparisonDrop.TargetRefused, message.Segments.Count);
            return;
        }

        foreach (var segment in message.Segments)
        {
            if (!_byTarget.TryGetValue(segment.Endpoints, out var tracked))
            {
                _counters.Count(CaptureComparisonDrop.TargetUnknown);
                continue;
            }

            Touch(tracked);
            var flags = (TcpFlags)segment.Flags;
            var fromSecondary = tracked.Secondary == segment.Endpoints;
            var server = fromSecondary ? tracked.SecondaryServer : tracked.TargetServer;
            if ((flags & TcpFlags.Syn) != 0)
            {
                server.Start(segment.Sequence);
            }

            server.Add(segment.Sequence, segment.Payload.Span, fromSecondary ? tracked.FeedSecondary : tracked.FeedTarget);
            var closed = (flags & (TcpFlags.Fin | TcpFlags.Rst)) != 0;
            if (fromSecondary)
            {
                tracked.SecondaryClosed |= closed;
            }
            else
            {
                tracked.TargetClosed |= closed;
            }

            Check(tracked);
        }
    }

    private Tracked? Open(OnlineConnection connection)
    {
        if (_byConnection.Count >= _options.MaxSessions)
        {
            _counters.Count(CaptureComparisonDrop.SessionsFull);
            return null;
        }

        // With a secondary reference in the plan its replies are waited for too (a silent one never blocks the end).
        var withSecondary = ComparisonPlan.Secondary(_plan.Current.Plan) is not null;
        var tracked = new Tracked(connection, Engine().OpenSession(withSecondary), this) { LastActivity = _time.GetTimestamp() };
        _byConnection[connection] = tracked;
        return tracked;
    }

    private void Touch(Tracked tracked) => tracked.LastActivity = _time.GetTimestamp();

    private void Check(Tracked tracked)
    {
        if (tracked.Fed > _options.MaxSessionBytes)
        {
            _counters.Count(CaptureComparisonDrop.SessionTooLarge);
            tracked.Broken = true;
            Finish(tracked);
        }
    }

    private void OnTick()
    {
        foreach (var tracked in _byConnection.Values.ToList())
        {
            var quiet = _time.GetElapsedTime(tracked.LastActivity);
            var onlineClosed = tracked.ClientClosed || tracked.OnlineServerClosed;
            // Done when both sides closed and a moment passed (late retransmissions), or the online side closed and the
            // target stays silent past the grace, or the session idles out.
            var repliesClosed = tracked.TargetClosed && (tracked.Secondary is null || tracked.SecondaryClosed);
            if ((onlineClosed && repliesClosed && quiet >= TimeSpan.FromMilliseconds(500))
                || (onlineClosed && quiet >= _options.CloseGrace)
                || quiet >= _options.IdleTimeout)
            {
                Finish(tracked);
            }
        }

        if (_ended.Count > 0)
        {
            Tell(new CompareSessions(Self, [], [.. _ended.Take(CompareSessions.MaxEntries)]));
            _ended.Clear();
            _lastToldIntercepts = _time.GetTimestamp();
        }
        else if ((_comparing?.On ?? ComparisonPlan.Percent(_plan.Current.Plan) > 0) && _time.GetElapsedTime(_lastToldIntercepts) >= TapKeepAlive)
        {
            // "Comparison is on": the intercepts open their tap before the first compared session (its SYN-ACK must not
            // be missed), and close it when this stops (off costs nothing there either).
            Tell(new CompareSessions(Self, [], []));
            _lastToldIntercepts = _time.GetTimestamp();
            if (_intercepts.Intercepts.Count != _interceptsTold)
            {
                _interceptsTold = _intercepts.Intercepts.Count;
                ComparisonLog.InterceptsTold(_logger, _interceptsTold);
            }
        }
    }

    private void Finish(Tracked tracked)
    {
        Remove(tracked);
        _changed = true;
        if (tracked.Target is null)
        {
            _counters.Count(CaptureComparisonDrop.NotReplayed);
            tracked.Session.Dispose();
        }
        else if (tracked.Broken || tracked.Client.Broken || tracked.OnlineServer.Broken || tracked.TargetServer.Broken || tracked.SecondaryServer.Broken)
        {
            _counters.Count(CaptureComparisonDrop.StreamBroken, tracked.Broken ? 0 : 1);
            tracked.Session.Dispose(); // abandoned: counted by the engine as dropped_session_abandoned
        }
        else
        {
            tracked.Session.Complete();
        }
    }

    private void Remove(Tracked tracked)
    {
        _byConnection.Remove(tracked.Connection);
        if (tracked.Target is { } target && _byTarget.Remove(target))
        {
            _ended.Add(target);
        }

        if (tracked.Secondary is { } secondary && _byTarget.Remove(secondary))
        {
            _ended.Add(secondary);
        }
    }

    private void Tell(CompareSessions message)
    {
        foreach (var address in _intercepts.Intercepts)
        {
            Context.ActorSelection(new RootActorPath(address) / "user" / ComparisonActorNames.Tap).Tell(message, Self);
        }
    }

    private void SendReport()
    {
        if (_engine is null)
        {
            return;
        }

        var counters = _counters.Snapshot();
        var grown = counters.Where(c => c.Value > _countersSent.GetValueOrDefault(c.Key)).ToList();
        if (!_changed && grown.Count == 0 && _engine.Counters.Snapshot().Count == 0)
        {
            return;
        }

        var delta = _engine.TakeDelta();
        if (delta.PairsCompared == 0 && delta.Sessions == 0 && delta.Counters.Count == 0 && grown.Count == 0)
        {
            _changed = false;
            return;
        }

        var merged = new Dictionary<string, long>(delta.Counters, StringComparer.Ordinal);
        foreach (var (name, value) in grown)
        {
            merged[name] = value - _countersSent.GetValueOrDefault(name);
        }

        _countersSent = counters;
        _changed = false;
        var report = new ComparisonSummaryReport((delta with { Counters = merged }).ToJson());
        var cluster = Akka.Cluster.Cluster.Get(Context.System);
        foreach (var coordinator in cluster.State.Members.Where(m => m.Status == MemberStatus.Up && m.HasRole(NodeRoles.Coordinator)))
        {
            Context.ActorSelection(new RootActorPath(coordinator.Address) / "user" / ComparisonActorNames.Collector).Tell(report, Self);
        }
    }

    /// <summary>One compared session: its engine session, its three reassembled streams, how it ends.</summary>
    private sealed class Tracked
    {
        private readonly ComparisonCollector _owner;

        public Tracked(OnlineConnection connection, ComparedSession session, ComparisonCollector owner)
        {
            Connection = connection;
            Session = session;
            _owner = owner;
            FeedClient = bytes =>
            {
                Fed += bytes.Length * 2;
                _owner._changed = true;
                Session.Feed(ComparisonSide.Online, StreamDirection.ClientToServer, bytes.Span);
                Session.Feed(ComparisonSide.Target, StreamDirection.ClientToServer, bytes.Span);
                if (Session.HasSecondary)
                {
                    Fed += bytes.Length;
                    Session.Feed(ComparisonSide.Secondary, StreamDirection.ClientToServer, bytes.Span);
                }
            };
            FeedOnline = bytes =>
            {
                Fed += bytes.Length;
                _owner._changed = true;
                Session.Feed(ComparisonSide.Online, StreamDirection.ServerToClient, bytes.Span);
            };
            FeedTarget = bytes =>
            {
                Fed += bytes.Length;
                _owner._changed = true;
                Session.Feed(ComparisonSide.Target, StreamDirection.ServerToClient, bytes.Span);
            };
            FeedSecondary = bytes =>
            {
                Fed += bytes.Length;
                _owner._changed = true;
                Session.Feed(ComparisonSide.Secondary, StreamDirection.ServerToClient, bytes.Span);
            };
        }

        public OnlineConnection Connection { get; }

        public ComparedSession Session { get; }

        public SessionEndpoints? Target { get; set; }

        /// <summary>Its replay at the secondary reference, when the plan names one and an identity was free.</summary>
        public SessionEndpoints? Secondary { get; set; }

        public uint ClientIsn { get; set; }

        public StreamReassembler Client { get; } = new();

        public StreamReassembler OnlineServer { get; } = new();

        public StreamReassembler TargetServer { get; } = new();

        public StreamReassembler SecondaryServer { get; } = new();

        public Action<ReadOnlyMemory<byte>> FeedClient { get; }

        public Action<ReadOnlyMemory<byte>> FeedOnline { get; }

        public Action<ReadOnlyMemory<byte>> FeedTarget { get; }

        public Action<ReadOnlyMemory<byte>> FeedSecondary { get; }

        public long Fed { get; private set; }

        public long LastActivity { get; set; }

        public bool ClientClosed { get; set; }

        public bool OnlineServerClosed { get; set; }

        public bool TargetClosed { get; set; }

        public bool SecondaryClosed { get; set; }

        public bool Broken { get; set; }
    }

    /// <summary>Asks for what the engine compared since its last report (tests; the coordinator gets deltas).</summary>
    internal sealed class GetSummary
    {
        public static readonly GetSummary Instance = new();
    }

    private sealed class Tick
    {
        public static readonly Tick Instance = new();
    }

    private sealed class Report
    {
        public static readonly Report Instance = new();
    }
}

internal static partial class ComparisonLog
{
    [LoggerMessage(EventId = 270, Level = LogLevel.Information, Message = "Comparing responses of {Percent} % of sessions; ignored headers beyond the defaults: [{Headers}], ignored JSON paths: [{Paths}]")]
    public static partial void EngineStarted(ILogger logger, double percent, string headers, string paths);

    [LoggerMessage(EventId = 274, Level = LogLevel.Information, Message = "Comparison is on: {Count} intercept node(s) told to tap the replies of compared sessions")]
    public static partial void InterceptsTold(ILogger logger, int count);

    [LoggerMessage(EventId = 271, Level = LogLevel.Information, Message = "Capturing online replies for comparison on {Interface} ({Filter})")]
    public static partial void OnlineCapturing(ILogger logger, string @interface, string filter);

    [LoggerMessage(EventId = 272, Level = LogLevel.Warning, Message = "The online reply capture for comparison could not start on {Interface}: {Reason}; no session is compared")]
    public static partial void OnlineCaptureFailed(ILogger logger, string @interface, string reason);

    [LoggerMessage(EventId = 273, Level = LogLevel.Information, Message = "Online reply capture for comparison stopped (comparison off)")]
    public static partial void OnlineCaptureStopped(ILogger logger);
}
