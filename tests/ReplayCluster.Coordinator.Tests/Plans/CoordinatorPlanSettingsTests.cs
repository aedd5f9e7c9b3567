using Akka.Configuration;
using ReplayCluster.Configuration;

namespace ReplayCluster.Coordinator.Tests.Plans;

public sealed class CoordinatorPlanSettingsTests
{
    [Fact]
    public void The_starting_plan_is_read_from_hocon_and_empty_fields_stay_unset()
    {
        var settings = CoordinatorSettings.Read(ConfigurationFactory.ParseString("""
            replaycluster.coordinator.plan {
              targets = ["80-10.0.2.2:8080"]
              fake-client-range = "10.200.0.0/16"
              copies = 3
              sample-percent = ""
              rate-cap = 500
              run-duration = 10m
              session.idle-timeout = 45s
            }
            """));

        var plan = settings.InitialPlan;
        Assert.Equal(["80-10.0.2.2:8080"], plan.Targets);
        Assert.Equal(("10.200.0.0/16", 3, (double?)null, (double?)500), (plan.FakeClientRange, plan.Copies, plan.SamplePercent, plan.RateCap));
        Assert.Equal((TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(45)), (plan.RunDuration, plan.IdleTimeout));
        Assert.Null(plan.SlicePrefix);
    }

    [Theory]
    [InlineData("copies = 0", "replaycluster.coordinator.plan.copies: 0 is out of range")]
    [InlineData("sample-percent = lots", "replaycluster.coordinator.plan.sample-percent: 'lots' is not a number")]
    [InlineData("session.keepalive-timeout = forever", "replaycluster.coordinator.plan.session.keepalive-timeout: 'forever' is not a duration")]
    [InlineData("""targets = ["80-10.0.2.2:8080"], fake-client-range = "10.0.0.0/8" """, "replaycluster.coordinator.plan.fake-client-range: 10.0.0.0/8 overlaps the target")]
    public void An_invalid_starting_plan_stops_the_node_naming_the_setting(string hocon, string message)
    {
        var error = Assert.Throws<NodeConfigurationException>(() =>
            CoordinatorSettings.Read(ConfigurationFactory.ParseString($"replaycluster.coordinator.plan {{ {hocon} }}")));

        Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
    }
}
