using System.Diagnostics.CodeAnalysis;
using ReplayCluster.Packets;

namespace ReplayCluster.Capture.Identities;

/// <summary>
/// The client identities new sessions draw from, shared by every shard: the node's own range (-c), a slice
/// the coordinator granted, or the real client addresses when the node's configuration chose them. Until
/// one of those is settled there is none, and no session starts (each refusal counted as no-identity):
/// a node never falls back to the real client addresses, whose replies the target would route toward the
/// real clients. When the slice changes, sessions already running keep their identities and give them
/// back to the mapper they came from.
/// </summary>
/// <remarks>
/// Shards acquire from several threads, once per new session; the mapper takes its own lock (and keeps the
/// quarantine of recently released identities), so this only publishes which mapper is current.
/// </remarks>
internal sealed class IdentitySource(ClientIdentityMapper? initial, ClientIdentityOptions options, TimeProvider time)
{
    private (ClientIdentityMapper? Mapper, string? Slice) _current = (initial, null);
    private readonly Lock _swap = new();

    /// <summary>The slice in use, when it came from the coordinator.</summary>
    public string? Slice => Current.Slice;

    /// <summary>The mapper new sessions draw from; null while identities are unsettled.</summary>
    public ClientIdentityMapper? Mapper => Current.Mapper;

    private (ClientIdentityMapper? Mapper, string? Slice) Current
    {
        get
        {
            lock (_swap)
            {
                return _current;
            }
        }
    }

    /// <summary>New sessions draw from the slice <paramref name="range"/> from now on.</summary>
    public void UseSlice(string range)
    {
        var mapper = ClientIdentityMapper.FromRange(range, "identity slice from the coordinator", options, time);
        lock (_swap)
        {
            _current = (mapper, range);
        }
    }

    /// <summary>
    /// Picks the identity of a new session, of its target's family; <paramref name="owner"/> is where it goes back to.
    /// False while unsettled, and when the mapper has no range of that family (<see cref="ClientIdentityMapper.TryAcquire"/>).
    /// </summary>
    public bool TryAcquire(NetAddress clientAddress, ushort clientPort, NetAddress targetAddress, ushort targetPort,
        out NetAddress address, out ushort port, [NotNullWhen(true)] out ClientIdentityMapper? owner)
    {
        owner = Mapper;
        if (owner is null)
        {
            (address, port) = (NetAddress.Unspecified, clientPort);
            return false;
        }

        return owner.TryAcquire(clientAddress, clientPort, targetAddress, targetPort, out address, out port);
    }

    /// <summary>Gives an identity back to the mapper it came from (its quarantine holds it back from reuse).</summary>
    public static void Release(ClientIdentityMapper owner, NetAddress address, ushort port, NetAddress targetAddress, ushort targetPort)
    {
        ArgumentNullException.ThrowIfNull(owner);
        owner.Release(address, port, targetAddress, targetPort);
    }
}
