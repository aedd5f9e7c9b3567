using System.Net;
using ReplayCluster.Doctor;
using ReplayCluster.PacketIO;

namespace ReplayCluster.Tests.PacketIO;

public sealed class NotrackRulesetTests
{
    private static readonly IPNetwork Fake = IPNetwork.Parse("10.200.0.0/16");
    private static readonly IPNetwork Fake6 = IPNetwork.Parse("fd00:c8::/48");

    // What `nft list ruleset` printed for our table after auto-merge joined neighbouring slices (nftables 1.0.6).
    private const string OwnTableListing = """
        table inet replaycluster_capture {
        	set replay_sources {
        		type ipv4_addr
        		flags interval
        		auto-merge
        		elements = { 10.200.0.0-10.201.0.255, 10.202.0.0/24,
        			     10.203.0.0/24, 10.204.0.0/24 }
        	}

        	chain notrack_replayed {
        		type filter hook output priority raw; policy accept;
        		ip saddr @replay_sources notrack
        	}
        }
        """;

    [Fact]
    public void Our_own_table_with_merged_and_wrapped_elements_is_read()
    {
        var exempt = NotrackRuleset.ExemptSources(OwnTableListing);
        Assert.True(NotrackRuleset.Covers(exempt, Fake));
        Assert.True(NotrackRuleset.Covers(exempt, IPNetwork.Parse("10.201.0.0/24")));
        Assert.True(NotrackRuleset.Covers(exempt, IPNetwork.Parse("10.204.0.0/24")));
        Assert.False(NotrackRuleset.Covers(exempt, IPNetwork.Parse("10.201.1.0/24")));
        Assert.False(NotrackRuleset.Covers(exempt, IPNetwork.Parse("10.200.0.0/15")), "10.201.1.0 and up are not exempt");
    }

    [Fact]
    public void Only_notrack_on_the_output_hook_before_conntrack_counts()
    {
        const string ruleset = """
            table ip raw {
            	chain late {
            		type filter hook output priority filter; policy accept;
            		ip saddr 10.200.0.0/16 notrack
            	}
            	chain incoming {
            		type filter hook prerouting priority raw; policy accept;
            		ip saddr 10.200.0.0/16 notrack
            	}
            	chain negated {
            		type filter hook output priority -300; policy accept;
            		ip saddr != 10.200.0.0/16 notrack
            	}
            	chain counted {
            		type filter hook output priority raw - 10; policy accept;
            		ip saddr 10.200.0.0/16 counter packets 0 bytes 0
            	}
            }
            """;
        Assert.Empty(NotrackRuleset.ExemptSources(ruleset));
    }

    [Fact]
    public void An_operators_rule_with_a_prefix_or_a_literal_set_counts_and_the_union_covers()
    {
        const string ruleset = """
            table ip raw {
            	chain OUTPUT {
            		type filter hook output priority -300; policy accept;
            		ip saddr 10.200.0.0/17 counter packets 5 bytes 300 notrack
            		ip saddr { 10.200.128.0/18, 10.200.192.0/18 } notrack
            	}
            }
            """;
        var exempt = NotrackRuleset.ExemptSources(ruleset);
        Assert.Equal(3, exempt.Count);
        Assert.True(NotrackRuleset.Covers(exempt, Fake), "three pieces together cover the /16");
        Assert.False(NotrackRuleset.Covers(exempt, IPNetwork.Parse("10.201.0.0/24")));
    }

    [Fact]
    public void Ipv6_rules_and_sets_are_read_and_the_families_never_cover_each_other()
    {
        const string ruleset = """
            table inet replaycluster_capture_7 {
            	set replay_sources {
            		type ipv4_addr
            		flags interval
            		auto-merge
            		elements = { 10.200.0.0/16 }
            	}

            	set replay_sources6 {
            		type ipv6_addr
            		flags interval
            		auto-merge
            		elements = { fd00:c8::/48,
            			     fd00:c9::-fd00:c9::ff }
            	}

            	chain notrack_replayed {
            		type filter hook output priority raw; policy accept;
            		ip saddr @replay_sources notrack
            		ip6 saddr @replay_sources6 notrack
            	}
            }
            table ip6 raw {
            	chain OUTPUT {
            		type filter hook output priority -300; policy accept;
            		ip6 saddr fd00:ca::/64 notrack
            	}
            }
            """;
        var exempt = NotrackRuleset.ExemptSources(ruleset);
        Assert.True(NotrackRuleset.Covers(exempt, Fake));
        Assert.True(NotrackRuleset.Covers(exempt, Fake6));
        Assert.True(NotrackRuleset.Covers(exempt, IPNetwork.Parse("fd00:c8:0:3::/64")));
        Assert.True(NotrackRuleset.Covers(exempt, IPNetwork.Parse("fd00:c9::/120")));
        Assert.False(NotrackRuleset.Covers(exempt, IPNetwork.Parse("fd00:c9::/119")), "only ::0-::ff of fd00:c9:: are exempt");
        Assert.True(NotrackRuleset.Covers(exempt, IPNetwork.Parse("fd00:ca::/64")));
        Assert.False(NotrackRuleset.Covers(exempt, IPNetwork.Parse("fd00:c8::/47")));

        // An IPv4 range is never covered by IPv6 rules (not even ::/0, whose IPv4-mapped part matches no IPv4 packet),
        // nor an IPv6 range by IPv4 ones.
        var everyIpv6 = NotrackRuleset.ExemptSources(
            "table ip6 raw {\n\tchain OUTPUT {\n\t\ttype filter hook output priority raw; policy accept;\n\t\tip6 saddr ::/0 notrack\n\t}\n}\n");
        Assert.True(NotrackRuleset.Covers(everyIpv6, Fake6));
        Assert.False(NotrackRuleset.Covers(everyIpv6, Fake));
        Assert.False(NotrackRuleset.Covers([AddressInterval.Of(Fake6)], Fake));
        Assert.False(NotrackRuleset.Covers([AddressInterval.Of(Fake)], Fake6));
    }

    [Fact]
    public void The_scripts_apply_with_the_real_nft_and_read_back()
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces and nftables");
        using var lab = new NamespacePair();
        var table = NotrackRuleset.TableFor(4242);
        ApplyIn(lab.A, NotrackRuleset.Install(table, [Fake, Fake6]));
        ApplyIn(lab.A, NotrackRuleset.AddSources(table, [IPNetwork.Parse("10.201.0.0/24"), IPNetwork.Parse("fd00:c9:0:3::/64"), IPNetwork.Parse("10.200.7.0/24")]));
        var exempt = NotrackRuleset.ExemptSources(NamespacePair.Exec(lab.A, "nft", "list", "ruleset"));
        Assert.True(NotrackRuleset.Covers(exempt, Fake));
        Assert.True(NotrackRuleset.Covers(exempt, IPNetwork.Parse("10.201.0.0/24")));
        Assert.True(NotrackRuleset.Covers(exempt, Fake6));
        Assert.True(NotrackRuleset.Covers(exempt, IPNetwork.Parse("fd00:c9:0:3::/64")));
        Assert.False(NotrackRuleset.Covers(exempt, IPNetwork.Parse("fd00:c9:0:4::/64")));

        // A second node (another process) has a table of its own; its start removes the table of a node that is gone.
        var tables = NamespacePair.Exec(lab.A, "nft", "list", "tables");
        Assert.Equal([table], NotrackRuleset.StaleTables(tables, pid => pid != 4242));
        Assert.Empty(NotrackRuleset.StaleTables(tables, _ => true));
        var second = NotrackRuleset.TableFor(4343);
        ApplyIn(lab.A, NotrackRuleset.Install(second, [IPNetwork.Parse("10.202.0.0/24")], NotrackRuleset.StaleTables(tables, pid => pid != 4242)));
        exempt = NotrackRuleset.ExemptSources(NamespacePair.Exec(lab.A, "nft", "list", "ruleset"));
        Assert.False(NotrackRuleset.Covers(exempt, Fake));
        Assert.True(NotrackRuleset.Covers(exempt, IPNetwork.Parse("10.202.0.0/24")));

        // Installing again replaces its own table.
        ApplyIn(lab.A, NotrackRuleset.Install(second, [Fake]));
        exempt = NotrackRuleset.ExemptSources(NamespacePair.Exec(lab.A, "nft", "list", "ruleset"));
        Assert.True(NotrackRuleset.Covers(exempt, Fake));
        Assert.False(NotrackRuleset.Covers(exempt, IPNetwork.Parse("10.202.0.0/24")));

        ApplyIn(lab.A, NotrackRuleset.Remove(second));
        Assert.DoesNotContain(NotrackRuleset.TablePrefix, NamespacePair.Exec(lab.A, "nft", "list", "ruleset"), StringComparison.Ordinal);
    }

    /// <summary>
    /// The network fact the exemption rests on: raw IP_HDRINCL sends with a spoofed source pass the output hook, so with
    /// conntrack on (any rule that uses it, as a production firewall does) every replayed flow leaves an entry; with the
    /// table installed, none.
    /// </summary>
    [Fact]
    public void Spoofed_raw_sends_fill_conntrack_unless_the_table_exempts_their_sources()
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces, raw sockets and nftables");
        using var lab = new NamespacePair();
        ApplyIn(lab.A, "table inet firewall {\n  chain input {\n    type filter hook input priority filter;\n    ct state established,related accept\n  }\n}\n");
        using var sender = NetworkNamespace.RunIn(lab.A, () => new RawIpSender());
        var count = () => long.Parse(NamespacePair.Exec(lab.A, "cat", "/proc/sys/net/netfilter/nf_conntrack_count").Trim(), System.Globalization.CultureInfo.InvariantCulture);

        long SendFlows(int first)
        {
            var before = count();
            for (var i = 0; i < 200; i++)
            {
                var source = IPAddress.Parse($"10.200.{(first + i) / 250}.{1 + (first + i) % 250}");
                Assert.True(sender.Send(TestFrames.Ipv4Udp(source, NamespacePair.AddressB, (ushort)(30000 + i), 7777, "replayed"u8)), $"errno {sender.LastErrno}");
            }

            return count() - before;
        }

        Assert.Equal(200, SendFlows(0));
        ApplyIn(lab.A, NotrackRuleset.Install(NotrackRuleset.TableFor(1), [Fake]));
        Assert.Equal(0, SendFlows(1000));
        ApplyIn(lab.A, NotrackRuleset.Remove(NotrackRuleset.TableFor(1)));
        Assert.Equal(200, SendFlows(2000));
    }

    private static void ApplyIn(string ns, string script)
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, script);
            NamespacePair.Exec(ns, "nft", "-f", file);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
