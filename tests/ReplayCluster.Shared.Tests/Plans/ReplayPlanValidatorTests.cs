using ReplayCluster.Plans;

namespace ReplayCluster.Tests.Plans;

public sealed class ReplayPlanValidatorTests
{
    public static TheoryData<string, string, string> InvalidPlans => new()
    {
        { """{"copies": 0}""", "copies", "out of range (1 to 1000)" },
        { """{"copies": 1001}""", "copies", "out of range" },
        { """{"samplePercent": 0}""", "samplePercent", "out of range" },
        { """{"samplePercent": 100.5}""", "samplePercent", "out of range" },
        { """{"rateCap": -5}""", "rateCap", "out of range" },
        { """{"targets": ["80-10.0.2.2:8080", "81-nowhere:80"]}""", "targets[1]", "'nowhere' is not an IPv4 address" },
        { """{"targets": ["80-10.0.2.2:8080", "80-10.0.2.3:8080"]}""", "targets", "another entry already maps" },
        { """{"targets": []}""", "targets", "no target given" },
        { """{"fakeClientRange": "10.200.0.0/33"}""", "fakeClientRange", "not an IPv4 range" },
        { """{"fakeClientRange": "10.200.0.0/16", "slicePrefix": 12}""", "slicePrefix", "do not fit" },
        { """{"slicePrefix": 24}""", "slicePrefix", "need a fakeClientRange" },
        { """{"targets": ["80-10.0.2.2:80"], "fakeClientRange": "10.0.0.0/8"}""", "fakeClientRange", "overlaps the target 10.0.2.2" },
        { """{"idleTimeout": "0s"}""", "idleTimeout", "out of range" },
        { """{"runDuration": "400d"}""", "runDuration", "out of range" },
    };

    [Theory]
    [MemberData(nameof(InvalidPlans))]
    public void An_invalid_plan_is_refused_naming_the_field(string json, string field, string problem)
    {
        var plan = ReplayPlanJson.Deserialize(json, out var readError);
        Assert.Null(readError);

        var error = ReplayPlanValidator.Validate(plan!);

        Assert.NotNull(error);
        Assert.Equal(field, error.Field);
        Assert.Contains(problem, error.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_full_plan_and_the_empty_plan_are_valid()
    {
        var plan = ReplayPlanJson.Deserialize("""
            {"targets": ["80-10.0.2.2:8080", "10.0.0.1:443-10.0.2.3:8443"], "fakeClientRange": "10.200.0.0/16", "slicePrefix": 22,
             "copies": 100, "samplePercent": 12.5, "rateCap": 250, "idleTimeout": "30s", "keepAliveTimeout": "5m",
             "responseWaitLimit": "1500ms", "runDuration": "1h"}
            """, out var readError);

        Assert.Null(readError);
        Assert.Null(ReplayPlanValidator.Validate(plan!));
        Assert.Null(ReplayPlanValidator.Validate(ReplayPlan.Empty));
    }

    [Theory]
    [InlineData("10.201.0.0/16", null)]
    [InlineData("10.200.0.0/16", null)]
    [InlineData("10.200.128.0/17", "overlaps the running range")]
    [InlineData("10.0.0.0/8", "overlaps the running range")]
    public void The_range_moves_only_to_a_disjoint_one_while_sessions_may_hold_identities_of_the_running_range(string range, string? problem)
    {
        var running = new ReplayPlan { FakeClientRange = "10.200.0.0/16" };

        var error = ReplayPlanValidator.Validate(new ReplayPlan { FakeClientRange = range }, running);

        if (problem is null)
        {
            Assert.Null(error);
        }
        else
        {
            Assert.Equal("fakeClientRange", error?.Field);
            Assert.Contains(problem, error!.Problem, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_running_range_cannot_be_removed()
    {
        var error = ReplayPlanValidator.Validate(ReplayPlan.Empty, new ReplayPlan { FakeClientRange = "10.200.0.0/16" });

        Assert.Equal("fakeClientRange", error?.Field);
    }
}
