using System.Buffers.Binary;
using System.Runtime.Serialization;
using System.Text;
using Akka.Actor;
using Akka.Serialization;
using ReplayCluster.Protocol;

namespace ReplayCluster.Comparison;

/// <summary>
/// Binary serializer of the comparison messages (<see cref="IComparisonWireMessage"/>, bound in hocon/common.hocon):
/// a closed set of manifests, a version byte first, every count and length checked against its bound before anything
/// is allocated, so a peer's message can never make this node allocate more than the bound.
/// </summary>
internal sealed class ComparisonMessageSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    /// <summary>Serializer id, unique in the actor system (4711 and 4712 are the replay and unbound serializers).</summary>
    public const int SerializerId = 4713;

    /// <summary>Wire format version; bump on any layout change.</summary>
    public const byte FormatVersion = 1;

    private const string CompareManifest = "CS";
    private const string SegmentsManifest = "TS";
    private const string SummaryManifest = "SM";
    private const int MaxActorPathBytes = 4096;
    private const int SegmentHeaderSize = SessionEndpoints.EncodedSize + 4 + 1 + 4;

    private readonly ExtendedActorSystem _system = system;

    public override int Identifier => SerializerId;

    public override string Manifest(object o) => o switch
    {
        CompareSessions => CompareManifest,
        TargetReplySegments => SegmentsManifest,
        ComparisonSummaryReport => SummaryManifest,
        _ => throw new ArgumentException($"{nameof(ComparisonMessageSerializer)} cannot serialize {o?.GetType().FullName ?? "null"}", nameof(o)),
    };

    public override byte[] ToBinary(object obj) => obj switch
    {
        CompareSessions compare => EncodeCompare(compare, Akka.Serialization.Serialization.SerializedActorPath(compare.Owner)),
        TargetReplySegments segments => EncodeSegments(segments),
        ComparisonSummaryReport report => EncodeSummary(report),
        _ => throw new ArgumentException($"{nameof(ComparisonMessageSerializer)} cannot serialize {obj?.GetType().FullName ?? "null"}", nameof(obj)),
    };

    public override object FromBinary(byte[] bytes, string manifest)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        return manifest switch
        {
            CompareManifest => DecodeCompare(bytes, ResolveOwner),
            SegmentsManifest => DecodeSegments(bytes),
            SummaryManifest => DecodeSummary(bytes),
            _ => throw new SerializationException($"Unknown comparison message manifest '{manifest}'"),
        };
    }

    private IActorRef ResolveOwner(string path)
    {
        try
        {
            return _system.Provider.ResolveActorRef(path);
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or OverflowException)
        {
            throw new SerializationException($"Compared sessions name an owner path that does not read ({ex.GetType().Name}: {ex.Message})", ex);
        }
    }

    internal static byte[] EncodeCompare(CompareSessions compare, string ownerPath)
    {
        if (compare.Started.Count > CompareSessions.MaxEntries || compare.Ended.Count > CompareSessions.MaxEntries)
        {
            throw new ArgumentException($"at most {CompareSessions.MaxEntries} entries per list", nameof(compare));
        }

        var path = Encoding.UTF8.GetBytes(ownerPath);
        var bytes = new byte[1 + 4 + path.Length + 8 + ((compare.Started.Count + compare.Ended.Count) * SessionEndpoints.EncodedSize)];
        bytes[0] = FormatVersion;
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(1), path.Length);
        path.CopyTo(bytes.AsSpan(5));
        var span = bytes.AsSpan(5 + path.Length);
        foreach (var list in new[] { compare.Started, compare.Ended })
        {
            BinaryPrimitives.WriteInt32LittleEndian(span, list.Count);
            span = span[4..];
            foreach (var endpoints in list)
            {
                endpoints.Write(span);
                span = span[SessionEndpoints.EncodedSize..];
            }
        }

        return bytes;
    }

    internal static CompareSessions DecodeCompare(byte[] bytes, Func<string, IActorRef> resolve)
    {
        var span = Version(bytes);
        var pathLength = Length(ref span, MaxActorPathBytes, "owner path");
        var path = Encoding.UTF8.GetString(Take(ref span, pathLength));
        var lists = new SessionEndpoints[2][];
        for (var l = 0; l < 2; l++)
        {
            var count = Length(ref span, CompareSessions.MaxEntries, "entries");
            var raw = Take(ref span, count * SessionEndpoints.EncodedSize);
            lists[l] = new SessionEndpoints[count];
            for (var i = 0; i < count; i++)
            {
                lists[l][i] = SessionEndpoints.Read(raw[(i * SessionEndpoints.EncodedSize)..]);
            }
        }

        End(span);
        return new CompareSessions(resolve(path), lists[0], lists[1]);
    }

    internal static byte[] EncodeSegments(TargetReplySegments message)
    {
        var segments = message.Segments;
        var payload = segments.Sum(s => (long)s.Payload.Length);
        if (segments.Count > TargetReplySegments.MaxSegments || payload > TargetReplySegments.MaxPayloadBytes)
        {
            throw new ArgumentException($"at most {TargetReplySegments.MaxSegments} segments and {TargetReplySegments.MaxPayloadBytes} payload bytes", nameof(message));
        }

        var bytes = new byte[1 + 4 + (segments.Count * SegmentHeaderSize) + payload];
        bytes[0] = FormatVersion;
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(1), segments.Count);
        var span = bytes.AsSpan(5);
        foreach (var segment in segments)
        {
            segment.Endpoints.Write(span);
            BinaryPrimitives.WriteUInt32LittleEndian(span[SessionEndpoints.EncodedSize..], segment.Sequence);
            span[SessionEndpoints.EncodedSize + 4] = segment.Flags;
            BinaryPrimitives.WriteInt32LittleEndian(span[(SessionEndpoints.EncodedSize + 5)..], segment.Payload.Length);
            segment.Payload.Span.CopyTo(span[SegmentHeaderSize..]);
            span = span[(SegmentHeaderSize + segment.Payload.Length)..];
        }

        return bytes;
    }

    internal static TargetReplySegments DecodeSegments(byte[] bytes)
    {
        var span = Version(bytes);
        var count = Length(ref span, TargetReplySegments.MaxSegments, "segments");
        var segments = new TargetSegment[count];
        var offset = 5;
        var total = 0;
        for (var i = 0; i < count; i++)
        {
            var header = Take(ref span, SegmentHeaderSize);
            var length = BinaryPrimitives.ReadInt32LittleEndian(header[(SessionEndpoints.EncodedSize + 5)..]);
            total += length;
            if (length < 0 || total > TargetReplySegments.MaxPayloadBytes)
            {
                throw new SerializationException($"Target reply segments: more than {TargetReplySegments.MaxPayloadBytes} payload bytes");
            }

            _ = Take(ref span, length);
            offset += SegmentHeaderSize;
            segments[i] = new TargetSegment(SessionEndpoints.Read(header), BinaryPrimitives.ReadUInt32LittleEndian(header[SessionEndpoints.EncodedSize..]),
                header[SessionEndpoints.EncodedSize + 4], bytes.AsMemory(offset, length));
            offset += length;
        }

        End(span);
        return new TargetReplySegments(segments);
    }

    internal static byte[] EncodeSummary(ComparisonSummaryReport report)
    {
        var json = Encoding.UTF8.GetBytes(report.Json);
        if (json.Length > ComparisonSummaryReport.MaxJsonBytes)
        {
            throw new ArgumentException($"a summary of {json.Length} bytes, at most {ComparisonSummaryReport.MaxJsonBytes}", nameof(report));
        }

        return [FormatVersion, .. json];
    }

    internal static ComparisonSummaryReport DecodeSummary(byte[] bytes)
    {
        var span = Version(bytes);
        if (span.Length > ComparisonSummaryReport.MaxJsonBytes)
        {
            throw new SerializationException($"Comparison summary of {span.Length} bytes, at most {ComparisonSummaryReport.MaxJsonBytes}");
        }

        return new ComparisonSummaryReport(Encoding.UTF8.GetString(span));
    }

    private static ReadOnlySpan<byte> Version(byte[] bytes)
    {
        if (bytes.Length < 1 || bytes[0] != FormatVersion)
        {
            throw new SerializationException($"Comparison message of format version {(bytes.Length < 1 ? "(none)" : bytes[0].ToString(System.Globalization.CultureInfo.InvariantCulture))}, this node reads {FormatVersion}");
        }

        return bytes.AsSpan(1);
    }

    private static int Length(ref ReadOnlySpan<byte> span, int max, string what)
    {
        var value = BinaryPrimitives.ReadInt32LittleEndian(Take(ref span, 4));
        return value < 0 || value > max ? throw new SerializationException($"Comparison message: {value} {what}, at most {max}") : value;
    }

    private static ReadOnlySpan<byte> Take(ref ReadOnlySpan<byte> span, int length)
    {
        if (length < 0 || span.Length < length)
        {
            throw new SerializationException("Comparison message cut short");
        }

        var taken = span[..length];
        span = span[length..];
        return taken;
    }

    private static void End(ReadOnlySpan<byte> span)
    {
        if (!span.IsEmpty)
        {
            throw new SerializationException($"Comparison message with {span.Length} bytes beyond its end");
        }
    }
}
