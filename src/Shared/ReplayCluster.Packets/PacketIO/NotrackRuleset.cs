using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace ReplayCluster.PacketIO;

/// <summary>
/// The nftables rules that keep replayed flows out of the online host's connection tracking, and the reading of a
/// host's ruleset that tells whether a source range is already exempt.
/// </summary>
/// <remarks>
/// <para>
/// A capture node sends the replayed packets from the online host through a raw socket, with fake (or real) client
/// sources; the target's replies go to the reply sink, never back to this host. Raw IP_HDRINCL sends pass the
/// LOCAL_OUT hook (verified in a namespace: 500 spoofed SYNs made 500 conntrack entries once any rule had turned
/// tracking on), so every replayed connection leaves an entry that never sees an answer and ages out only after
/// nf_conntrack_tcp_timeout_syn_sent (120 s) or established (5 days, for a replayed connection that went on past its
/// handshake in the entry's eyes); when the table is full the kernel drops the production service's own new
/// connections ("nf_conntrack: table full, dropping packet").
/// </para>
/// <para>
/// The exemption is an output chain at priority raw (-300), before conntrack (-200), doing <c>notrack</c> for packets
/// whose source lies in a named interval set, one set per family (raw IPv6 sends pass the same hook and are tracked
/// the same way). The sets start with the node's ranges and grow with each identity slice it is granted (sessions keep the identities of an earlier slice until they end). One table per node
/// process (<see cref="TableFor"/>), so two capture nodes on one host neither replace nor remove each other's; a table
/// left by a node that was killed is removed by the next node that starts (<see cref="StaleTables"/>).
/// </para>
/// </remarks>
public static partial class NotrackRuleset
{
    /// <summary>The start of the nftables tables (family inet) capture nodes own; also the name doctor proposes to operators.</summary>
    public const string TablePrefix = "replaycluster_capture";

    /// <summary>The table of the capture node with process id <paramref name="processId"/>.</summary>
    public static string TableFor(int processId) => $"{TablePrefix}_{processId.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// Tables in <paramref name="tables"/> (the text of <c>nft list tables</c>) that a capture node left behind: named
    /// for a process that <paramref name="isAlive"/> says is gone. (In a container, another container's pid may look
    /// alive here: such a table is kept, never wrongly removed.)
    /// </summary>
    public static IReadOnlyList<string> StaleTables(string tables, Func<int, bool> isAlive)
    {
        ArgumentNullException.ThrowIfNull(tables);
        ArgumentNullException.ThrowIfNull(isAlive);
        return [.. tables.Split('\n').Select(l => l.Trim())
            .Where(l => l.StartsWith($"table inet {TablePrefix}_", StringComparison.Ordinal))
            .Select(l => l["table inet ".Length..])
            .Where(t => int.TryParse(t[(TablePrefix.Length + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && !isAlive(pid))];
    }

    /// <summary>The interval set of exempt IPv4 source ranges.</summary>
    public const string SourceSet = "replay_sources";

    /// <summary>The interval set of exempt IPv6 source ranges.</summary>
    public const string SourceSet6 = "replay_sources6";

    /// <summary>The output chain that does the notrack.</summary>
    public const string Chain = "notrack_replayed";

    // Priority raw: netfilter's NF_IP_PRI_RAW; conntrack runs at -200 (NF_IP_PRI_CONNTRACK).
    private const int RawPriority = -300;
    private const int ConntrackPriority = -200;

    /// <summary>
    /// A script for <c>nft -f -</c> that replaces <paramref name="table"/> atomically (one transaction) and drops the
    /// <paramref name="stale"/> tables; then the set holds <paramref name="sources"/> (may be empty).
    /// </summary>
    public static string Install(string table, IEnumerable<IPNetwork> sources, IEnumerable<string>? stale = null)
    {
        var text = new StringBuilder();
        foreach (var old in stale ?? [])
        {
            text.Append(CultureInfo.InvariantCulture, $"delete table inet {old}\n");
        }

        // "table X" before "delete table X" makes the delete succeed whether or not the table exists.
        text.Append(CultureInfo.InvariantCulture, $"table inet {table}\n");
        text.Append(CultureInfo.InvariantCulture, $"delete table inet {table}\n");
        text.Append(CultureInfo.InvariantCulture, $"table inet {table} {{\n");
        text.Append(CultureInfo.InvariantCulture, $"  set {SourceSet} {{ type ipv4_addr; flags interval; auto-merge; }}\n");
        text.Append(CultureInfo.InvariantCulture, $"  set {SourceSet6} {{ type ipv6_addr; flags interval; auto-merge; }}\n");
        text.Append(CultureInfo.InvariantCulture,
            $"  chain {Chain} {{ type filter hook output priority raw; policy accept; ip saddr @{SourceSet} notrack; ip6 saddr @{SourceSet6} notrack; }}\n");
        text.Append("}\n");
        text.Append(AddSources(table, sources));
        return text.ToString();
    }

    /// <summary>A script that adds <paramref name="sources"/> to the sets of <paramref name="table"/>, each to its family's (nothing when empty).</summary>
    public static string AddSources(string table, IEnumerable<IPNetwork> sources)
    {
        ArgumentNullException.ThrowIfNull(sources);
        var text = new StringBuilder();
        foreach (var family in sources.GroupBy(s => s.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6))
        {
            text.Append(CultureInfo.InvariantCulture,
                $"add element inet {table} {(family.Key ? SourceSet6 : SourceSet)} {{ {string.Join(", ", family.Select(s => s.ToString()))} }}\n");
        }

        return text.ToString();
    }

    /// <summary>A script that removes <paramref name="table"/> (and with it the set and the chain).</summary>
    public static string Remove(string table) => $"delete table inet {table}\n";

    /// <summary>
    /// The source ranges that <paramref name="ruleset"/> (the text of <c>nft list ruleset</c>) exempts from connection
    /// tracking for locally generated packets: <c>notrack</c> rules with an <c>ip saddr</c> or <c>ip6 saddr</c> match (a prefix, a literal
    /// set or a named set) in a chain on the output hook that runs before conntrack. Our own table and an operator's
    /// own nft rules are read alike.
    /// </summary>
    public static IReadOnlyList<AddressInterval> ExemptSources(string ruleset)
    {
        ArgumentNullException.ThrowIfNull(ruleset);
        var exempt = new List<AddressInterval>();
        var sets = new Dictionary<string, List<AddressInterval>>(StringComparer.Ordinal);
        var rules = new List<string>();
        string? table = null;
        string? set = null;
        var collectingElements = false;
        var outputBeforeConntrack = false;
        foreach (var raw in ruleset.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith("table ", StringComparison.Ordinal))
            {
                table = line;
                continue;
            }

            if (line.StartsWith("set ", StringComparison.Ordinal) || line.StartsWith("map ", StringComparison.Ordinal))
            {
                set = $"{table}|{line.Split(' ')[1]}";
                sets[set] = [];
                continue;
            }

            if (line.StartsWith("chain ", StringComparison.Ordinal))
            {
                set = null;
                outputBeforeConntrack = false;
                continue;
            }

            if (set is not null && (collectingElements || line.StartsWith("elements = {", StringComparison.Ordinal)))
            {
                sets[set].AddRange(Prefixes(line));
                collectingElements = !line.Contains('}', StringComparison.Ordinal);
                continue;
            }

            if (line.StartsWith("type filter hook ", StringComparison.Ordinal))
            {
                outputBeforeConntrack = HookLine().Match(line) is { Success: true } hook
                    && hook.Groups["hook"].Value == "output" && Priority(hook.Groups["priority"].Value) < ConntrackPriority;
                continue;
            }

            if (outputBeforeConntrack && NotrackRule().IsMatch(line))
            {
                rules.Add($"{table}|{line}");
            }
        }

        foreach (var rule in rules)
        {
            var at = rule.IndexOf('|', StringComparison.Ordinal);
            var ruleTable = rule[..at];
            var match = SourceMatch().Match(rule[(at + 1)..]);
            if (!match.Success)
            {
                continue;
            }

            var operand = match.Groups["operand"].Value;
            if (operand.StartsWith('@'))
            {
                exempt.AddRange(sets.GetValueOrDefault($"{ruleTable}|{operand[1..]}") ?? []);
            }
            else
            {
                exempt.AddRange(Prefixes(operand));
            }
        }

        return exempt;
    }

    /// <summary>Whether <paramref name="exempt"/> together contain every address of <paramref name="range"/>.</summary>
    public static bool Covers(IEnumerable<AddressInterval> exempt, IPNetwork range)
    {
        var wanted = AddressInterval.Of(range);
        var next = wanted.First;
        foreach (var interval in exempt.OrderBy(i => i.First))
        {
            if (interval.First > next)
            {
                break;
            }

            if (interval.Last >= wanted.Last)
            {
                return true;
            }

            // Below wanted.Last, so the + 1 cannot wrap.
            next = UInt128.Max(next, interval.Last + 1);
        }

        return false;
    }

    private static int Priority(string text) => text.Trim() switch
    {
        "raw" => RawPriority,
        "mangle" => -150,
        "dstnat" => -100,
        "filter" => 0,
        "security" => 50,
        "srcnat" => 100,
        var other when other.StartsWith("raw", StringComparison.Ordinal) => RawPriority + Offset(other[3..]),
        var other => int.TryParse(other, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) ? value : 0,
    };

    private static int Offset(string text)
    {
        var compact = text.Replace(" ", string.Empty, StringComparison.Ordinal);
        return int.TryParse(compact, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) ? value : 0;
    }

    // nft prints prefixes where it can, and address ranges a-b where auto-merge joined neighbours.
    private static IEnumerable<AddressInterval> Prefixes(string text)
    {
        foreach (Match match in Address().Matches(text))
        {
            var value = match.Value;
            var dash = value.IndexOf('-', StringComparison.Ordinal);
            if (dash > 0)
            {
                if (IPAddress.TryParse(value[..dash], out var first) && IPAddress.TryParse(value[(dash + 1)..], out var last))
                {
                    foreach (var part in OfFamily(new AddressInterval(AddressInterval.ToNumber(first), AddressInterval.ToNumber(last)), first))
                    {
                        yield return part;
                    }
                }
            }
            else if (IPNetwork.TryParse(value.Contains('/', StringComparison.Ordinal) ? value : value + (value.Contains(':', StringComparison.Ordinal) ? "/128" : "/32"), out var network))
            {
                foreach (var part in OfFamily(AddressInterval.Of(network), network.BaseAddress))
                {
                    yield return part;
                }
            }
        }
    }

    // An IPv6 interval as written in a rule, without the IPv4-mapped block ::ffff:0:0/96 (where IPv4 addresses are
    // numbered here): an ip6 rule matches no IPv4 packet, even "ip6 saddr ::/0".
    private static IEnumerable<AddressInterval> OfFamily(AddressInterval interval, IPAddress written)
    {
        if (written.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
        {
            yield return interval;
            yield break;
        }

        var mappedFirst = (UInt128)0xFFFF << 32;
        var mappedLast = mappedFirst | uint.MaxValue;
        if (interval.Last < mappedFirst || interval.First > mappedLast)
        {
            yield return interval;
            yield break;
        }

        if (interval.First < mappedFirst)
        {
            yield return interval with { Last = mappedFirst - 1 };
        }

        if (interval.Last > mappedLast)
        {
            yield return interval with { First = mappedLast + 1 };
        }
    }

    [GeneratedRegex(@"^type filter hook (?<hook>\w+) priority (?<priority>[^;]+);")]
    private static partial Regex HookLine();

    [GeneratedRegex(@"\bnotrack\b")]
    private static partial Regex NotrackRule();

    // "ip saddr 10.200.0.0/16", "ip saddr { 10.200.0.0/24, 10.201.0.0/24 }", "ip saddr @replay_sources", "ip6 saddr
    // fd00:c8::/48"; a negation ("ip saddr != ...") does not match, so it exempts nothing here.
    [GeneratedRegex(@"\bip6? saddr (?<operand>@\w+|\{[^}]*\}|[0-9a-fA-F:./-]+)")]
    private static partial Regex SourceMatch();

    // An IPv4 address, prefix or a-b range; or an IPv6 one (hex groups with at least one colon; no dotted tail).
    [GeneratedRegex(@"\d{1,3}(\.\d{1,3}){3}(/\d{1,2}|-\d{1,3}(\.\d{1,3}){3})?|[0-9a-fA-F]{0,4}(:[0-9a-fA-F]{0,4}){2,7}(/\d{1,3}|-[0-9a-fA-F]{0,4}(:[0-9a-fA-F]{0,4}){2,7})?")]
    private static partial Regex Address();
}

/// <summary>
/// Addresses <see cref="First"/> to <see cref="Last"/>, inclusive, as host-order 128-bit numbers; an IPv4 address is
/// its IPv4-mapped IPv6 address (::ffff:a.b.c.d), so one interval never spans the two families by accident and the
/// families sort apart.
/// </summary>
public readonly record struct AddressInterval(UInt128 First, UInt128 Last)
{
    /// <summary>The addresses of <paramref name="network"/>.</summary>
    public static AddressInterval Of(IPNetwork network)
    {
        var first = ToNumber(network.BaseAddress);
        var hostBits = HostBits(network.BaseAddress) - network.PrefixLength;
        var size = hostBits >= 128 ? UInt128.MaxValue : (UInt128.One << hostBits) - 1;
        return new AddressInterval(first, first + size);
    }

    /// <summary>Bits of an address of <paramref name="address"/>'s family: 32 or 128.</summary>
    public static int HostBits(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128;
    }

    /// <summary>A number as an address: IPv4 for an IPv4-mapped number, IPv6 otherwise.</summary>
    public static IPAddress ToAddress(UInt128 number)
    {
        Span<byte> bytes = stackalloc byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt128BigEndian(bytes, number);
        var address = new IPAddress(bytes);
        return address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
    }

    /// <summary>An address as a number (an IPv4 address as its IPv4-mapped one).</summary>
    public static UInt128 ToNumber(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        Span<byte> bytes = stackalloc byte[16];
        var mapped = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? address.MapToIPv6() : address;
        return mapped.TryWriteBytes(bytes, out var written) && written == 16
            ? System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(bytes)
            : throw new ArgumentException($"{address} is neither an IPv4 nor an IPv6 address", nameof(address));
    }
}
