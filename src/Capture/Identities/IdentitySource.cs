using ReplayCluster.Capture.Replay;

namespace ReplayCluster.Capture.Identities;

/// <summary>
/// The client identities new sessions draw from, shared by every shard: the node's own range (-c), a slice
/// the coordinator granted, or the real client addresses. When the slice changes, sessions already running
/// keep their identities and give them back to the mapper they came from.
/// </summary>
/// <remarks>Shards acquire from several threads, once per new session: one lock, never taken per packet.</remarks>
internal sealed class IdentitySource(ClientIdentityMapper initial)
{
    private readonly Lock _gate = new();
    private ClientIdentityMapper _current = initial;

    /// <summary>The slice in use, when it came from the coordinator.</summary>
    public string? Slice { get; private set; }

    /// <summary>New sessions draw from <paramref name="mapper"/> from now on.</summary>
    public void Use(ClientIdentityMapper mapper, string? slice)
    {
        lock (_gate)
        {
            _current = mapper;
            Slice = slice;
        }
    }

    /// <summary>Picks the identity of a new session; <paramref name="owner"/> is where it goes back to.</summary>
    public bool TryAcquire(uint clientAddress, ushort clientPort, uint targetAddress, ushort targetPort,
        out uint address, out ushort port, out ClientIdentityMapper owner)
    {
        lock (_gate)
        {
            owner = _current;
            return owner.TryAcquire(clientAddress, clientPort, targetAddress, targetPort, out address, out port);
        }
    }

    /// <summary>Gives an identity back to the mapper it came from.</summary>
    public void Release(ClientIdentityMapper owner, uint address, ushort port, uint targetAddress, ushort targetPort)
    {
        ArgumentNullException.ThrowIfNull(owner);
        lock (_gate)
        {
            owner.Release(address, port, targetAddress, targetPort);
        }
    }
}
