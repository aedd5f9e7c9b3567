using System.Text.Json.Nodes;
using ReplayCluster.Plans;

namespace ReplayCluster.Tests.Plans;

public sealed class ReplayPlanJsonTests
{
    [Fact]
    public void A_merge_patch_replaces_the_fields_it_gives_and_null_unsets()
    {
        var running = new ReplayPlan { Copies = 3, SamplePercent = 50, Targets = ["80-10.0.2.2:80"], IdleTimeout = TimeSpan.FromSeconds(30) };

        var patched = ReplayPlanJson.Patch(running, JsonNode.Parse("""{"copies": 5, "samplePercent": null, "runDuration": "10m"}""")!.AsObject(), out var error);

        Assert.Null(error);
        Assert.Equal(5, patched!.Copies);
        Assert.Null(patched.SamplePercent);
        Assert.Equal(["80-10.0.2.2:80"], patched.Targets);
        Assert.Equal(TimeSpan.FromSeconds(30), patched.IdleTimeout);
        Assert.Equal(TimeSpan.FromMinutes(10), patched.RunDuration);
    }

    [Theory]
    [InlineData("""{"copeis": 3}""", "copeis", "not a plan field")]
    [InlineData("""{"copies": "three"}""", "copies", "\"three\" is not a whole number")]
    [InlineData("""{"copies": 2.5}""", "copies", "2.5 is not a whole number")]
    [InlineData("""{"idleTimeout": "soon"}""", "idleTimeout", "is not a duration")]
    [InlineData("""{"idleTimeout": 30}""", "idleTimeout", "is not a duration")]
    [InlineData("""{"targets": "80-10.0.2.2:80"}""", "targets", "is not a list")]
    public void An_unreadable_field_is_named(string patch, string field, string problem)
    {
        var result = ReplayPlanJson.Patch(ReplayPlan.Empty, JsonNode.Parse(patch)!.AsObject(), out var error);

        Assert.Null(result);
        Assert.Equal(field, error?.Field);
        Assert.Contains(problem, error!.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Durations_are_written_as_people_type_them_and_read_back()
    {
        var plan = new ReplayPlan { ResponseWaitLimit = TimeSpan.FromMilliseconds(1500), KeepAliveTimeout = TimeSpan.FromMinutes(10), RunDuration = TimeSpan.FromHours(2) };

        var json = ReplayPlanJson.Serialize(plan);

        Assert.Contains("\"responseWaitLimit\":\"1500ms\"", json, StringComparison.Ordinal);
        Assert.Contains("\"keepAliveTimeout\":\"10m\"", json, StringComparison.Ordinal);
        Assert.Contains("\"runDuration\":\"2h\"", json, StringComparison.Ordinal);
        Assert.Equal(plan, ReplayPlanJson.Deserialize(json, out _));
    }

    [Fact]
    public void Json_that_is_not_an_object_is_refused()
    {
        Assert.Null(ReplayPlanJson.Deserialize("[1]", out var error));
        Assert.Equal("(plan)", error?.Field);
        Assert.Null(ReplayPlanJson.Deserialize("{", out error));
        Assert.Contains("not JSON", error!.Problem, StringComparison.Ordinal);
    }
}
