using ReplayCluster.Comparison;
using ReplayCluster.Plans;

namespace ReplayCluster.Shared.Tests.Comparison;

public sealed class ComparisonPlanTests
{
    [Theory]
    [InlineData("""{"comparePercent": -1}""", "comparePercent", "out of range")]
    [InlineData("""{"comparePercent": 100.5}""", "comparePercent", "out of range")]
    [InlineData("""{"compareIgnoredHeaders": ["x trace"]}""", "compareIgnoredHeaders", "is not a name")]
    [InlineData("""{"compareIgnoredFields": ["meta.at"]}""", "compareIgnoredFields", "is not a JSON path")]
    [InlineData("""{"compareRedactedFields": [""]}""", "compareRedactedFields", "is not a name")]
    [InlineData("""{"comparePercent": "ten"}""", "comparePercent", "is not a number")]
    [InlineData("""{"compareIgnoredHeaders": "x-trace"}""", "compareIgnoredHeaders", "is not a list of texts")]
    [InlineData("""{"compareSecondary": "10.0.1.21"}""", "compareSecondary", "is not an IPv4 unicast address and port")]
    [InlineData("""{"compareSecondary": "10.0.1.21:0"}""", "compareSecondary", "is not an IPv4 unicast address and port")]
    [InlineData("""{"compareSecondary": "127.0.0.1:8080"}""", "compareSecondary", "is not an IPv4 unicast address and port")]
    [InlineData("""{"compareSecondary": "host:8080"}""", "compareSecondary", "is not an IPv4 unicast address and port")]
    [InlineData("""{"compareSecondary": 8080}""", "compareSecondary", "is not an address and port")]
    public void Bad_comparison_fields_are_refused_by_name(string json, string field, string problem)
    {
        var plan = ReplayPlanJson.Deserialize(json, out var error);
        error ??= ReplayPlanValidator.Validate(plan!);

        Assert.Equal(field, error?.Field);
        Assert.Contains(problem, error!.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_secondary_reference_is_an_address_and_port_and_none_when_unset()
    {
        var plan = ReplayPlanJson.Deserialize("""{"comparePercent": 10, "compareSecondary": "10.0.1.21:8080"}""", out var error);

        Assert.Null(error);
        Assert.Null(ReplayPlanValidator.Validate(plan!));
        Assert.Equal((0x0A000115u, (ushort)8080), ComparisonPlan.Secondary(plan));
        Assert.Null(ComparisonPlan.Secondary(new ReplayPlan { ComparePercent = 10 }));
        Assert.Null(ComparisonPlan.Secondary(null));
    }

    [Fact]
    public void Comparison_fields_round_trip_and_become_the_engines_noise_rules()
    {
        var plan = ReplayPlanJson.Deserialize(
            """{"comparePercent": 10, "compareIgnoredHeaders": ["X-Build"], "compareIgnoredFields": ["$.meta.at"], "compareRedactedFields": ["ssn"]}""",
            out var error);

        Assert.Null(error);
        Assert.Null(ReplayPlanValidator.Validate(plan!));
        Assert.Equal(10, ComparisonPlan.Percent(plan));
        var options = ComparisonPlan.Options(plan);
        Assert.Equal(["X-Build"], options.Noise.IgnoredHeaders);
        Assert.Equal(["$.meta.at"], options.Noise.IgnoredJsonPaths);
        // Configured redactions add to the defaults, never replace them.
        Assert.Contains("ssn", options.Noise.RedactedFields);
        Assert.Contains("password", options.Noise.RedactedFields);
        Assert.Equal(plan, ReplayPlanJson.Deserialize(ReplayPlanJson.Serialize(plan!), out _), new PlanComparer());
    }

    [Fact]
    public void A_plan_without_comparison_compares_nothing()
    {
        Assert.Equal(0, ComparisonPlan.Percent(ReplayPlan.Empty));
        Assert.Equal(0, ComparisonPlan.Percent(null));
        Assert.Same(ComparisonOptions.Default, ComparisonPlan.Options(null));
    }

    private sealed class PlanComparer : IEqualityComparer<ReplayPlan?>
    {
        public bool Equals(ReplayPlan? x, ReplayPlan? y) => x is not null && y is not null && ReplayPlanJson.Serialize(x) == ReplayPlanJson.Serialize(y);

        public int GetHashCode(ReplayPlan? obj) => 0;
    }
}
