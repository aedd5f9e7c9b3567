using Akka.Actor;
using Akka.Cluster;
using ReplayCluster.Membership;
using ReplayCluster.Plans;

namespace ReplayCluster.Tests.Membership;

public sealed class ClusterSendersTests
{
    private static readonly Address Coordinator = new("akka.tcp", "replaycluster", "10.0.0.1", 4053);
    private static readonly Address Capture = new("akka.tcp", "replaycluster", "10.0.0.2", 4053);
    private static readonly Address Self = new("akka.tcp", "replaycluster", "10.0.0.3", 4053);

    [Theory]
    [InlineData("10.0.0.1", 4053, "coordinator", nameof(SenderVerdict.Accepted))]
    [InlineData("10.0.0.2", 4053, "coordinator", nameof(SenderVerdict.WrongRole))]
    [InlineData("10.0.0.2", 4053, "capture", nameof(SenderVerdict.Accepted))]
    [InlineData("10.0.0.1", 4054, "coordinator", nameof(SenderVerdict.NotMember))] // another port is another node
    [InlineData("10.0.0.9", 4053, "coordinator", nameof(SenderVerdict.NotMember))]
    [InlineData("10.0.0.3", 4053, "coordinator", nameof(SenderVerdict.WrongRole))] // this node (intercept) itself
    [InlineData("10.0.0.3", 4053, "intercept", nameof(SenderVerdict.Accepted))]
    public void A_sender_is_accepted_only_as_a_current_member_of_the_role(string host, int port, string role, string expected)
    {
        var senders = Senders((Coordinator, MemberStatus.Up, "coordinator"), (Capture, MemberStatus.Up, "capture"));

        Assert.Equal(expected, senders.Check(new Address("akka.tcp", "replaycluster", host, port), role).ToString());
    }

    [Theory]
    [InlineData(MemberStatus.Joining, nameof(SenderVerdict.Accepted))]
    [InlineData(MemberStatus.WeaklyUp, nameof(SenderVerdict.Accepted))]
    [InlineData(MemberStatus.Leaving, nameof(SenderVerdict.Accepted))]
    [InlineData(MemberStatus.Exiting, nameof(SenderVerdict.Accepted))]
    [InlineData(MemberStatus.Down, nameof(SenderVerdict.NotMember))]
    [InlineData(MemberStatus.Removed, nameof(SenderVerdict.NotMember))]
    public void Downed_and_removed_members_are_no_members(MemberStatus status, string expected)
    {
        Assert.Equal(expected, Senders((Capture, status, "capture")).Check(Capture, "capture").ToString());
    }

    [Fact]
    public void A_local_sender_is_this_node_checked_against_its_own_roles()
    {
        // A message from the wire without a sender is delivered with this node's dead letters (a local path).
        var local = new Address("akka", "replaycluster");

        Assert.Equal(SenderVerdict.WrongRole, Senders().Check(local, "coordinator"));
        Assert.Equal(SenderVerdict.Accepted, Senders().Check(local, "intercept"));
        Assert.Equal(SenderVerdict.WrongRole, Senders().Check(Self, "capture"));
    }

    [Theory]
    [InlineData("10.0.0.1", "coordinator", "coordinator", nameof(SenderVerdict.Accepted))]
    [InlineData("10.0.0.2", "capture", "capture", nameof(SenderVerdict.Accepted))]
    [InlineData("10.0.0.2", "capture", "capture,intercept", nameof(SenderVerdict.Accepted))] // two nodes on one host
    [InlineData("10.0.0.1", "coordinator", "capture", nameof(SenderVerdict.NotCertified))] // a capture certificate joined as coordinator
    [InlineData("10.0.0.1", "coordinator", "", nameof(SenderVerdict.NotCertified))] // no certificate on record for the host
    [InlineData("10.0.0.2", "coordinator", "coordinator", nameof(SenderVerdict.WrongRole))] // membership is checked first
    public void With_cluster_tls_the_role_must_also_be_the_certificate_s(string host, string role, string certified, string expected)
    {
        var roles = certified.Split(',', StringSplitOptions.RemoveEmptyEntries);
        var senders = new ClusterSenders(
            () => [new MemberView(Coordinator, MemberStatus.Up, new HashSet<string>(["coordinator"])), new MemberView(Capture, MemberStatus.Up, new HashSet<string>(["capture"]))],
            new HashSet<string>(["intercept"]), Self, address => address.Host == host ? roles : []);

        Assert.Equal(expected, senders.Check(new Address("akka.tcp", "replaycluster", host, 4053), role).ToString());
        Assert.Equal(RefusalReasons.NotCertified, ClusterSenders.Reason(SenderVerdict.NotCertified));
    }

    [Fact]
    public void Members_of_a_role_are_counted_when_current()
    {
        var senders = Senders((Capture, MemberStatus.Up, "capture"), (Coordinator, MemberStatus.Up, "coordinator"),
            (new Address("akka.tcp", "replaycluster", "10.0.0.7", 4053), MemberStatus.Removed, "capture"));

        Assert.Equal(1, senders.Count("capture"));
    }

    [Fact]
    public void Refusals_are_counted_by_reason_and_written_as_counters()
    {
        var refusals = new MessageRefusals();
        var logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        for (var i = 0; i < 3; i++)
        {
            refusals.Refuse(logger, "replay plan", "akka.tcp://replaycluster@10.0.0.9:4053/user/x", RefusalReasons.NotMember, "test");
        }

        refusals.Refuse(logger, "replay plan", "akka.tcp://replaycluster@10.0.0.2:4053/user/x", RefusalReasons.WrongRole, "test");
        var metrics = new ReplayCluster.Statistics.NodeMetrics("capture");
        metrics.NodeWide(refusals);
        var counters = metrics.Read();

        Assert.Equal(4, refusals.Total);
        Assert.Equal(4, counters["messages_refused"]);
        Assert.Equal(3, counters["messages_refused_not_member"]);
        Assert.Equal(1, counters["messages_refused_wrong_role"]);
    }

    [Fact]
    public void The_log_shows_the_first_refusal_of_every_kind_of_message_then_powers_of_two()
    {
        using var log = new ReplayCluster.Tests.TestSupport.CollectingLoggerProvider();
        var logger = log.CreateLogger("test");
        var refusals = new MessageRefusals();
        for (var version = 1; version <= 5; version++)
        {
            refusals.Refuse(logger, $"plan version {version} reported", "rogue", RefusalReasons.WrongRole, "test");
        }

        refusals.Refuse(logger, "capture statistics report", "rogue", RefusalReasons.WrongRole, "test");

        // Versions 1, 2 and 4 of the plan (one kind whatever the number), and the report although it is the 6th wrong_role.
        Assert.Equal(4, log.Lines.Count);
        Assert.Contains(log.Lines, l => l.Contains("Refused capture statistics report", StringComparison.Ordinal) && l.Contains("6 refused for this reason", StringComparison.Ordinal));
        Assert.DoesNotContain(log.Lines, l => l.Contains("plan version 3", StringComparison.Ordinal) || l.Contains("plan version 5", StringComparison.Ordinal));
    }

    private static ClusterSenders Senders(params (Address Address, MemberStatus Status, string Role)[] members) =>
        new(() => members.Select(m => new MemberView(m.Address, m.Status, new HashSet<string> { m.Role })), new HashSet<string> { "intercept" }, Self);
}

public sealed class AddressRulesTests
{
    [Theory]
    [InlineData("127.0.0.1", "loopback")]
    [InlineData("0.0.0.0", "this network")]
    [InlineData("169.254.10.1", "link-local")]
    [InlineData("224.0.0.251", "multicast")]
    [InlineData("239.255.255.250", "multicast")]
    [InlineData("255.255.255.255", "broadcast")]
    [InlineData("10.0.2.2", null)]
    [InlineData("8.8.8.8", null)]
    public void Some_addresses_are_never_a_target(string address, string? why)
    {
        var problem = AddressRules.WhyNeverTarget(ReplayCluster.Packets.Ipv4Address.Parse(address));

        if (why is null)
        {
            Assert.Null(problem);
        }
        else
        {
            Assert.Contains(why, problem, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("10.200.0.0", 16, false, null)]
    [InlineData("172.16.0.0", 12, false, null)]
    [InlineData("172.31.255.0", 24, false, null)]
    [InlineData("172.32.0.0", 16, false, "not private")]
    [InlineData("192.168.5.0", 24, false, null)]
    [InlineData("100.64.0.0", 10, false, null)]
    [InlineData("198.18.0.0", 15, false, null)]
    [InlineData("198.20.0.0", 16, false, "not private")]
    [InlineData("8.8.0.0", 16, false, "not private")]
    [InlineData("8.8.0.0", 16, true, null)]
    [InlineData("10.0.0.0", 7, false, "not private")] // wider than 10/8
    [InlineData("0.0.0.0", 0, true, "overlaps")]
    [InlineData("127.0.0.0", 16, true, "loopback")]
    [InlineData("255.255.255.0", 24, true, "broadcast")]
    public void A_fake_range_is_private_unless_opted_in_and_never_special(string network, int prefix, bool allowPublic, string? why)
    {
        var problem = AddressRules.WhyNotFakeRange(ReplayCluster.Packets.Ipv4Address.Parse(network), prefix, allowPublic);

        if (why is null)
        {
            Assert.Null(problem);
        }
        else
        {
            Assert.Contains(why, problem, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Range_bounds_at_the_top_of_the_address_space_do_not_wrap()
    {
        Assert.Equal((0xFFFFFF00UL, 0xFFFFFFFFUL), AddressRules.Bounds(0xFFFFFF05, 24));
        Assert.Equal((0UL, 0xFFFFFFFFUL), AddressRules.Bounds(0x12345678, 0));
        Assert.True(AddressRules.Within(0xFFFFFF00, 24, 0xFFFF0000, 16));
        Assert.False(AddressRules.Within(0x0AC70000, 16, 0x0AC80000, 16));
        Assert.False(AddressRules.Within(0x0A000000, 8, 0x0AC80000, 16));
    }
}
