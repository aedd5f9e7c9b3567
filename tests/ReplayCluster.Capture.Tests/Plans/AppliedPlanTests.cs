using Akka.Configuration;
using ReplayCluster.Capture.Plans;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Configuration;
using ReplayCluster.Packets;
using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Tests.Plans;

public sealed class AppliedPlanTests
{
    [Fact]
    public void A_session_takes_its_routes_pacing_over_the_nodes()
    {
        var settings = Read("""targets = ["80-10.0.2.2:8080", "5432-10.0.2.2:5432/wait:64", "6379-10.0.2.2:6379/no-wait", "25-10.0.2.2:25/wait"]""",
            "pacing = no-wait", "session.max-outstanding-requests = 8");
        var plan = AppliedPlan.Own(settings);

        SessionOptions For(ushort port)
        {
            Assert.True(plan.Targets!.TryMap(Ipv4Address.Parse("10.9.9.9"), port, out var route));
            return plan.SessionFor(route);
        }

        Assert.Same(plan.Session, For(80));
        Assert.Equal((PacingMode.NoWait, 8), (For(80).Pacing, For(80).MaxOutstandingRequests));
        Assert.Equal((PacingMode.WaitForResponse, 64), (For(5432).Pacing, For(5432).MaxOutstandingRequests));
        Assert.Equal(PacingMode.NoWait, For(6379).Pacing);
        Assert.Equal((PacingMode.WaitForResponse, 8), (For(25).Pacing, For(25).MaxOutstandingRequests));
        Assert.Equal(settings.Session.IdleTimeout, For(5432).IdleTimeout);
    }

    [Fact]
    public void The_reference_settings_keep_pace_with_32_unanswered_at_recorded_speed()
    {
        var session = Read().Session;

        Assert.Equal((PacingMode.WaitForResponse, 32, 1.0), (session.Pacing, session.MaxOutstandingRequests, session.RecordedSpeed));
    }

    [Fact]
    public void A_pcap_file_replayed_faster_shrinks_the_recorded_gaps_by_its_speed()
    {
        var file = Path.GetTempFileName();
        try
        {
            var session = CaptureNodeSettingsReader.Read(Config($"""interface = "", pcap-file = "{file}", speed = 4""")).Session;
            Assert.Equal(4.0, session.RecordedSpeed);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("session.max-outstanding-requests = 0")]
    [InlineData("session.max-outstanding-requests = 2000")]
    public void A_bound_out_of_range_is_refused_naming_the_setting(string hocon)
    {
        var error = Assert.Throws<NodeConfigurationException>(() => Read(hocon));
        Assert.Contains("replaycluster.capture.session.max-outstanding-requests", error.Message, StringComparison.Ordinal);
    }

    private static CaptureNodeSettings Read(params string[] lines) =>
        CaptureNodeSettingsReader.Read(Config(string.Join("\n", ["interface = eth9", .. lines])));

    private static Config Config(string hocon) =>
        ConfigurationFactory.ParseString($"replaycluster.capture {{ {hocon} }}")
            .WithFallback(ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "hocon", "capture.hocon"))));
}
