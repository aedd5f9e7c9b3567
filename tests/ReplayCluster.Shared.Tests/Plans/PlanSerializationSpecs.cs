using Akka.Serialization;
using ReplayCluster.Configuration;
using ReplayCluster.Plans;
using ReplayCluster.Protocol;

namespace ReplayCluster.Tests.Plans;

public sealed class PlanSerializationSpecs : Akka.TestKit.Xunit.TestKit
{
    private static readonly ReplayPlan FullPlan = new()
    {
        Targets = ["80-10.0.2.2:8080"],
        FakeClientRange = "10.200.0.0/16",
        SlicePrefix = 20,
        Copies = 7,
        SamplePercent = 33.5,
        RateCap = 120,
        IdleTimeout = TimeSpan.FromSeconds(45),
        RunDuration = TimeSpan.FromMinutes(5),
    };

    public PlanSerializationSpecs()
        : base(NodeConfigLoader.Load(NodeRoles.Coordinator, new NodeConfigOverrides { Port = "0", Sets = ["replaycluster.cluster.tls = off"] }).Config)
    {
    }

    [Fact]
    public void A_plan_assignment_round_trips_with_its_version_and_rate_share()
    {
        foreach (var share in new double?[] { null, 37.5 })
        {
            var decoded = RoundTrip(new ReplayPlanAssigned(42, FullPlan, share));

            Assert.Equal(42, decoded.Version);
            Assert.Equal(share, decoded.RateCapShare);
            Assert.Equal(ReplayPlanJson.Serialize(FullPlan), ReplayPlanJson.Serialize(decoded.Plan));
        }
    }

    [Fact]
    public void A_subscription_carries_the_plan_the_node_follows_or_none()
    {
        Assert.Null(RoundTrip(new SubscribeReplayPlan(0, null)).KnownPlan);

        var known = RoundTrip(new SubscribeReplayPlan(9, FullPlan));

        Assert.Equal(9, known.KnownVersion);
        Assert.Equal(ReplayPlanJson.Serialize(FullPlan), ReplayPlanJson.Serialize(known.KnownPlan!));
    }

    [Fact]
    public void A_plan_from_a_node_of_another_wire_version_is_refused_by_name()
    {
        var bytes = ReplayMessageSerializer.EncodePlan(1, FullPlan, null);
        bytes[0] = 99;

        var error = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => ReplayMessageSerializer.DecodePlan(bytes));

        Assert.Contains("version 99", error.Message, StringComparison.Ordinal);
    }

    private T RoundTrip<T>(T message)
        where T : notnull
    {
        var serializer = (SerializerWithStringManifest)Sys.Serialization.FindSerializerFor(message);
        Assert.IsType<ReplayMessageSerializer>(serializer);
        return Assert.IsType<T>(serializer.FromBinary(serializer.ToBinary(message), serializer.Manifest(message)));
    }
}
