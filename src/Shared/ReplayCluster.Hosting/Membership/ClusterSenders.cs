using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster;

namespace ReplayCluster.Membership;

/// <summary>A cluster member as the sender checks see it: its address, status and roles.</summary>
public readonly record struct MemberView(Address Address, MemberStatus Status, IReadOnlySet<string> Roles);

/// <summary>Whether a message's sender may say what it said.</summary>
public enum SenderVerdict
{
    /// <summary>A member of the cluster with the role the message needs.</summary>
    Accepted,

    /// <summary>Not (or no longer) a member of the cluster: a process that only reached our port.</summary>
    NotMember,

    /// <summary>A member, but of a role that does not send this message.</summary>
    WrongRole,

    /// <summary>A member of the right role whose host's certificate does not carry that role (cluster TLS only).</summary>
    NotCertified,
}

/// <summary>
/// Checks the sender of an inbound cluster message against the cluster's current membership and roles:
/// a plan or a slice only from the coordinator, route claims only from capture nodes, statistics only from
/// the members that report. Every actor that peers address checks each message it takes from the wire.
/// </summary>
/// <remarks>
/// <para>
/// The sender address is the one in the message's envelope, which the sending actor system writes. Members
/// that joined without the right role are refused here; binding that address to the authenticated peer
/// of the connection (one certificate per node and role) is the transport's part.
/// </para>
/// <para>
/// Joining, leaving and exiting members are accepted: a node reports its final counters while it leaves,
/// and the first claims of a capture node may arrive before every node saw it up. Down and removed
/// members are not.
/// </para>
/// </remarks>
public sealed class ClusterSenders
{
    private readonly Func<IEnumerable<MemberView>> _members;
    private readonly IReadOnlySet<string> _selfRoles;
    private readonly Address? _self;
    private readonly Func<Address, IReadOnlyList<string>>? _certifiedRoles;

    /// <param name="members">The members now; read on every check (membership changes at run time).</param>
    /// <param name="selfRoles">This node's own roles, for senders with a local address.</param>
    /// <param name="self">This node's own address in the cluster, when it has one.</param>
    /// <param name="certifiedRoles">
    /// With cluster TLS, the roles the cluster CA certified for the host of an address (empty when that host never
    /// showed a certificate here); null without TLS, where a member's role is only its own claim.
    /// </param>
    public ClusterSenders(Func<IEnumerable<MemberView>> members, IReadOnlySet<string> selfRoles, Address? self = null,
        Func<Address, IReadOnlyList<string>>? certifiedRoles = null)
    {
        ArgumentNullException.ThrowIfNull(members);
        ArgumentNullException.ThrowIfNull(selfRoles);
        _members = members;
        _selfRoles = selfRoles;
        _self = self;
        _certifiedRoles = certifiedRoles;
    }

    /// <summary>The live membership of <paramref name="system"/>'s cluster, and with TLS its peers' certified roles.</summary>
    public static ClusterSenders Of(ActorSystem system)
    {
        var cluster = Akka.Cluster.Cluster.Get(system);
        var certified = global::ReplayCluster.Cluster.CertifiedPeers.Of(system);
        return new ClusterSenders(() => View(cluster.State.Members), cluster.SelfRoles, cluster.SelfAddress,
            certified is null ? null : address => certified.RolesAt(address.Host ?? string.Empty));
    }

    /// <summary>Whether <paramref name="sender"/> is a member with <paramref name="role"/>.</summary>
    public SenderVerdict Check(IActorRef sender, string role)
    {
        ArgumentNullException.ThrowIfNull(sender);
        return Check(sender.Path.Address, role);
    }

    /// <summary>Whether the node at <paramref name="address"/> is a member with <paramref name="role"/>.</summary>
    public SenderVerdict Check(Address address, string role)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(role);
        if (!address.HasGlobalScope || address == _self)
        {
            return _selfRoles.Contains(role) ? SenderVerdict.Accepted : SenderVerdict.WrongRole;
        }

        foreach (var member in _members())
        {
            if (member.Address == address && IsCurrent(member.Status))
            {
                if (!member.Roles.Contains(role))
                {
                    return SenderVerdict.WrongRole;
                }

                // A message reaches us only over a connection whose peer showed its certificate, so the host's
                // certified roles are known here by now; a role the CA did not give it is only a claim.
                return _certifiedRoles is null || _certifiedRoles(address).Contains(role, StringComparer.Ordinal)
                    ? SenderVerdict.Accepted
                    : SenderVerdict.NotCertified;
            }
        }

        return SenderVerdict.NotMember;
    }

    /// <summary>Members now with <paramref name="role"/> (joining to exiting).</summary>
    public int Count(string role) => _members().Count(m => IsCurrent(m.Status) && m.Roles.Contains(role));

    /// <summary>The refusal reason of <paramref name="verdict"/> as counted and logged.</summary>
    public static string Reason(SenderVerdict verdict) => verdict switch
    {
        SenderVerdict.NotMember => RefusalReasons.NotMember,
        SenderVerdict.WrongRole => RefusalReasons.WrongRole,
        SenderVerdict.NotCertified => RefusalReasons.NotCertified,
        _ => throw new ArgumentOutOfRangeException(nameof(verdict), verdict, "not a refusal"),
    };

    private static bool IsCurrent(MemberStatus status) =>
        status is MemberStatus.Joining or MemberStatus.WeaklyUp or MemberStatus.Up or MemberStatus.Leaving or MemberStatus.Exiting;

    private static IEnumerable<MemberView> View(ImmutableSortedSet<Member> members)
    {
        foreach (var member in members)
        {
            yield return new MemberView(member.Address, member.Status, member.Roles);
        }
    }
}
