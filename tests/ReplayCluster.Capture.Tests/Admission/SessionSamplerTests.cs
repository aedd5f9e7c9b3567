using ReplayCluster.Capture.Identities;
using ReplayCluster.Capture.Admission;
using ReplayCluster.Capture.Sessions;

namespace ReplayCluster.Capture.Tests.Admission;

public sealed class SessionSamplerTests
{
    [Theory]
    [InlineData(50)]
    [InlineData(10)]
    [InlineData(1)]
    public void The_chosen_share_is_the_asked_percentage_even_for_one_client_cycling_ports(double percent)
    {
        // The worst case for tcpcopy's byte-sum: one client address, ports in sequence, similar ISNs.
        var sampler = new SessionSampler(percent);
        var taken = 0;
        const int Sessions = 100_000;
        for (var i = 0; i < Sessions; i++)
        {
            var connection = new OnlineConnection(0x0A0B0B02, (ushort)(32768 + (i % 28000)), 0x0A0B0B01, 80);
            taken += sampler.Takes(connection, (uint)(1_000_000 + (i * 64_000))) ? 1 : 0;
        }

        Assert.InRange(taken * 100.0 / Sessions, percent - 0.5, percent + 0.5);
    }

    [Fact]
    public void The_same_session_gets_the_same_answer_on_every_node()
    {
        var connection = new OnlineConnection(0x0A0B0B02, 40000, 0x0A0B0B01, 80);
        var answers = Enumerable.Range(0, 5).Select(_ => new SessionSampler(50).Takes(connection, 123456)).Distinct();
        Assert.Single(answers);
        Assert.True(new SessionSampler(100).TakesAll);
    }
}
