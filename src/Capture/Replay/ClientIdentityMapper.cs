using System.Globalization;
using System.Net;
using ReplayCluster.Configuration;
using ReplayCluster.Packets;

namespace ReplayCluster.Capture.Replay;

/// <summary>
/// Chooses the client address and port a replayed session uses at the target. Without a fake range the
/// real client's are kept. With one (tcpcopy's -c), each real client address maps to an address of the
/// range, and a pair already in use by a live session is never handed out twice: tcpcopy's 16-bit hash
/// let two clients share a 4-tuple at the target and lose requests. Not thread-safe: one actor owns it.
/// </summary>
internal sealed class ClientIdentityMapper
{
    private readonly uint _first;
    private readonly uint _count;
    private readonly HashSet<(uint Address, ushort Port, uint Target, ushort TargetPort)> _inUse = [];

    private ClientIdentityMapper(uint first, uint count)
    {
        _first = first;
        _count = count;
    }

    /// <summary>A mapper that keeps real client identities (each owner needs its own: it tracks what is in use).</summary>
    public static ClientIdentityMapper KeepReal() => new(0, 0);

    /// <summary>Identities currently handed out.</summary>
    public int InUse => _inUse.Count;

    /// <summary>Parses a range in CIDR form; network and broadcast addresses are not used.</summary>
    public static ClientIdentityMapper FromRange(string cidr, string setting)
    {
        ArgumentNullException.ThrowIfNull(cidr);
        var slash = cidr.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || !IPAddress.TryParse(cidr[..slash], out var network) || network.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork
            || !int.TryParse(cidr[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var prefix) || prefix is < 8 or > 30)
        {
            throw NodeConfigurationException.ForSetting(setting, $"'{cidr}' is not an IPv4 range such as 10.200.0.0/16 (prefix 8-30)");
        }

        var mask = uint.MaxValue << (32 - prefix);
        var baseAddress = Ipv4Address.FromIPAddress(network) & mask;
        return new ClientIdentityMapper(baseAddress + 1, (1u << (32 - prefix)) - 2);
    }

    /// <summary>Picks the identity of a new session toward <paramref name="targetAddress"/>:<paramref name="targetPort"/>.</summary>
    /// <returns>False when every address of the range is taken for this port and target.</returns>
    public bool TryAcquire(uint clientAddress, ushort clientPort, uint targetAddress, ushort targetPort, out uint address, out ushort port)
    {
        port = clientPort;
        if (_count == 0)
        {
            // Real addresses. The pair is taken when the client reused its port while our replay of the
            // previous connection still runs (or two services map to one target): move to a free port.
            address = clientAddress;
            for (var i = 0; i < 4096; i++)
            {
                // The client's own port first, then a stride through the rest; never a privileged port.
                port = (ushort)((clientPort + (i * 7919)) % 65536);
                if (port >= 1024 && _inUse.Add((address, port, targetAddress, targetPort)))
                {
                    return true;
                }
            }

            return false;
        }

        // Stable per client address, so one client's sessions share one fake address like tcpcopy's,
        // and probing on only when that exact 4-tuple is live.
        var start = Mix(clientAddress) % _count;
        for (uint i = 0; i < Math.Min(_count, 4096u); i++)
        {
            address = _first + ((start + i) % _count);
            if (_inUse.Add((address, port, targetAddress, targetPort)))
            {
                return true;
            }
        }

        address = 0;
        return false;
    }

    /// <summary>Returns an identity when its session ended.</summary>
    public void Release(uint address, ushort port, uint targetAddress, ushort targetPort) =>
        _inUse.Remove((address, port, targetAddress, targetPort));

    private static uint Mix(uint x)
    {
        x ^= x >> 16;
        x *= 0x7feb352d;
        x ^= x >> 15;
        x *= 0x846ca68b;
        x ^= x >> 16;
        return x;
    }
}
