using System.Runtime.Serialization;
using System.Text;
using ReplayCluster.Comparison;
using ReplayCluster.Configuration;
using ReplayCluster.Protocol;

namespace ReplayCluster.Shared.Tests.Comparison;

/// <summary>The comparison messages through the node's real serialization configuration (hocon/common.hocon).</summary>
public sealed class ComparisonMessageSerializerSpecs : Akka.TestKit.Xunit.TestKit
{
    public ComparisonMessageSerializerSpecs()
        : base(NodeConfigLoader.Load(NodeRoles.Coordinator, new NodeConfigOverrides { Port = "0", Sets = ["replaycluster.cluster.tls = off"] }).Config)
    {
    }

    private T RoundTrip<T>(T message)
        where T : class
    {
        var serializer = Sys.Serialization.FindSerializerFor(message);
        Assert.IsType<ComparisonMessageSerializer>(serializer);
        var manifest = ((Akka.Serialization.SerializerWithStringManifest)serializer).Manifest(message);
        return Assert.IsType<T>(Sys.Serialization.Deserialize(serializer.ToBinary(message), serializer.Identifier, manifest));
    }

    [Fact]
    public void Compared_sessions_target_segments_and_summaries_round_trip()
    {
        var a = new SessionEndpoints(0x0AC80001, 40000, 0x0AFB1502, 8088);
        var b = new SessionEndpoints(0x0AC80002, 40001, 0x0AFB1502, 8088);
        var compare = RoundTrip(new CompareSessions(TestActor, [a], [b]));
        Assert.Equal(TestActor.Path, compare.Owner.Path);
        Assert.Equal([a], compare.Started);
        Assert.Equal([b], compare.Ended);

        var segments = RoundTrip(new TargetReplySegments([new TargetSegment(a, 123, 0x12, Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\n")), new TargetSegment(b, 7, 0x01, ReadOnlyMemory<byte>.Empty)]));
        Assert.Equal(2, segments.Segments.Count);
        Assert.Equal((a, 123u, (byte)0x12, "HTTP/1.1 200 OK\r\n"), (segments.Segments[0].Endpoints, segments.Segments[0].Sequence, segments.Segments[0].Flags, Encoding.ASCII.GetString(segments.Segments[0].Payload.Span)));
        Assert.Equal((b, 0), (segments.Segments[1].Endpoints, segments.Segments[1].Payload.Length));

        var json = ComparisonSummary.Empty.ToJson();
        Assert.Equal(json, RoundTrip(new ComparisonSummaryReport(json)).Json);
    }

    [Fact]
    public void Counts_beyond_their_bounds_a_wrong_version_and_trailing_bytes_are_refused_before_allocation()
    {
        var segments = ComparisonMessageSerializer.EncodeSegments(new TargetReplySegments([new TargetSegment(default, 1, 0, new byte[10])]));
        var huge = (byte[])segments.Clone();
        BitConverter.TryWriteBytes(huge.AsSpan(1), int.MaxValue);
        Assert.Throws<SerializationException>(() => ComparisonMessageSerializer.DecodeSegments(huge));
        var lying = (byte[])segments.Clone();
        BitConverter.TryWriteBytes(lying.AsSpan(5 + SessionEndpoints.EncodedSize + 5), 1 << 20); // a payload longer than the message
        Assert.Throws<SerializationException>(() => ComparisonMessageSerializer.DecodeSegments(lying));
        var version = (byte[])segments.Clone();
        version[0] = 99;
        Assert.Throws<SerializationException>(() => ComparisonMessageSerializer.DecodeSegments(version));
        Assert.Throws<SerializationException>(() => ComparisonMessageSerializer.DecodeSegments([.. segments, 0]));
        var compare = ComparisonMessageSerializer.EncodeCompare(new CompareSessions(TestActor, [], []), "akka://x/user/y");
        BitConverter.TryWriteBytes(compare.AsSpan(1), 1 << 30);
        Assert.Throws<SerializationException>(() => ComparisonMessageSerializer.DecodeCompare(compare, _ => TestActor));
        Assert.Throws<ArgumentException>(() => ComparisonMessageSerializer.EncodeSegments(
            new TargetReplySegments([new TargetSegment(default, 1, 0, new byte[TargetReplySegments.MaxPayloadBytes + 1])])));
    }
}
