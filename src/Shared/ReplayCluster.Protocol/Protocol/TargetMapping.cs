using System.Globalization;
using System.Net;
using System.Text;
using ReplayCluster.Configuration;
using ReplayCluster.Packets;

namespace ReplayCluster.Protocol;

/// <summary>How the requests of a route's sessions are paced (the <c>/pacing</c> suffix of a target entry).</summary>
public enum TargetPacingMode : byte
{
    /// <summary>No suffix: the capture node's own pacing setting.</summary>
    NodeDefault = 0,

    /// <summary><c>/wait</c>: wait for the target's answer or the recorded client's gap, whichever first.</summary>
    Wait,

    /// <summary><c>/no-wait</c>: requests go as captured (tcpcopy -W).</summary>
    NoWait,
}

/// <summary>The pacing of one route.</summary>
/// <param name="Mode">Which pacing; <see cref="TargetPacingMode.NodeDefault"/> leaves it to the node.</param>
/// <param name="MaxOutstanding">With <see cref="TargetPacingMode.Wait"/>, the bound on unanswered requests (<c>/wait:N</c>); 0 keeps the node's.</param>
public readonly record struct TargetPacing(TargetPacingMode Mode, int MaxOutstanding = 0)
{
    /// <summary>The largest <c>/wait:N</c> accepted.</summary>
    public const int MaxOutstandingLimit = 1024;
}

/// <summary>One online service and where its sessions are replayed (tcpcopy's -x entry).</summary>
/// <param name="OnlineAddress">Online server address, or <see cref="NetAddress.Unspecified"/> for any address of either family.</param>
/// <param name="OnlinePort">Online server port.</param>
/// <param name="TargetAddress">Target server address, IPv4 or IPv6.</param>
/// <param name="TargetPort">Target server port.</param>
/// <param name="Pacing">Request pacing of this route's sessions; the default leaves it to the node.</param>
public readonly record struct TargetRoute(NetAddress OnlineAddress, ushort OnlinePort, NetAddress TargetAddress, ushort TargetPort,
    TargetPacing Pacing = default)
{
    /// <summary>The entry as <see cref="TargetMapping.Parse"/> reads it.</summary>
    public override string ToString() => TargetMapping.Format(this);
}

/// <summary>
/// Maps captured online services to target services: <c>[onlineIP:]onlinePort-targetIP:targetPort[/pacing]</c>,
/// many to many, as tcpcopy's -x. Also derives the BPF filter that captures exactly those services.
/// </summary>
/// <remarks>
/// The optional pacing suffix overrides the node's <c>pacing</c> for that route:
/// <list type="bullet">
/// <item><c>/wait</c>: a request waits until the target answered what the recorded client had seen, or
/// until the recorded client's gap since the previous request passed, with the node's bound on
/// unanswered requests (<c>session.max-outstanding-requests</c>);</item>
/// <item><c>/wait:N</c>: the same with at most N (1-1024) unanswered; <c>/wait:1</c> waits strictly for
/// every answer (for targets that must never see a request early);</item>
/// <item><c>/no-wait</c>: requests go as captured (tcpcopy -W).</item>
/// </list>
/// E.g. <c>5432-10.0.2.2:5432/wait:64,80-10.0.2.2:8080/no-wait</c>. <see cref="Format"/> writes an entry back
/// in the same form.
/// </remarks>
public sealed class TargetMapping
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

            var target = entry[(dash + 1)..];
            var slash = target.IndexOf('/', StringComparison.Ordinal);
            var pacing = slash < 0 ? default : ParsePacing(target[(slash + 1)..], entry, setting);
            var (onlineAddress, onlinePort) = ParseEndpoint(entry[..dash], entry, setting, addressRequired: false);
            var (targetAddress, targetPort) = ParseEndpoint(slash < 0 ? target : target[..slash], entry, setting, addressRequired: true);
            var route = new TargetRoute(onlineAddress, onlinePort, targetAddress, targetPort, pacing);
            if (routes.Any(r => r.OnlinePort == onlinePort && (r.OnlineAddress == onlineAddress || r.OnlineAddress.IsUnspecified || onlineAddress.IsUnspecified)))
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
    public bool TryMap(NetAddress destinationAddress, ushort destinationPort, out TargetRoute route)
    {
        var index = IndexOf(destinationAddress, destinationPort);
        route = index < 0 ? default : _routes[index];
        return index >= 0;
    }

    /// <summary>
    /// Where in <see cref="Routes"/> the target of a captured packet's destination is; -1 when it is not a mapped
    /// service. A captured packet carries the mapping and this index rather than a copy of its route.
    /// </summary>
    public int IndexOf(NetAddress destinationAddress, ushort destinationPort)
    {
        for (var i = 0; i < _routes.Length; i++)
        {
            var candidate = _routes[i];
            if (candidate.OnlinePort == destinationPort && (candidate.OnlineAddress.IsUnspecified || candidate.OnlineAddress == destinationAddress))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>One route as an entry <see cref="Parse"/> reads back to the same route.</summary>
    public static string Format(in TargetRoute route)
    {
        var text = new StringBuilder();
        if (!route.OnlineAddress.IsUnspecified)
        {
            text.Append(route.OnlineAddress.ToEndpointString()).Append(':');
        }

        text.Append(route.OnlinePort.ToString(CultureInfo.InvariantCulture)).Append('-')
            .Append(route.TargetAddress.ToEndpointString()).Append(':').Append(route.TargetPort.ToString(CultureInfo.InvariantCulture));
        switch (route.Pacing.Mode)
        {
            case TargetPacingMode.Wait:
                text.Append("/wait");
                if (route.Pacing.MaxOutstanding > 0)
                {
                    text.Append(':').Append(route.Pacing.MaxOutstanding.ToString(CultureInfo.InvariantCulture));
                }

                break;
            case TargetPacingMode.NoWait:
                text.Append("/no-wait");
                break;
        }

        return text.ToString();
    }

    /// <summary>Every entry, comma-separated, as <see cref="Parse"/> reads them.</summary>
    public override string ToString() => string.Join(",", _routes.Select(r => Format(r)));

    /// <summary>A BPF filter for the client-to-server packets of every mapped service.</summary>
    public string ToCaptureFilter()
    {
        var filter = new StringBuilder("tcp and (");
        for (var i = 0; i < _routes.Length; i++)
        {
            var route = _routes[i];
            filter.Append(i == 0 ? string.Empty : " or ").Append("(dst port ").Append(route.OnlinePort.ToString(CultureInfo.InvariantCulture));
            if (!route.OnlineAddress.IsUnspecified)
            {
                filter.Append(" and dst host ").Append(route.OnlineAddress.ToString());
            }

            filter.Append(')');
        }

        return filter.Append(')').ToString();
    }

    private static TargetPacing ParsePacing(string text, string entry, string setting)
    {
        if (text == "no-wait")
        {
            return new TargetPacing(TargetPacingMode.NoWait);
        }

        if (text == "wait")
        {
            return new TargetPacing(TargetPacingMode.Wait);
        }

        if (text.StartsWith("wait:", StringComparison.Ordinal)
            && int.TryParse(text.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out var bound)
            && bound is >= 1 and <= TargetPacing.MaxOutstandingLimit)
        {
            return new TargetPacing(TargetPacingMode.Wait, bound);
        }

        throw NodeConfigurationException.ForSetting(setting,
            $"'{entry}': pacing '{text}' is not wait, wait:N (N unanswered requests at most, 1-{TargetPacing.MaxOutstandingLimit}) or no-wait");
    }

    private static (NetAddress Address, ushort Port) ParseEndpoint(string text, string entry, string setting, bool addressRequired) =>
        TryParseEndpoint(text, addressRequired, out var address, out var port) is { } problem
            ? throw NodeConfigurationException.ForSetting(setting, $"'{entry}': {problem}")
            : (address, port);

    /// <summary>
    /// Reads <c>IPv4:PORT</c> or <c>[IPv6]:PORT</c> (or a bare port when <paramref name="addressRequired"/> is false:
    /// <see cref="NetAddress.Unspecified"/>); null when it did, else what is wrong with it. The plan's secondary
    /// reference is read with it too.
    /// </summary>
    internal static string? TryParseEndpoint(string text, bool addressRequired, out NetAddress address, out ushort port)
    {
        address = NetAddress.Unspecified;
        var colon = text.LastIndexOf(':');
        if (colon < 0 && addressRequired)
        {
            port = 0;
            return "the target needs an address and a port";
        }

        var portText = colon < 0 ? text : text[(colon + 1)..];
        if (!ushort.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port == 0)
        {
            return $"'{portText}' is not a port (1-65535)";
        }

        if (colon < 0)
        {
            return null;
        }

        // An IPv6 address has colons of its own: it stands in brackets, as in a URL (RFC 3986), so the port is
        // always what follows the last colon.
        var addressText = text[..colon];
        if (addressText.StartsWith('['))
        {
            // An IPv4-mapped address is IPv4 and written as such; "[::]" parses (and is never a target: AddressRules).
            if (!addressText.EndsWith(']') || !Ipv6Address.TryParse(addressText.AsSpan(1, addressText.Length - 2), out var ipv6)
                || NetAddress.FromIpv6(ipv6).IsIpv4)
            {
                return $"'{addressText}' is not an IPv6 address in brackets, e.g. [2001:db8::2]";
            }

            address = ipv6;
            return null;
        }

        if (addressText.Contains(':'))
        {
            return $"'{addressText}' is an IPv6 address without brackets: write [{addressText}]:{portText}";
        }

        if (!NetAddress.TryParse(addressText, out address) || !address.IsIpv4)
        {
            address = NetAddress.Unspecified;
            return $"'{addressText}' is not an IPv4 address";
        }

        return null;
    }
}
