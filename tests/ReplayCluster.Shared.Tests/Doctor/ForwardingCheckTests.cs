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
}
