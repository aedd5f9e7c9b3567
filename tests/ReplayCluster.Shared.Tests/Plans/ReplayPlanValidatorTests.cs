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
        { """{"targets": ["80-127.0.0.1:80"]}""", "targets[0]", "loopback" },
        { """{"targets": ["80-10.0.2.2:80", "81-255.255.255.255:80"]}""", "targets[1]", "broadcast" },
        { """{"targets": ["80-224.0.0.5:80"]}""", "targets[0]", "multicast" },
        { """{"targets": ["80-169.254.169.254:80"]}""", "targets[0]", "link-local" },
        { """{"targets": ["80-0.0.0.0:80"]}""", "targets[0]", "this network" },
        { """{"targets": ["80-[::1]:80"]}""", "targets[0]", "loopback address (::/127)" },
        { """{"targets": ["80-[::]:80"]}""", "targets[0]", "unspecified" },
        { """{"targets": ["80-[fe80::1]:80"]}""", "targets[0]", "link-local (fe80::/10)" },
        { """{"targets": ["80-[ff02::1]:80"]}""", "targets[0]", "multicast (ff00::/8)" },
        { """{"targets": ["80-2001:db8::2:80"]}""", "targets[0]", "without brackets" },
        { """{"fakeClientRange": "fd00:c8::/48"}""", "fakeClientRange", "not an IPv4 range" },
        { """{"fakeClientRange": "10.200.0.0/16,fd00:c8::/48,fd00:c9::/48"}""", "fakeClientRange", "not an IPv4 range" },
        { """{"fakeClientRange": "10.200.0.0/16,fd00:c8::1/48"}""", "fakeClientRange", "not an IPv4 range" },
        { """{"fakeClientRange": "10.200.0.0/16,2001:db8::/48"}""", "fakeClientRange", "not a unique local range" },
        { """{"fakeClientRange": "10.200.0.0/16,fd00:c8::/60"}""", "fakeClientRange", "fewer /64 slices than 10.200.0.0/16 holds /24 slices" },
        { """{"fakeClientRange": "10.200.0.0/16,fd00:c8::/96"}""", "fakeClientRange", "fewer /64 slices" },
        { """{"targets": ["80-[fd00:c8::2]:80"], "fakeClientRange": "10.200.0.0/16,fd00:c8::/48"}""", "fakeClientRange", "overlaps the target fd00:c8::2" },
        { """{"fakeClientRange": "8.8.0.0/16"}""", "fakeClientRange", "not private" },
        { """{"fakeClientRange": "0.0.0.0/0"}""", "fakeClientRange", "overlaps" },
    };

    [Fact]
    public void A_plan_with_more_targets_than_the_cap_is_refused()
    {
        var plan = new ReplayPlan { Targets = [.. Enumerable.Range(1, ReplayPlanValidator.MaxTargets + 1).Select(i => $"{1000 + i}-10.0.2.2:80")] };

        var error = ReplayPlanValidator.Validate(plan);

        Assert.Equal("targets", error?.Field);
        Assert.Contains($"at most {ReplayPlanValidator.MaxTargets}", error!.Problem, StringComparison.Ordinal);
        Assert.Null(ReplayPlanValidator.Validate(plan with { Targets = [.. plan.Targets!.Take(ReplayPlanValidator.MaxTargets)] }));
    }

    [Fact]
    public void A_plan_larger_than_the_byte_cap_is_refused()
    {
        var plan = new ReplayPlan { Targets = [.. Enumerable.Range(0, 60).Select(i => $"10.0.{i}.1:{1000 + i}-10.0.2.2:80" + new string(' ', 300))] };

        Assert.Equal("(plan)", ReplayPlanValidator.Validate(plan)?.Field);
    }

    [Fact]
    public void A_public_fake_range_needs_the_opt_in()
    {
        var plan = new ReplayPlan { FakeClientRange = "8.8.0.0/16" };

        Assert.NotNull(ReplayPlanValidator.Validate(plan));
        Assert.Null(ReplayPlanValidator.Validate(plan, running: null, new PlanRules { AllowPublicFakeRange = true }));
    }

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
    public void An_ipv6_range_beside_the_ipv4_one_is_valid_and_may_not_overlap_a_different_running_one()
    {
        var plan = new ReplayPlan { Targets = ["80-[2001:db8:2::2]:8080"], FakeClientRange = "10.200.0.0/16,fd00:c8::/48" };
        Assert.Null(ReplayPlanValidator.Validate(plan));

        var moved = plan with { FakeClientRange = "10.201.0.0/16,fd00:c8:0:8000::/49" };
        Assert.Contains("overlaps the running range fd00:c8::/48", ReplayPlanValidator.Validate(moved, running: plan)?.Problem, StringComparison.Ordinal);
        Assert.Null(ReplayPlanValidator.Validate(plan with { FakeClientRange = "10.201.0.0/16,fd00:c9::/48" }, running: plan));
    }

    [Fact]
    public void An_ipv6_target_beside_an_ipv4_fake_range_is_valid()
    {
        var plan = new ReplayPlan { Targets = ["80-[2001:db8:2::2]:8080", "[2001:db8::1]:443-10.0.2.2:443"], FakeClientRange = "10.200.0.0/16" };

        Assert.Null(ReplayPlanValidator.Validate(plan));
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
