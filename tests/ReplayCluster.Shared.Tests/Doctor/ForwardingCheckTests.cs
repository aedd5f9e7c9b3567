using ReplayCluster.Doctor;

namespace ReplayCluster.Tests.Doctor;

public sealed class ForwardingCheckTests
{
    [Fact]
    public void Forwarding_off_everywhere_is_fine()
    {
        Assert.Equal(DoctorStatus.Ok, HostChecks.AssessForwarding("eth1", global: 0, perInterface: 0, ifb: false).Status);
    }

    [Fact]
    public void The_sink_interfaces_own_flag_decides_even_with_ip_forward_off()
    {
        var result = HostChecks.AssessForwarding("eth1", global: 0, perInterface: 1, ifb: false);
        Assert.Equal(DoctorStatus.Fail, result.Status);
        Assert.Contains("net.ipv4.conf.eth1.forwarding=0", result.Fix, StringComparison.Ordinal);
        Assert.Equal(DoctorStatus.Fail, HostChecks.AssessForwarding("eth1", global: 1, perInterface: 1, ifb: false).Status);
    }

    [Fact]
    public void Without_a_per_interface_flag_ip_forward_decides_and_an_ifb_sink_never_forwards()
    {
        Assert.Equal(DoctorStatus.Fail, HostChecks.AssessForwarding("eth1", global: 1, perInterface: null, ifb: false).Status);
        Assert.Equal(DoctorStatus.Ok, HostChecks.AssessForwarding("ifb0", global: 1, perInterface: 1, ifb: true).Status);
    }

    [Fact]
    public void Ipv6_forwarding_is_decided_by_the_global_flag_or_the_sinks_force_forwarding()
    {
        Assert.Equal(DoctorStatus.Ok, HostChecks.AssessIpv6Forwarding("eth1", all: 0, forceForwarding: null, disabled: 0, ifb: false).Status);
        var on = HostChecks.AssessIpv6Forwarding("eth1", all: 1, forceForwarding: null, disabled: 0, ifb: false);
        Assert.Equal(DoctorStatus.Fail, on.Status);
        Assert.Contains("net.ipv6.conf.all.forwarding=0", on.Fix, StringComparison.Ordinal);
        var forced = HostChecks.AssessIpv6Forwarding("eth1", all: 0, forceForwarding: 1, disabled: 0, ifb: false);
        Assert.Equal(DoctorStatus.Fail, forced.Status);
        Assert.Contains("net.ipv6.conf.eth1.force_forwarding=0", forced.Fix, StringComparison.Ordinal);
    }

    [Fact]
    public void Ipv6_off_on_the_sink_or_an_ifb_sink_never_forwards_ipv6()
    {
        Assert.Equal(DoctorStatus.Ok, HostChecks.AssessIpv6Forwarding("eth1", all: 1, forceForwarding: null, disabled: 1, ifb: false).Status);
        Assert.Equal(DoctorStatus.Ok, HostChecks.AssessIpv6Forwarding("eth1", all: null, forceForwarding: null, disabled: null, ifb: false).Status);
        Assert.Equal(DoctorStatus.Ok, HostChecks.AssessIpv6Forwarding("ifb0", all: 1, forceForwarding: 1, disabled: 0, ifb: true).Status);
    }

    [Fact]
    public void Ipv6_reverse_path_rules_are_found_in_inet_and_ip6_tables_only()
    {
        // firewalld's IPv6_rpfilter (nftables backend), an ip6 table's fib rule, and rules that do not apply.
        const string ruleset = """
            table inet firewalld {
            	chain filter_PREROUTING {
            		type filter hook prerouting priority filter + 10; policy accept;
            		icmpv6 type { nd-router-advert, nd-neighbor-solicit } accept
            		meta nfproto ipv6 fib saddr . mark . iif oif missing drop
            	}
            }
            table ip6 mangle {
            	chain PREROUTING {
            		type filter hook prerouting priority mangle; policy accept;
            		fib saddr . iif oif 0 counter packets 0 bytes 0 drop
            	}
            }
            table ip raw {
            	chain PREROUTING {
            		type filter hook prerouting priority raw; policy accept;
            		fib saddr . iif oif missing drop
            	}
            }
            table inet other {
            	chain c {
            		type filter hook prerouting priority raw; policy accept;
            		meta nfproto ipv4 fib saddr . iif oif missing drop
            		fib daddr type local accept
            	}
            }
            """;
        var rules = HostChecks.Ipv6ReversePathRules(ruleset);
        Assert.Equal(2, rules.Count);
        Assert.Contains("meta nfproto ipv6 fib saddr . mark . iif oif missing drop", rules);
        Assert.Empty(HostChecks.Ipv6ReversePathRules("table inet replaycluster_capture_1 {\n}\n"));
    }
}
