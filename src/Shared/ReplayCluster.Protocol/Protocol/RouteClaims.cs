using Akka.Actor;

namespace ReplayCluster.Protocol;

/// <summary>
/// A capture node's announcement to the intercept nodes: replies to these sessions are mine (claims),
/// and these sessions ended (releases). Batched like response records; a claim is refreshed by
/// claiming again, and every route of an owner vanishes when its node leaves the cluster.
/// </summary>
public sealed class RouteClaims : IReplayWireMessage
{
    /// <summary>Upper bound on endpoints per message.</summary>
    public const int MaxEntries = 16_384;

    public RouteClaims(IActorRef owner, SessionEndpoints[] claimed, SessionEndpoints[] released)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(claimed);
        ArgumentNullException.ThrowIfNull(released);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(claimed.Length + released.Length, MaxEntries);
        Owner = owner;
        Claimed = claimed;
        Released = released;
    }

    /// <summary>Where the replies go: the capture node's session manager.</summary>
    public IActorRef Owner { get; }

    public IReadOnlyList<SessionEndpoints> Claimed { get; }

    public IReadOnlyList<SessionEndpoints> Released { get; }
}
