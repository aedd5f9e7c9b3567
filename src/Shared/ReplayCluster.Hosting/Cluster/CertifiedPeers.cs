using System.Collections.Concurrent;
using System.Net;
using System.Runtime.CompilerServices;
using Akka.Actor;

namespace ReplayCluster.Cluster;

/// <summary>
/// The roles the cluster CA certified for the peers this node has shaken hands with, by peer IP address. Akka.Remote
/// does not tie a TLS connection to the cluster member that speaks over it, so this is the certified role of the
/// host a member's address names: exact when every host runs one node (the recommended layout), a set of roles
/// when several nodes share a host. Filled by <see cref="PeerCertificateValidator"/> as connections are accepted.
/// </summary>
internal sealed class CertifiedPeers
{
    // The peers of each actor system that runs cluster TLS; none for a system without it.
    private static readonly ConditionalWeakTable<ActorSystem, CertifiedPeers> BySystem = [];

    private readonly ConcurrentDictionary<string, string[]> _rolesByHost = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The certified peers of <paramref name="system"/>; null when its cluster transport runs without TLS.</summary>
    public static CertifiedPeers? Of(ActorSystem system)
    {
        ArgumentNullException.ThrowIfNull(system);
        return BySystem.TryGetValue(system, out var peers) ? peers : null;
    }

    /// <summary>Makes <paramref name="peers"/> the certified peers of <paramref name="system"/> (its TLS validator fills them).</summary>
    public static void Attach(ActorSystem system, CertifiedPeers peers)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(peers);
        BySystem.AddOrUpdate(system, peers);
    }

    /// <summary>The roles certified for connections from or to <paramref name="host"/>; empty when none is known.</summary>
    public IReadOnlyList<string> RolesAt(string host)
    {
        ArgumentNullException.ThrowIfNull(host);
        return _rolesByHost.TryGetValue(Normalize(host), out var roles) ? roles : [];
    }

    /// <summary>Records that <paramref name="peer"/> (an IP endpoint or an actor system address) proved <paramref name="role"/>.</summary>
    internal void Record(string peer, string role)
    {
        if (HostOf(peer) is not { } host)
        {
            return;
        }

        _rolesByHost.AddOrUpdate(host, [role], (_, roles) => roles.Contains(role, StringComparer.Ordinal) ? roles : [.. roles, role]);
    }

    /// <summary>The host of a peer as Akka names it: <c>10.0.0.1:4711</c>, <c>[::ffff:10.0.0.1]:4711</c> or <c>akka.ssl.tcp://sys@host:port</c>.</summary>
    internal static string? HostOf(string peer)
    {
        if (string.IsNullOrEmpty(peer))
        {
            return null;
        }

        var at = peer.IndexOf('@', StringComparison.Ordinal);
        if (peer.Contains("://", StringComparison.Ordinal) && at > 0)
        {
            var hostPort = peer[(at + 1)..];
            var colon = hostPort.LastIndexOf(':');
            return Normalize(colon > 0 ? hostPort[..colon] : hostPort);
        }

        return IPEndPoint.TryParse(peer, out var endpoint) ? Normalize(endpoint.Address.ToString()) : null;
    }

    private static string Normalize(string host)
    {
        var trimmed = host.Trim('[', ']');
        return IPAddress.TryParse(trimmed, out var address)
            ? (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString()
            : trimmed;
    }
}
