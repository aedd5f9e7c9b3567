using Akka.Actor;

namespace ReplayCluster.Capture.Routing;

/// <summary>
/// The intercept nodes in the cluster now, kept by <see cref="RouteAnnouncer"/> and read by every shard when
/// it sends its route claims. A snapshot array swapped whole: readers on other threads never lock.
/// </summary>
internal sealed class InterceptDirectory
{
    private readonly Lock _writeLock = new();
    private Address[] _intercepts = [];
    private ReplyChannelListener? _channels;

    /// <summary>The node's reply channels, once listening (null without them): the shards send claims through them.</summary>
    public ReplyChannelListener? Channels
    {
        get => Volatile.Read(ref _channels);
        set => Volatile.Write(ref _channels, value);
    }

    /// <summary>The intercepts now; never modified after it was published.</summary>
    public IReadOnlyList<Address> Intercepts => Volatile.Read(ref _intercepts);

    /// <summary>Adds an intercept; false when it was known.</summary>
    public bool Add(Address address)
    {
        lock (_writeLock)
        {
            if (_intercepts.Contains(address))
            {
                return false;
            }

            Volatile.Write(ref _intercepts, [.. _intercepts, address]);
            return true;
        }
    }

    public void Remove(Address address)
    {
        lock (_writeLock)
        {
            Volatile.Write(ref _intercepts, [.. _intercepts.Where(a => a != address)]);
        }
    }
}
