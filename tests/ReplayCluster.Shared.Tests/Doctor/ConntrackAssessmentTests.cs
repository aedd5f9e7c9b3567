using System.Net;
using ReplayCluster.Doctor;
using ReplayCluster.PacketIO;

namespace ReplayCluster.Tests.Doctor;

public sealed class ConntrackAssessmentTests
{
    private static readonly IPNetwork Fake = IPNetwork.Parse("10.200.0.0/16");
    private static readonly AddressInterval[] ExemptFake = [AddressInterval.Of(Fake)];

    [Fact]
    public void Conntrack_not_loaded_is_fine()
    {
        var result = ConntrackAssessment.Assess(new ConntrackFacts(null, null, [], [Fake], NodeInstalls: false, "no CAP_NET_ADMIN"));
        Assert.Equal(DoctorStatus.Ok, result.Status);
    }

    [Fact]
    public void Tracked_replay_that_the_node_cannot_exempt_fails_with_the_rule_to_install()
    {
        var result = ConntrackAssessment.Assess(new ConntrackFacts(10, 262144, [], [Fake], NodeInstalls: false, "Operation not permitted"));
        Assert.Equal(DoctorStatus.Fail, result.Status);
        Assert.Contains("Operation not permitted", result.Detail, StringComparison.Ordinal);
        Assert.Contains("ip saddr 10.200.0.0/16 notrack", result.Fix, StringComparison.Ordinal);
    }

    [Fact]
    public void An_exemption_in_place_or_installed_by_the_node_is_fine()
    {
        Assert.Equal(DoctorStatus.Ok, ConntrackAssessment.Assess(new ConntrackFacts(10, 262144, ExemptFake, [Fake], false, "notrack = off")).Status);
        Assert.Equal(DoctorStatus.Ok, ConntrackAssessment.Assess(new ConntrackFacts(10, 262144, [], [Fake], true, null)).Status);
        Assert.Equal(DoctorStatus.Ok, ConntrackAssessment.Assess(new ConntrackFacts(10, 262144, null, [], true, null)).Status);
    }

    [Fact]
    public void A_partial_exemption_is_not_enough()
    {
        AddressInterval[] half = [AddressInterval.Of(IPNetwork.Parse("10.200.0.0/17"))];
        Assert.Equal(DoctorStatus.Fail, ConntrackAssessment.Assess(new ConntrackFacts(10, 262144, half, [Fake], false, "notrack = off")).Status);
    }

    [Fact]
    public void A_nearly_full_table_fails_and_a_filling_one_warns_whatever_the_exemption()
    {
        Assert.Equal(DoctorStatus.Fail, ConntrackAssessment.Assess(new ConntrackFacts(240_000, 262144, ExemptFake, [Fake], true, null)).Status);
        Assert.Equal(DoctorStatus.Warn, ConntrackAssessment.Assess(new ConntrackFacts(200_000, 262144, ExemptFake, [Fake], true, null)).Status);
        Assert.Equal(DoctorStatus.Ok, ConntrackAssessment.Assess(new ConntrackFacts(100_000, 262144, ExemptFake, [Fake], true, null)).Status);
    }

    [Fact]
    public void Without_its_own_range_a_node_that_cannot_install_gets_a_warning_for_rules_it_cannot_match()
    {
        var result = ConntrackAssessment.Assess(new ConntrackFacts(10, 262144, ExemptFake, [], false, "notrack = off"));
        Assert.Equal(DoctorStatus.Warn, result.Status);
        Assert.Equal(DoctorStatus.Fail, ConntrackAssessment.Assess(new ConntrackFacts(10, 262144, [], [], false, "notrack = off")).Status);
    }

    [Fact]
    public void Both_families_of_a_dual_stack_range_must_be_exempt_and_the_fix_names_each()
    {
        var fake6 = IPNetwork.Parse("fd00:c8::/48");
        var result = ConntrackAssessment.Assess(new ConntrackFacts(10, 262144, ExemptFake, [Fake, fake6], false, "notrack = off"));
        Assert.Equal(DoctorStatus.Fail, result.Status);
        Assert.Contains("ip saddr 10.200.0.0/16 notrack", result.Fix, StringComparison.Ordinal);
        Assert.Contains("ip6 saddr fd00:c8::/48 notrack", result.Fix, StringComparison.Ordinal);

        AddressInterval[] both = [.. ExemptFake, AddressInterval.Of(IPNetwork.Parse("fd00:c8::/47"))];
        Assert.Equal(DoctorStatus.Ok, ConntrackAssessment.Assess(new ConntrackFacts(10, 262144, both, [Fake, fake6], false, "notrack = off")).Status);
    }
}
