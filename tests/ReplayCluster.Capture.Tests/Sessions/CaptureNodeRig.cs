using System.Collections.Concurrent;
using Akka.Actor;
using Microsoft.Extensions.Logging.Abstractions;
using ReplayCluster.Capture.Admission;
using ReplayCluster.Capture.Identities;
using ReplayCluster.Capture.Plans;
using ReplayCluster.Capture.Routing;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Packets;
using ReplayCluster.Configuration;
using ReplayCluster.Protocol;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Capture.Tests.Sessions;

/// <summary>
/// A capture node's data path in one actor system, wired as CaptureNodeHosting wires it: shards, admission,
/// identities, a recording transport instead of the raw socket. Packets enter as the pump hands them over.
/// </summary>
internal sealed class CaptureNodeRig
{
    public CaptureNodeRig(ActorSystem system, CaptureNodeSettings settings, int shards = 2, int queueLimit = 1024, IActorRef? coordinatorInbox = null,
        TimeProvider? sessionTime = null, string? shardDispatcher = null, Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        Settings = settings;
        Plan = new PlanInEffect(AppliedPlan.Own(settings));
        Limits = new AdmissionLimits(settings.MaxLiveSessions, new BufferBudget(settings.MaxNodeBufferedBytes), TimeProvider.System);
        Statistics.Budget = Limits.Budget;
        Statistics.LiveSessionsSource = () => Limits.LiveSessions;
        Shards = new SessionShards(shards, queueLimit);
        // As the node: its own range, or the real addresses when chosen, else none until a slice is granted.
        Identities = new IdentitySource(settings.FakeClientRange is { } range ? ClientIdentityMapper.FromRange(range, "test")
            : settings.RealClientAddresses ? ClientIdentityMapper.KeepReal() : null, settings.Identities, TimeProvider.System);
        var shared = new SessionShard.Shared(Plan, Shards, Limits, Identities, Directory, Transport, sessionTime ?? TimeProvider.System, Statistics, logger ?? NullLogger.Instance);
        // shardDispatcher: shards on ShardThreadExecutor dispatchers "<name>-<i>" (ShardThreadExecutorConfigurator.Hocon), as the node runs them.
        Shards.Attach([.. Enumerable.Range(0, shards).Select(i => system.ActorOf(shardDispatcher is null
            ? SessionShard.Props(shared, i) : SessionShard.Props(shared, i).WithDispatcher($"{shardDispatcher}-{i}")))]);
        Policy = new NodePlanPolicy(settings, () => OwnAddresses);
        Coordinator = RemoteStandIn.For(system, Members.Join(1, NodeRoles.Coordinator), coordinatorInbox ?? ActorRefs.Nobody, "replay-plan");
        PlanFollower = system.ActorOf(ReplayCluster.Capture.Plans.PlanFollower.Props(settings, Plan, Limits, Statistics, Readiness, NullLogger.Instance,
            Policy, Members.Senders));
    }

    public CaptureNodeSettings Settings { get; }

    public PlanInEffect Plan { get; }

    public AdmissionLimits Limits { get; }

    public SessionShards Shards { get; }

    public IdentitySource Identities { get; }

    public InterceptDirectory Directory { get; } = new();

    public CaptureReadiness Readiness { get; } = new();

    public CaptureNodeStatistics Statistics { get; } = new();

    public RecordingTransport Transport { get; } = new();

    public IActorRef PlanFollower { get; }

    /// <summary>The cluster as this node sees it: the coordinator is node 1 (10.0.0.1).</summary>
    public SpecMembers Members { get; } = new(NodeRoles.Capture);

    /// <summary>The coordinator's plan keeper as this node's actors see it: send plans from it.</summary>
    public IActorRef Coordinator { get; }

    /// <summary>This host's addresses as the plan policy sees them.</summary>
    public HashSet<ReplayCluster.Packets.NetAddress> OwnAddresses { get; } = [];

    public NodePlanPolicy Policy { get; }

    /// <summary>What the pump does: resolve the target, hand the packet to its shard (a burst of one packet).</summary>
    public void Capture(OnlineConnection connection, CapturedSegment segment)
    {
        Stage(connection, segment);
        Shards.Flush();
    }

    /// <summary>What the pump does within a burst: resolve the target, stage the packet for its shard until <see cref="SessionShards.Flush"/>.</summary>
    public void Stage(OnlineConnection connection, CapturedSegment segment) => Assert.True(Shards.TryStage(PacketOf(connection, segment)));

    /// <summary>The packet the pump makes of a captured segment: with its target resolved in the current plan.</summary>
    public CapturedPacket PacketOf(OnlineConnection connection, CapturedSegment segment)
    {
        var targets = Plan.Current.Targets!;
        var routeIndex = targets.IndexOf(connection.ServerAddress, connection.ServerPort);
        Assert.True(routeIndex >= 0);
        return new CapturedPacket(connection, segment, targets, routeIndex);
    }

    public IActorRef ShardOf(OnlineConnection connection) => Shards.Refs[SessionShards.IndexOf(connection, Shards.Count)];

    public static CaptureNodeSettings DefaultSettings(long maxNodeBufferedBytes = 1L << 30, int copies = 1, double samplePercent = 100, long maxLiveSessions = 200_000) =>
        new()
        {
            MaxNodeBufferedBytes = maxNodeBufferedBytes,
            MaxLiveSessions = maxLiveSessions,
            Copies = copies,
            SamplePercent = samplePercent,
            Interface = "test0",
            ExplicitFilter = "tcp",
            Targets = TargetMapping.Parse(["80-10.251.21.2:80"], "test"),
            FakeClientRange = "10.200.0.0/16",
            Session = new SessionOptions(),
        };

    public static CapturedSegment Syn(uint isn) => new() { Sequence = isn, Acknowledgment = 0, Flags = TcpFlags.Syn, Mss = 1460 };

    internal sealed class RecordingTransport : ISegmentTransport
    {
        private int _attempts;

        public ConcurrentQueue<TcpSegmentSpec> Segments { get; } = new();

        /// <summary>Per segment sent: the shard thread's executor that sent it (null off such threads) and when (Stopwatch ticks).</summary>
        public ConcurrentQueue<(ReplayCluster.Capture.Sending.ShardThreadExecutor? Executor, long At)> Senders { get; } = new();

        /// <summary>Sends from this client port throw once, like a transport that broke.</summary>
        public ushort? FailForSourcePort { get; set; }

        public void Send(in TcpSegmentSpec segment, ReadOnlySpan<byte> payload)
        {
            if (segment.SourcePort == FailForSourcePort && Interlocked.Increment(ref _attempts) == 1)
            {
                throw new InvalidOperationException("transport broke");
            }

            Senders.Enqueue((ReplayCluster.Capture.Sending.ShardThreadExecutor.Current, System.Diagnostics.Stopwatch.GetTimestamp()));
            Segments.Enqueue(segment);
        }
    }
}
