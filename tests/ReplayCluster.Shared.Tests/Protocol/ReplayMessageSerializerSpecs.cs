using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Configuration;
using Akka.Serialization;
using CsCheck;
using ReplayCluster.Configuration;
using ReplayCluster.Protocol;

namespace ReplayCluster.Tests.Protocol;

public sealed class ReplayMessageSerializerSpecs : Akka.TestKit.Xunit.TestKit
{
    private static readonly Gen<ResponseRecord> RecordGen =
        Gen.Select(Tests.Packets.NetAddressTests.AnyAddress, Gen.UShort, Tests.Packets.NetAddressTests.AnyAddress, Gen.UShort, Gen.UInt, Gen.UInt, Gen.UShort, Gen.Byte)
            .SelectMany(a => Gen.Select(Gen.UShort, Gen.UShort, Gen.Byte, Gen.Bool, Gen.Bool, Gen.UInt, Gen.UInt, Gen.Long),
                (a, b) => new ResponseRecord
                {
                    ClientAddress = a.Item1, ClientPort = a.Item2, TargetAddress = a.Item3, TargetPort = a.Item4,
                    Sequence = a.Item5, Acknowledgment = a.Item6, Window = a.Item7, Flags = a.Rest.Item1,
                    PayloadLength = b.Item1, Mss = b.Item2, WindowScale = b.Item3, HasTimestamp = b.Item4,
                    SackPermitted = b.Item5, TsVal = b.Item6, TsEcr = b.Item7, CapturedAtNanos = b.Rest.Item1,
                });

    public ReplayMessageSerializerSpecs()
        : base(NodeConfigLoader.Load(NodeRoles.Coordinator, new NodeConfigOverrides { Port = "0", Sets = ["replaycluster.cluster.tls = off"] }).Config
            .WithFallback(ConfigurationFactory.ParseString("akka.actor.provider = local")))
    {
    }

    [Fact]
    public void The_reference_configuration_binds_response_batches_to_the_replay_serializer()
    {
        var serializer = Sys.Serialization.FindSerializerFor(new ResponseBatch([]));
        Assert.IsType<ReplayMessageSerializer>(serializer);
        Assert.Equal(ReplayMessageSerializer.SerializerId, serializer.Identifier);
    }

    [Fact]
    public void Any_batch_round_trips_through_akka_serialization()
    {
        RecordGen.Array[0, 300].Sample(records =>
        {
            var batch = new ResponseBatch(records);
            var serializer = (SerializerWithStringManifest)Sys.Serialization.FindSerializerFor(batch);
            var bytes = serializer.ToBinary(batch);
            Assert.Equal(5 + (records.Length * ResponseRecord.EncodedSize), bytes.Length);
            var back = (ResponseBatch)serializer.FromBinary(bytes, serializer.Manifest(batch));
            Assert.Equal(records, back.Records.ToArray());
        }, iter: 200);
    }

    [Fact]
    public void Truncated_or_foreign_bytes_are_refused_with_a_reason()
    {
        var bytes = ReplayMessageSerializer.EncodeBatch(new ResponseBatch([RecordGen.Single(), RecordGen.Single()]));
        for (var length = 0; length < bytes.Length; length++)
        {
            Assert.Throws<SerializationException>(() => ReplayMessageSerializer.DecodeBatch(bytes.AsSpan(0, length)));
        }

        var otherVersion = (byte[])bytes.Clone();
        otherVersion[0] = 9;
        var error = Assert.Throws<SerializationException>(() => ReplayMessageSerializer.DecodeBatch(otherVersion));
        Assert.Contains("version 9", error.Message, StringComparison.Ordinal);

        var hugeCount = (byte[])bytes.Clone();
        hugeCount[4] = 0x7F;
        Assert.Throws<SerializationException>(() => ReplayMessageSerializer.DecodeBatch(hugeCount));
    }
}

public sealed class RouteClaimsSerializationSpecs : Akka.TestKit.Xunit.TestKit
{
    public RouteClaimsSerializationSpecs()
        : base(NodeConfigLoader.Load(NodeRoles.Coordinator, new NodeConfigOverrides { Port = "0", Sets = ["replaycluster.cluster.tls = off"] }).Config)
    {
    }

    [Fact]
    public void Route_claims_round_trip_with_a_resolvable_owner()
    {
        var owner = CreateTestProbe("session-manager");
        var claimed = new[] { new SessionEndpoints(0x0AC80001, 40000, 0x0A000202, 80), new SessionEndpoints(0x0AC80002, 1, 0x0A000202, 8080) };
        var released = new[] { new SessionEndpoints(0x0AC80003, 65535, 0x0A000203, 443) };
        var claims = new RouteClaims(owner.Ref, claimed, released);

        var serializer = (SerializerWithStringManifest)Sys.Serialization.FindSerializerFor(claims);
        var back = (RouteClaims)serializer.FromBinary(serializer.ToBinary(claims), serializer.Manifest(claims));

        Assert.Equal(claimed, back.Claimed);
        Assert.Equal(released, back.Released);
        back.Owner.Tell("hello");
        owner.ExpectMsg("hello", cancellationToken: TestContext.Current.CancellationToken);
    }

    [Fact]
    public void Truncated_route_claims_are_refused()
    {
        var claims = new RouteClaims(CreateTestProbe().Ref, [new SessionEndpoints(1, 2, 3, 4)], []);
        var bytes = ReplayMessageSerializer.EncodeClaims(claims, "akka://x/user/y");
        for (var length = 0; length < bytes.Length; length++)
        {
            Assert.Throws<SerializationException>(() => ReplayMessageSerializer.DecodeClaims(bytes.AsSpan(0, length), _ => Nobody.Instance));
        }
    }
}

public sealed class IdentitySliceSerializationSpecs : Akka.TestKit.Xunit.TestKit
{
    public IdentitySliceSerializationSpecs()
        : base(NodeConfigLoader.Load(NodeRoles.Coordinator, new NodeConfigOverrides { Port = "0", Sets = ["replaycluster.cluster.tls = off"] }).Config)
    {
    }

    [Theory]
    [InlineData(null)]
    [InlineData("10.200.7.0/24")]
    public void Identity_slice_messages_round_trip_through_the_replay_serializer(string? range)
    {
        object[] messages = [new RequestIdentitySlice(range), new IdentitySliceGranted("10.200.3.0/24"), new IdentitySliceRefused("all 256 slices are taken")];
        foreach (var message in messages)
        {
            var serializer = (SerializerWithStringManifest)Sys.Serialization.FindSerializerFor(message);
            Assert.IsType<ReplayMessageSerializer>(serializer);
            Assert.Equal(message, serializer.FromBinary(serializer.ToBinary(message), serializer.Manifest(message)));
        }
    }
}
