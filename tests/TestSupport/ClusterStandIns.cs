using Akka.Actor;
using Akka.Cluster;
using ReplayCluster.Membership;

namespace ReplayCluster.Tests.TestSupport;

/// <summary>
/// Other cluster nodes for actor specs that run in one actor system: a membership the spec writes
/// (addresses and roles, as the cluster would report them) and actor refs with those nodes' addresses.
/// The actors under test check senders against this membership exactly as against the live cluster's.
/// </summary>
internal sealed class SpecMembers
{
    private readonly List<MemberView> _members = [];

    public SpecMembers(params string[] selfRoles)
    {
        Senders = new ClusterSenders(() => [.. _members], new HashSet<string>(selfRoles, StringComparer.Ordinal));
    }

    /// <summary>The sender checks the actor under test is given.</summary>
    public ClusterSenders Senders { get; }

    /// <summary>The address of node <paramref name="n"/> (10.0.0.n:4053).</summary>
    public static Address Node(int n) => new("akka.tcp", "replaycluster", $"10.0.0.{n}", 4053);

    /// <summary>Node <paramref name="n"/> is now a member (up) with <paramref name="role"/>.</summary>
    public Address Join(int n, string role, MemberStatus status = MemberStatus.Up) => Join(Node(n), role, status);

    /// <summary>The node at <paramref name="address"/> is now a member with <paramref name="role"/>.</summary>
    public Address Join(Address address, string role, MemberStatus status = MemberStatus.Up)
    {
        _members.RemoveAll(m => m.Address == address);
        _members.Add(new MemberView(address, status, new HashSet<string>([role], StringComparer.Ordinal)));
        return address;
    }

    /// <summary>Node <paramref name="n"/> is no member any more.</summary>
    public void Leave(int n) => _members.RemoveAll(m => m.Address == Node(n));

    /// <summary>The event the cluster publishes when the node at <paramref name="address"/> is removed.</summary>
    public static ClusterEvent.MemberRemoved Removed(Address address, string role) =>
        new(Member(address, role, MemberStatus.Removed), MemberStatus.Down);

    /// <summary>The event the cluster publishes when the node at <paramref name="address"/> is up.</summary>
    public static ClusterEvent.MemberUp Up(Address address, string role) => new(Member(address, role, MemberStatus.Up));

    private static Member Member(Address address, string role, MemberStatus status)
    {
        // Akka creates members only internally; a spec needs one of another node for the event.
        var create = typeof(Member).GetMethod("Create", System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Public,
            [typeof(UniqueAddress), typeof(int), typeof(MemberStatus), typeof(System.Collections.Immutable.ImmutableHashSet<string>), typeof(Akka.Util.AppVersion)])
            ?? throw new InvalidOperationException("Akka.Cluster.Member.Create not found");
        return (Member)create.Invoke(null, [new UniqueAddress(address, 1), 1, status, System.Collections.Immutable.ImmutableHashSet.Create(role), Akka.Util.AppVersion.Zero])!;
    }
}

/// <summary>
/// An actor of another node as the actor under test sees it (a path with that node's address); what it is
/// sent goes to <paramref name="forwardTo"/> (a probe), with the original sender.
/// </summary>
internal sealed class RemoteStandIn(Address address, string name, IActorRef forwardTo, IActorRefProvider provider) : MinimalActorRef
{
    public override ActorPath Path { get; } = new RootActorPath(address) / "user" / name;

    public override IActorRefProvider Provider { get; } = provider;

    public static RemoteStandIn For(ActorSystem system, Address address, IActorRef forwardTo, string name = "stand-in") =>
        new(address, name, forwardTo, ((ExtendedActorSystem)system).Provider);

    protected override void TellInternal(object message, IActorRef sender) => forwardTo.Tell(message, sender);
}
