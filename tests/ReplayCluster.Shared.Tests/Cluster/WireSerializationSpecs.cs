using System.Runtime.Serialization;
using Akka.Actor;
using ReplayCluster.Cluster;
using ReplayCluster.Configuration;
using ReplayCluster.Protocol;

namespace ReplayCluster.Tests.Cluster;

/// <summary>What the reference configuration lets cross the wire, and what it refuses to read.</summary>
public sealed class WireSerializationSpecs : Akka.TestKit.Xunit.TestKit
{
    public WireSerializationSpecs()
        : base(NodeConfigLoader.Load(NodeRoles.Coordinator, new NodeConfigOverrides { Port = "0", Sets = ["replaycluster.cluster.tls = off"] }).Config)
    {
    }

    private sealed record NotBound(string Text);

    [Fact]
    public void A_type_without_an_explicit_binding_cannot_be_sent_and_the_error_names_it()
    {
        var serializer = Sys.Serialization.FindSerializerFor(new NotBound("x"));
        Assert.IsType<UnboundMessageSerializer>(serializer);
        var error = Assert.Throws<SerializationException>(() => serializer.ToBinary(new NotBound("x")));
        Assert.Contains(typeof(NotBound).FullName!, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void No_polymorphic_json_serializer_reads_inbound_messages()
    {
        // What a peer would send to have Newtonsoft.Json (Akka's id 1, type names on) build a type of its choice.
        var payload = "{\"$type\":\"System.IO.FileInfo, System.IO.FileSystem\",\"fileName\":\"/etc/passwd\"}"u8.ToArray();
        Assert.ThrowsAny<SerializationException>(() => Sys.Serialization.Deserialize(payload, 1, "System.IO.FileInfo, System.IO.FileSystem"));
        Assert.ThrowsAny<SerializationException>(() => Sys.Serialization.Deserialize(payload, UnboundMessageSerializer.SerializerId, string.Empty));
    }

    [Fact]
    public void Every_replay_message_has_its_explicit_serializer()
    {
        object[] messages =
        [
            new ResponseBatch([]), new RequestIdentitySlice(null), new IdentitySliceGranted("10.200.1.0/24"),
            new IdentitySliceRefused("none"), new ReplayCluster.Statistics.NodeStatisticsReport("capture", 1, new Dictionary<string, long>()),
            new ReplayCluster.Plans.SubscribeReplayPlan(0, null), new ReplayCluster.Plans.ReplayPlanAssigned(1, ReplayCluster.Plans.ReplayPlan.Empty, null),
            new RouteClaims(TestActor, [], []),
        ];
        foreach (var message in messages)
        {
            Assert.IsType<ReplayMessageSerializer>(Sys.Serialization.FindSerializerFor(message));
        }
    }

    [Fact]
    public void Untrusted_mode_is_on_and_only_the_addressed_actors_are_selectable()
    {
        var remote = Sys.Settings.Config.GetConfig("akka.remote");
        Assert.True(remote.GetBoolean("untrusted-mode"));
        Assert.Equal(
            ["/system/cluster/core/daemon", "/system/cluster/heartbeatReceiver", $"/user/{ActorNames.ReplayPlan}",
             $"/user/{ActorNames.IdentitySlices}", $"/user/{ActorNames.Statistics}", $"/user/{ActorNames.ReplyRouter}",
             $"/user/{ReplayCluster.Comparison.ComparisonActorNames.Tap}", $"/user/{ReplayCluster.Comparison.ComparisonActorNames.Collector}"],
            remote.GetStringList("trusted-selection-paths"));
    }
}
