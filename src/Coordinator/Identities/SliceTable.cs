using System.Net;

namespace ReplayCluster.Coordinator.Identities;

/// <summary>
/// Divides the cluster's fake client range into equal slices, one per capture node, so no two
/// replayed sessions of any two nodes can share a 4-tuple at the target (tcpcopy users had to split
/// -c ranges by hand, and amplification lost requests where they overlapped). Not thread-safe: one
/// actor owns it.
/// </summary>
/// <typeparam name="TOwner">Who holds a slice (an actor ref in the node).</typeparam>
internal sealed class SliceTable<TOwner>
    where TOwner : notnull
{
    private readonly uint _first;
    private readonly int _prefix;
    private readonly TOwner[] _owners;

    // Occupancy apart from the owners: for value-type owners, default(TOwner) is a real owner.
    private readonly bool[] _taken;

    /// <param name="range">The whole fake client range, e.g. 10.200.0.0/16.</param>
    /// <param name="slicePrefix">Prefix length of one slice, e.g. 24 (at least the range's, at most 30).</param>
    public SliceTable(IPNetwork range, int slicePrefix)
    {
        if (range.BaseAddress.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            throw new ArgumentException("Only IPv4 ranges can be sliced.", nameof(range));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(slicePrefix, range.PrefixLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(slicePrefix, 30);
        _first = ToUInt(range.BaseAddress);
        _prefix = slicePrefix;
        _owners = new TOwner[1 << Math.Min(20, slicePrefix - range.PrefixLength)];
        _taken = new bool[_owners.Length];
    }

    /// <summary>How many slices the range holds.</summary>
    public int Capacity => _owners.Length;

    /// <summary>Slices handed out.</summary>
    public int Granted => _taken.Count(t => t);

    /// <summary>
    /// Grants <paramref name="owner"/> a slice: the one it already holds, else <paramref name="preferred"/>
    /// when free (a node that held it before a coordinator restart keeps its identities), else the
    /// lowest free one. Null when every slice is taken.
    /// </summary>
    public IPNetwork? Grant(TOwner owner, IPNetwork? preferred = null)
    {
        var held = IndexOfOwner(owner, 0);
        if (held >= 0)
        {
            return Slice(held);
        }

        var index = preferred is { } wanted && IndexOf(wanted) is { } at && !_taken[at]
            ? at
            : Array.IndexOf(_taken, false);
        if (index < 0)
        {
            return null;
        }

        _owners[index] = owner;
        _taken[index] = true;
        return Slice(index);
    }

    /// <summary>Takes back every slice of <paramref name="owner"/>; returns what it held.</summary>
    public IReadOnlyList<IPNetwork> Release(TOwner owner)
    {
        var released = new List<IPNetwork>();
        for (var i = IndexOfOwner(owner, 0); i >= 0; i = IndexOfOwner(owner, i + 1))
        {
            _owners[i] = default!;
            _taken[i] = false;
            released.Add(Slice(i));
        }

        return released;
    }

    private int IndexOfOwner(TOwner owner, int start)
    {
        for (var i = start; i < _owners.Length; i++)
        {
            if (_taken[i] && EqualityComparer<TOwner>.Default.Equals(_owners[i], owner))
            {
                return i;
            }
        }

        return -1;
    }

    private IPNetwork Slice(int index) =>
        new(ToAddress(checked((uint)(_first + ((ulong)index << (32 - _prefix))))), _prefix);

    private int? IndexOf(IPNetwork slice)
    {
        if (slice.PrefixLength != _prefix || slice.BaseAddress.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            return null;
        }

        // 64-bit and compared before subtracting: a slice below the range must not wrap around into it.
        var address = (ulong)ToUInt(slice.BaseAddress);
        if (address < _first)
        {
            return null;
        }

        var offset = address - _first;
        var size = 1UL << (32 - _prefix);
        var index = offset / size;
        return offset % size == 0 && index < (ulong)_owners.Length ? (int)index : null;
    }

    private static uint ToUInt(IPAddress address)
    {
        var bytes = address.GetAddressBytes();
        return ((uint)bytes[0] << 24) | ((uint)bytes[1] << 16) | ((uint)bytes[2] << 8) | bytes[3];
    }

    private static IPAddress ToAddress(uint value) =>
        new([(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value]);
}
