using System.Globalization;
using System.Net;
using System.Net.Sockets;
using ReplayCluster.PacketIO;

namespace ReplayCluster.Doctor;

/// <summary>
/// The prerequisites of the hosts in a replay, each as a <see cref="DoctorCheck"/>: what tcpcopy users
/// most often get wrong, silently (see the README's routing section). Checks read /proc and /sys and
/// ask iproute2 and ethtool; none of them changes anything.
/// </summary>
public static class HostChecks
{
    private const int CapNetAdmin = 12;
    private const int CapNetRaw = 13;

    /// <summary>libpcap can be loaded (capture and intercept nodes).</summary>
    public static DoctorCheck Libpcap() => new("libpcap", () =>
        LibpcapLocator.TryLoad(out _, out var name)
            ? DoctorResult.Ok($"{name} loads")
            : DoctorResult.Fail(LibpcapLocator.NotFoundMessage, "apt-get install libpcap0.8"));

    /// <summary>Root, or CAP_NET_RAW and CAP_NET_ADMIN (capture and raw sockets).</summary>
    public static DoctorCheck Privileges() => new("privileges", () =>
    {
        var effective = ReadEffectiveCapabilities();
        if (effective is null)
        {
            return DoctorResult.Warn("cannot read /proc/self/status; capabilities unknown");
        }

        var raw = (effective.Value >> CapNetRaw & 1) == 1;
        var admin = (effective.Value >> CapNetAdmin & 1) == 1;
        return raw && admin
            ? DoctorResult.Ok(Environment.UserName == "root" ? "root" : "CAP_NET_RAW and CAP_NET_ADMIN")
            : DoctorResult.Fail(
                $"missing {string.Join(" and ", new[] { raw ? null : "CAP_NET_RAW", admin ? null : "CAP_NET_ADMIN" }.Where(c => c is not null))}",
                "run as root, or: setcap cap_net_raw,cap_net_admin+ep <node binary> (AmbientCapabilities= in a systemd unit)");
    });

    /// <summary>The interface exists and is up.</summary>
    public static DoctorCheck Interface(string name) => new("interface", () =>
    {
        var folder = Path.Combine("/sys/class/net", name);
        if (!Directory.Exists(folder))
        {
            var known = Directory.Exists("/sys/class/net") ? string.Join(", ", Directory.GetDirectories("/sys/class/net").Select(Path.GetFileName)) : "?";
            return DoctorResult.Fail($"{name} does not exist here (interfaces: {known})", "give the right interface with -i");
        }

        var state = ReadText(Path.Combine(folder, "operstate")) ?? "unknown";
        var flags = ReadText(Path.Combine(folder, "flags"));
        var up = flags is not null && (Convert.ToInt32(flags, 16) & 1) == 1;
        return up
            ? DoctorResult.Ok($"{name} is up (operstate {state})")
            : DoctorResult.Fail($"{name} is down", $"ip link set {name} up");
    });

    /// <summary>Receive offloads on the capture interface: handled, but worth knowing.</summary>
    public static DoctorCheck Offloads(string name) => new("offloads", () =>
    {
        var (exit, output) = Run("ethtool", "-k", name);
        if (exit != 0)
        {
            return DoctorResult.Warn("ethtool cannot tell (not installed?)", "apt-get install ethtool");
        }

        var on = new[] { "generic-receive-offload", "large-receive-offload", "tcp-segmentation-offload", "generic-segmentation-offload" }
            .Where(feature => output.Split('\n').Any(l => l.StartsWith(feature + ": on", StringComparison.Ordinal)))
            .ToList();
        return on.Count == 0
            ? DoctorResult.Ok("segmentation and receive offloads are off: captured frames are wire-sized")
            : DoctorResult.Warn($"{string.Join(", ", on)} on: captured frames may be up to 64 KB (they are split to the MSS) and carry unfilled checksums (they are recomputed)",
                $"optional: ethtool -K {name} gro off lro off tso off gso off");
    });

    /// <summary>A route to <paramref name="address"/> exists (the capture node sends raw packets there).</summary>
    public static DoctorCheck RouteTo(IPAddress address, string what) => new($"route to {what}", () =>
    {
        var (exit, output) = Run("ip", address.AddressFamily == AddressFamily.InterNetworkV6 ? "-6" : "-4", "route", "get", address.ToString());
        return exit == 0
            ? DoctorResult.Ok(output.Split('\n')[0].Trim())
            : DoctorResult.Fail($"no route to {address}: {output.Trim()}", $"add a route to {address} (ip route add ...)");
    });

    /// <summary>The seed nodes accept TCP connections (the cluster is reachable).</summary>
    public static DoctorCheck ClusterReachable(IReadOnlyList<string> seeds) => new("cluster", () =>
    {
        if (seeds.Count == 0)
        {
            return DoctorResult.Ok("no seeds configured (this node forms the cluster)");
        }

        var failures = new List<string>();
        foreach (var seed in seeds)
        {
            var uri = new Uri(seed);
            try
            {
                using var client = new TcpClient();
                if (!client.ConnectAsync(uri.Host, uri.Port).Wait(TimeSpan.FromSeconds(2)))
                {
                    failures.Add($"{uri.Host}:{uri.Port} timed out");
                }
            }
            catch (AggregateException ex) when (ex.InnerException is SocketException socket)
            {
                failures.Add($"{uri.Host}:{uri.Port} {socket.SocketErrorCode}");
            }
        }

        return failures.Count == 0
            ? DoctorResult.Ok($"seeds answer: {string.Join(", ", seeds.Select(s => new Uri(s).Authority))}")
            : DoctorResult.Fail($"seed unreachable: {string.Join("; ", failures)}",
                "start the coordinator first, check --seed, routes and firewalls between the hosts");
    });

    /// <summary>
    /// Forwarding is off on the reply sink's interface, so replies die there instead of reaching clients. The kernel
    /// forwards by the flag of the interface a packet came in on (net.ipv4.conf.IF.forwarding), which can be on while
    /// net.ipv4.ip_forward is 0 (writing ip_forward sets every interface; one can be turned on after). An ifb sink (on
    /// the target itself) drops what it receives, so forwarding does not matter there.
    /// </summary>
    public static DoctorCheck ForwardingOff(string sinkInterface) => new("ip_forward", () =>
        AssessForwarding(sinkInterface, ReadInt("/proc/sys/net/ipv4/ip_forward"),
            ReadInt($"/proc/sys/net/ipv4/conf/{sinkInterface}/forwarding"), IsIfb(sinkInterface)));

    // An ifb device drops what it receives: as a sink it never forwards, whatever either family's flags say.
    private static bool IsIfb(string sinkInterface)
    {
        var (exit, output) = Run("ethtool", "-i", sinkInterface);
        return exit == 0 && output.Split('\n').Any(l => l.Trim() == "driver: ifb");
    }

    /// <summary>The forwarding check's verdict from what the host says (unit-tested).</summary>
    internal static DoctorResult AssessForwarding(string sinkInterface, int? global, int? perInterface, bool ifb)
    {
        if (ifb)
        {
            return DoctorResult.Ok($"{sinkInterface} is an ifb sink: replies end there whatever ip_forward is");
        }

        var effective = perInterface ?? global;
        if (effective == 0)
        {
            return DoctorResult.Ok($"off on {sinkInterface} (ip_forward={global}, {sinkInterface} forwarding={perInterface}): replies routed here are captured and dropped");
        }

        return DoctorResult.Fail(
            $"{sinkInterface} forwards (ip_forward={global?.ToString(CultureInfo.InvariantCulture) ?? "?"}, {sinkInterface} forwarding={perInterface?.ToString(CultureInfo.InvariantCulture) ?? "?"}): " +
            "this host sends the target's replies on to the real clients, which answer with RST",
            $"sysctl -w net.ipv4.ip_forward=0 net.ipv4.conf.{sinkInterface}.forwarding=0 on the assistant (reply sink) host");
    }

    /// <summary>
    /// Forwarding of IPv6 is off on the reply sink, so replies to IPv6 clients die there. Unlike IPv4, the kernel
    /// forwards IPv6 by the global flag (net.ipv6.conf.all.forwarding; since Linux 6.17 also an interface's
    /// force_forwarding), not by the flag of the interface a packet came in on.
    /// </summary>
    public static DoctorCheck Ipv6ForwardingOff(string sinkInterface) => new("ipv6 forwarding", () =>
        AssessIpv6Forwarding(sinkInterface, ReadInt("/proc/sys/net/ipv6/conf/all/forwarding"),
            ReadInt($"/proc/sys/net/ipv6/conf/{sinkInterface}/force_forwarding"), ReadInt($"/proc/sys/net/ipv6/conf/{sinkInterface}/disable_ipv6"),
            IsIfb(sinkInterface)));

    /// <summary>The IPv6 forwarding check's verdict from what the host says (unit-tested).</summary>
    internal static DoctorResult AssessIpv6Forwarding(string sinkInterface, int? all, int? forceForwarding, int? disabled, bool ifb)
    {
        if (ifb)
        {
            return DoctorResult.Ok($"{sinkInterface} is an ifb sink: IPv6 replies end there whatever forwarding is");
        }

        if (all is null || disabled == 1)
        {
            return DoctorResult.Ok($"IPv6 is off on {sinkInterface}: no IPv6 reply reaches it to be forwarded (an IPv6 target's replies need it on)");
        }

        if (all == 0 && forceForwarding is null or 0)
        {
            return DoctorResult.Ok($"off (net.ipv6.conf.all.forwarding=0): replies to IPv6 clients routed here are captured and dropped");
        }

        return DoctorResult.Fail(
            $"this host forwards IPv6 (net.ipv6.conf.all.forwarding={all}, {sinkInterface} force_forwarding={forceForwarding?.ToString(CultureInfo.InvariantCulture) ?? "-"}): " +
            "it sends the target's replies to IPv6 clients on to the real clients, which answer with RST",
            $"sysctl -w net.ipv6.conf.all.forwarding=0{(forceForwarding is 1 ? $" net.ipv6.conf.{sinkInterface}.force_forwarding=0" : string.Empty)} on the assistant (reply sink) host");
    }

    /// <summary>
    /// On the target, for an IPv6 client range: IPv6 has no rp_filter sysctl, but a reverse-path rule in nftables
    /// (<c>fib saddr . iif oif missing drop</c>, firewalld's IPv6_rpfilter, ip6tables' rpfilter match) drops replayed
    /// packets whose source is routed out another way than they came in, which is how the fake range is routed.
    /// </summary>
    public static DoctorCheck Ipv6ReversePathFilter(string clientRange) => new("ipv6 rpfilter", () =>
    {
        var (exit, output) = Run("nft", "list", "ruleset");
        if (exit != 0)
        {
            return DoctorResult.Ok($"no nftables ruleset to read ({output.Trim().Split('\n')[0]}): no reverse-path rule drops {clientRange}");
        }

        var rules = Ipv6ReversePathRules(output);
        return rules.Count == 0
            ? DoctorResult.Ok($"no IPv6 reverse-path rule in the nftables ruleset: packets from {clientRange} are accepted")
            : DoctorResult.Warn($"reverse-path rule(s) that may drop replayed packets from {clientRange}: {string.Join("; ", rules.Take(3))}",
                $"exempt the range before the rule (e.g. ip6 saddr {clientRange} accept in the same chain, earlier), or turn IPv6_rpfilter off in firewalld");
    });

    /// <summary>The rules of <paramref name="ruleset"/> (<c>nft list ruleset</c>) that drop IPv6 packets failing a reverse-path lookup (unit-tested).</summary>
    internal static IReadOnlyList<string> Ipv6ReversePathRules(string ruleset)
    {
        ArgumentNullException.ThrowIfNull(ruleset);
        var found = new List<string>();
        var family = string.Empty;
        foreach (var raw in ruleset.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith("table ", StringComparison.Ordinal))
            {
                family = line.Split(' ', StringSplitOptions.RemoveEmptyEntries) is { Length: > 1 } words ? words[1] : string.Empty;
                continue;
            }

            // An IPv4-only table or rule does not see IPv6 packets.
            if (family is not ("inet" or "ip6") || line.Contains("nfproto ipv4", StringComparison.Ordinal))
            {
                continue;
            }

            var fib = line.Contains("fib saddr", StringComparison.Ordinal) && line.Contains("oif", StringComparison.Ordinal)
                && line.Contains("drop", StringComparison.Ordinal);
            var xt = line.Contains("rpfilter", StringComparison.Ordinal) && line.Contains("drop", StringComparison.Ordinal);
            if (fib || xt)
            {
                found.Add(line);
            }
        }

        return found;
    }

    /// <summary>On the target: strict reverse-path filtering silently drops replayed (spoofed) sources.</summary>
    public static DoctorCheck ReversePathFilter(string clientRange) => new("rp_filter", () =>
    {
        var clientAddress = FirstAddress(clientRange);
        var (exit, output) = Run("ip", "-4", "route", "get", clientAddress.ToString());
        var device = exit == 0 ? Word(output, "dev") : null;
        var all = ReadInt("/proc/sys/net/ipv4/conf/all/rp_filter");
        var perDevice = device is null ? null : ReadInt($"/proc/sys/net/ipv4/conf/{device}/rp_filter");
        var effective = Math.Max(all ?? 0, perDevice ?? 0);
        return effective == 1
            ? DoctorResult.Fail($"strict (all={all}, {device ?? "?"}={perDevice}): the kernel drops replayed packets from {clientAddress} whose route does not point back the way they came",
                $"sysctl -w net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.{device ?? "<dev>"}.rp_filter=0 (or 2, loose)")
            : DoctorResult.Ok($"{effective} (all={all}, {device ?? "?"}={perDevice})");
    });

    /// <summary>
    /// On the target: every slice of the client (or fake client) range, each address of it, is routed to the reply
    /// sink by a route of its own, not by the default route (the replies would go toward real clients) and not by
    /// a blackhole. One probe per range is not enough: a route for the first slice only passes it.
    /// </summary>
    public static DoctorCheck ClientRangeRouted(string cidr, int slicePrefix = DefaultSlicePrefix) => new("client route", () =>
    {
        var range = IPNetwork.Parse(cidr);
        var ipv6 = range.BaseAddress.AddressFamily == AddressFamily.InterNetworkV6;
        var (exit, output) = Run("ip", ipv6 ? "-6" : "-4", "route", "show", "table", "main");
        if (exit != 0)
        {
            return DoctorResult.Fail($"cannot read the routing table: {output.Trim()}", "apt-get install iproute2");
        }

        var result = SliceRoutes.Assess(range, slicePrefix, SliceRoutes.Parse(output, ipv6));
        var prefix = Math.Max(range.PrefixLength, slicePrefix);
        if (result.Bad.Count > 0)
        {
            var examples = string.Join("; ", result.Bad.Take(4).Select(b => $"{b.Slice} by {b.Reason}"));
            var allBad = result.Bad.Count == result.Slices;
            return DoctorResult.Fail(
                $"{result.Bad.Count} of {result.Slices} /{prefix} slices of {cidr} are not routed to a reply sink: {examples}{(result.Bad.Count > 4 ? "; ..." : string.Empty)}" +
                (allBad && result.Bad.All(b => b.Reason == "no route") ? ": the target cannot answer replayed clients at all" : ": the target's replies to them go toward real clients or nowhere"),
                $"ip{(ipv6 ? " -6" : string.Empty)} route add {cidr} via <assistant address> (or dev <ifb sink>)");
        }

        return DoctorResult.Ok($"{cidr}: all {result.Slices} /{prefix} slices {string.Join(", ", result.NextHops)}");
    });

    /// <summary>The coordinator's default slice prefix (<c>--slice-prefix</c>).</summary>
    public const int DefaultSlicePrefix = 24;

    /// <summary>The prefix of the coordinator's IPv6 slices (one /64 per capture node, <c>FakeClientRanges.Ipv6SlicePrefix</c>).</summary>
    public const int Ipv6SlicePrefix = 64;

    /// <summary>
    /// On a capture host: conntrack is not close to full, and the replayed flows' sources are exempt from it, by the
    /// node itself (<paramref name="nodeInstalls"/>: notrack not off, and nft accepts its table in check mode) or by
    /// the host's own notrack rule.
    /// </summary>
    public static DoctorCheck Conntrack(IReadOnlyList<IPNetwork> fakeRanges, bool nodeInstalls) => new("conntrack", () =>
    {
        var count = ReadLong("/proc/sys/net/netfilter/nf_conntrack_count");
        var max = ReadLong("/proc/sys/net/netfilter/nf_conntrack_max");
        var (listed, ruleset) = Run("nft", "list", "ruleset");
        string? whyNot = nodeInstalls ? null : "notrack = off";
        if (nodeInstalls)
        {
            var (check, output) = HostTool.Run("nft", ["-c", "-f", "-"], NotrackRuleset.Install(NotrackRuleset.TableFor(Environment.ProcessId), fakeRanges));
            if (check != 0)
            {
                nodeInstalls = false;
                whyNot = output.Trim().Split('\n')[0];
            }
        }

        return ConntrackAssessment.Assess(new ConntrackFacts(count, max, listed == 0 ? NotrackRuleset.ExemptSources(ruleset) : null, fakeRanges, nodeInstalls, whyNot));
    });

    private static IPAddress FirstAddress(string cidr)
    {
        var slash = cidr.IndexOf('/', StringComparison.Ordinal);
        var network = IPAddress.Parse(slash < 0 ? cidr : cidr[..slash]).GetAddressBytes();
        network[3] |= 1;
        return new IPAddress(network);
    }

    private static ulong? ReadEffectiveCapabilities()
    {
        var line = File.Exists("/proc/self/status")
            ? File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("CapEff:", StringComparison.Ordinal))
            : null;
        return line is not null && ulong.TryParse(line["CapEff:".Length..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var value)
            ? value
            : null;
    }

    private static string? Word(string text, string key)
    {
        var words = text.Split((char[])[' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries);
        var at = Array.IndexOf(words, key);
        return at >= 0 && at + 1 < words.Length ? words[at + 1] : null;
    }

    private static string? ReadText(string path) => File.Exists(path) ? File.ReadAllText(path).Trim() : null;

    private static long? ReadLong(string path) =>
        long.TryParse(ReadText(path), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : null;

    private static int? ReadInt(string path) =>
        int.TryParse(ReadText(path), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : null;

    private static (int Exit, string Output) Run(string tool, params string[] arguments) => HostTool.Run(tool, arguments);
}
