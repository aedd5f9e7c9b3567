using System.Globalization;
using System.Net;
using System.Text;
using ReplayCluster.Configuration;
using ReplayCluster.Packets;

namespace ReplayCluster.Replay;

/// <summary>One online service and where its sessions are replayed (tcpcopy's -x entry).</summary>
/// <param name="OnlineAddress">Online server address, or 0 for any address (host order).</param>
/// <param name="OnlinePort">Online server port.</param>
/// <param name="TargetAddress">Target server address (host order).</param>
/// <param name="TargetPort">Target server port.</param>
internal readonly record struct TargetRoute(uint OnlineAddress, ushort OnlinePort, uint TargetAddress, ushort TargetPort);

/// <summary>
/// Maps captured online services to target services: <c>[onlineIP:]onlinePort-targetIP:targetPort</c>,
/// many to many, as tcpcopy's -x. Also derives the BPF filter that captures exactly those services.
/// </summary>
internal sealed class TargetMapping
{
    private readonly TargetRoute[] _routes;

    private TargetMapping(TargetRoute[] routes) => _routes = routes;

    public IReadOnlyList<TargetRoute> Routes => _routes;

    /// <summary>Parses entries; <paramref name="setting"/> names the source in errors.</summary>
    public static TargetMapping Parse(IEnumerable<string> entries, string setting)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var routes = new List<TargetRoute>();
        foreach (var entry in entries.SelectMany(e => e.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            var dash = entry.IndexOf('-', StringComparison.Ordinal);
            if (dash <= 0)
            {
                throw NodeConfigurationException.ForSetting(setting, $"'{entry}' is not [onlineIP:]onlinePort-targetIP:targetPort");
            }

            var (onlineAddress, onlinePort) = ParseEndpoint(entry[..dash], entry, setting, addressRequired: false);
            var (targetAddress, targetPort) = ParseEndpoint(entry[(dash + 1)..], entry, setting, addressRequired: true);
            var route = new TargetRoute(onlineAddress, onlinePort, targetAddress, targetPort);
            if (routes.Any(r => r.OnlinePort == onlinePort && (r.OnlineAddress == onlineAddress || r.OnlineAddress == 0 || onlineAddress == 0)))
            {
                throw NodeConfigurationException.ForSetting(setting, $"'{entry}' maps an online service that another entry already maps");
            }

            routes.Add(route);
        }

        if (routes.Count == 0)
        {
            throw NodeConfigurationException.ForSetting(setting, "no target given; e.g. 80-10.0.2.2:8080 replays port 80 to 10.0.2.2:8080");
        }

        return new TargetMapping([.. routes]);
    }

    /// <summary>Finds the target of a captured packet's destination; false when it is not a mapped service.</summary>
    public bool TryMap(uint destinationAddress, ushort destinationPort, out TargetRoute route)
    {
        foreach (var candidate in _routes)
        {
            if (candidate.OnlinePort == destinationPort && (candidate.OnlineAddress == 0 || candidate.OnlineAddress == destinationAddress))
            {
                route = candidate;
                return true;
            }
        }

        route = default;
        return false;
    }

    /// <summary>A BPF filter for the client-to-server packets of every mapped service.</summary>
    public string ToCaptureFilter()
    {
        var filter = new StringBuilder("tcp and (");
        for (var i = 0; i < _routes.Length; i++)
        {
            var route = _routes[i];
            filter.Append(i == 0 ? string.Empty : " or ").Append("(dst port ").Append(route.OnlinePort.ToString(CultureInfo.InvariantCulture));
            if (route.OnlineAddress != 0)
            {
                filter.Append(" and dst host ").Append(Ipv4Address.Format(route.OnlineAddress));
            }

            filter.Append(')');
        }

        return filter.Append(')').ToString();
    }

    private static (uint Address, ushort Port) ParseEndpoint(string text, string entry, string setting, bool addressRequired)
    {
        var colon = text.LastIndexOf(':');
        if (colon < 0 && addressRequired)
        {
            throw NodeConfigurationException.ForSetting(setting, $"'{entry}': the target needs an address and a port");
        }

        var portText = colon < 0 ? text : text[(colon + 1)..];
        if (!ushort.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port == 0)
        {
            throw NodeConfigurationException.ForSetting(setting, $"'{entry}': '{portText}' is not a port (1-65535)");
        }

        if (colon < 0)
        {
            return (0, port);
        }

        var addressText = text[..colon];
        if (!IPAddress.TryParse(addressText, out var address) || address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            throw NodeConfigurationException.ForSetting(setting, $"'{entry}': '{addressText}' is not an IPv4 address");
        }

        return (Ipv4Address.FromIPAddress(address), port);
    }
}
