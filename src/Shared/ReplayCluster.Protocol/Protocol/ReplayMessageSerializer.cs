using System.Buffers.Binary;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using ReplayCluster.Packets;

namespace ReplayCluster.Protocol;

/// <summary>
/// Hand-written binary serializer for the hot replay messages (bound in hocon/common.hocon). Fixed
/// field order, little-endian, a version byte first so a mismatched peer is refused by name instead of
/// misparsed (tcpcopy only logged version mismatches and then read garbage).
/// </summary>
internal sealed class ReplayMessageSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    /// <summary>Serializer id, unique in the actor system (ids below 100 are Akka's).</summary>
    public const int SerializerId = 4711;

    /// <summary>Wire format version; bump on any layout change (2: addresses of 16 bytes, either family).</summary>
    public const byte FormatVersion = 2;

    private const string ResponseBatchManifest = "RB";
    private const string RouteClaimsManifest = "RC";
    private const string SliceRequestManifest = "SQ";
    private const string SliceGrantedManifest = "SG";
    private const string SliceRefusedManifest = "SR";
    private const string StatisticsManifest = "NS";
    private const string PlanSubscribeManifest = "PS";
    private const string PlanAssignedManifest = "PA";
    private const string ChannelOfferManifest = "CO";
    private const int PlanHeaderSize = 1 + 8 + 8;
    private const int MaxCounters = 4096;
    private const int BatchHeaderSize = 1 + 4;
    private const int EndpointsSize = SessionEndpoints.EncodedSize;
    private const int MaxActorPathBytes = 4096;

    private readonly ExtendedActorSystem _system = system;

    public override int Identifier => SerializerId;

    public override string Manifest(object o) => o switch
    {
        ResponseBatch => ResponseBatchManifest,
        RouteClaims => RouteClaimsManifest,
        RequestIdentitySlice => SliceRequestManifest,
        IdentitySliceGranted => SliceGrantedManifest,
        IdentitySliceRefused => SliceRefusedManifest,
        Statistics.NodeStatisticsReport => StatisticsManifest,
        Plans.SubscribeReplayPlan => PlanSubscribeManifest,
        Plans.ReplayPlanAssigned => PlanAssignedManifest,
        ReplyChannelOffer => ChannelOfferManifest,
        _ => throw new ArgumentException($"{nameof(ReplayMessageSerializer)} cannot serialize {o?.GetType().FullName ?? "null"}", nameof(o)),
    };

    public override byte[] ToBinary(object obj) => obj switch
    {
        ResponseBatch batch => EncodeBatch(batch),
        RouteClaims claims => EncodeClaims(claims, Akka.Serialization.Serialization.SerializedActorPath(claims.Owner)),
        RequestIdentitySlice request => EncodeText(request.Preferred),
        IdentitySliceGranted granted => EncodeText(granted.Range),
        IdentitySliceRefused refused => EncodeText(refused.Reason),
        Statistics.NodeStatisticsReport report => EncodeStatistics(report),
        Plans.SubscribeReplayPlan subscribe => EncodePlan(subscribe.KnownVersion, subscribe.KnownPlan ?? Plans.ReplayPlan.Empty, null),
        Plans.ReplayPlanAssigned assigned => EncodePlan(assigned.Version, assigned.Plan, assigned.RateCapShare),
        ReplyChannelOffer offer => EncodeOffer(offer, [.. offer.Shards.Select(Akka.Serialization.Serialization.SerializedActorPath)]),
        _ => throw new ArgumentException($"{nameof(ReplayMessageSerializer)} cannot serialize {obj?.GetType().FullName ?? "null"}", nameof(obj)),
    };

    public override object FromBinary(byte[] bytes, string manifest)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        return manifest switch
        {
            ResponseBatchManifest => DecodeBatch(bytes),
            RouteClaimsManifest => DecodeClaims(bytes, ResolveOwner),
            SliceRequestManifest => new RequestIdentitySlice(DecodeText(bytes)),
            SliceGrantedManifest => new IdentitySliceGranted(DecodeText(bytes) ?? throw new SerializationException("Identity slice grant without a range")),
            SliceRefusedManifest => new IdentitySliceRefused(DecodeText(bytes) ?? string.Empty),
            StatisticsManifest => DecodeStatistics(bytes),
            PlanSubscribeManifest => DecodeSubscription(bytes),
            PlanAssignedManifest => DecodeAssignment(bytes),
            ChannelOfferManifest => DecodeOffer(bytes, ResolveOwner),
            _ => throw new SerializationException($"Unknown replay message manifest '{manifest}'"),
        };
    }

    /// <summary>
    /// The owner of route claims, resolved by Akka's provider. The provider throws a <see cref="FormatException"/>
    /// for a path whose uid (after '#') is no number, and may throw an <see cref="ArgumentException"/> for other
    /// paths it cannot parse (bench/fuzz.sh found the first); from a peer that is an unreadable message, refused
    /// like every other inconsistency.
    /// </summary>
    private IActorRef ResolveOwner(string path)
    {
        try
        {
            return _system.Provider.ResolveActorRef(path);
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or OverflowException)
        {
            throw new SerializationException($"Route claims name an owner path that does not read ({ex.GetType().Name}: {ex.Message})", ex);
        }
    }

    /// <summary>Encodes one batch.</summary>
    public static byte[] EncodeBatch(ResponseBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var records = batch.Records;
        var bytes = new byte[BatchHeaderSize + (records.Length * ResponseRecord.EncodedSize)];
        bytes[0] = FormatVersion;
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(1), records.Length);
        var span = bytes.AsSpan(BatchHeaderSize);
        foreach (ref readonly var record in records)
        {
            Write(span, record);
            span = span[ResponseRecord.EncodedSize..];
        }

        return bytes;
    }

    /// <summary>Decodes one batch; any inconsistency is a <see cref="SerializationException"/>, never a bad read.</summary>
    public static ResponseBatch DecodeBatch(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < BatchHeaderSize)
        {
            throw new SerializationException($"Response batch of {bytes.Length} bytes is shorter than its {BatchHeaderSize}-byte header");
        }

        if (bytes[0] != FormatVersion)
        {
            throw new SerializationException($"Response batch has wire format version {bytes[0]}; this node speaks version {FormatVersion}");
        }

        var count = BinaryPrimitives.ReadInt32LittleEndian(bytes[1..]);
        if (count is < 0 or > ResponseBatch.MaxRecords || bytes.Length != BatchHeaderSize + ((long)count * ResponseRecord.EncodedSize))
        {
            throw new SerializationException($"Response batch claims {count} records but carries {bytes.Length - BatchHeaderSize} bytes of records");
        }

        var records = new ResponseRecord[count];
        var span = bytes[BatchHeaderSize..];
        for (var i = 0; i < count; i++)
        {
            records[i] = Read(span);
            span = span[ResponseRecord.EncodedSize..];
        }

        return new ResponseBatch(records);
    }

    /// <summary>Encodes route claims; the owner travels as its serialized actor path.</summary>
    public static byte[] EncodeClaims(RouteClaims claims, string ownerPath)
    {
        ArgumentNullException.ThrowIfNull(claims);
        ArgumentNullException.ThrowIfNull(ownerPath);
        var pathLength = System.Text.Encoding.UTF8.GetByteCount(ownerPath);
        var bytes = new byte[1 + 2 + pathLength + 4 + 4 + ((claims.Claimed.Count + claims.Released.Count) * EndpointsSize)];
        var span = bytes.AsSpan();
        span[0] = FormatVersion;
        BinaryPrimitives.WriteUInt16LittleEndian(span[1..], checked((ushort)pathLength));
        System.Text.Encoding.UTF8.GetBytes(ownerPath, span.Slice(3, pathLength));
        span = span[(3 + pathLength)..];
        BinaryPrimitives.WriteInt32LittleEndian(span, claims.Claimed.Count);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], claims.Released.Count);
        span = span[8..];
        foreach (var endpoints in claims.Claimed.Concat(claims.Released))
        {
            endpoints.Write(span);
            span = span[EndpointsSize..];
        }

        return bytes;
    }

    /// <summary>Decodes route claims, resolving the owner's path with <paramref name="resolve"/>.</summary>
    public static RouteClaims DecodeClaims(ReadOnlySpan<byte> bytes, Func<string, IActorRef> resolve)
    {
        ArgumentNullException.ThrowIfNull(resolve);
        if (bytes.Length < 3 || bytes[0] != FormatVersion)
        {
            throw new SerializationException(bytes.Length < 3
                ? $"Route claims of {bytes.Length} bytes are shorter than their header"
                : $"Route claims have wire format version {bytes[0]}; this node speaks version {FormatVersion}");
        }

        var pathLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes[1..]);
        if (pathLength > MaxActorPathBytes || bytes.Length < 3 + pathLength + 8)
        {
            throw new SerializationException($"Route claims carry an owner path of {pathLength} bytes in {bytes.Length} bytes");
        }

        var path = System.Text.Encoding.UTF8.GetString(bytes.Slice(3, pathLength));
        var rest = bytes[(3 + pathLength)..];
        var claimed = BinaryPrimitives.ReadInt32LittleEndian(rest);
        var released = BinaryPrimitives.ReadInt32LittleEndian(rest[4..]);
        if (claimed < 0 || released < 0 || (long)claimed + released > RouteClaims.MaxEntries
            || rest.Length != 8 + (((long)claimed + released) * EndpointsSize))
        {
            throw new SerializationException($"Route claims announce {claimed}+{released} entries but carry {rest.Length - 8} bytes of them");
        }

        rest = rest[8..];
        var all = new SessionEndpoints[claimed + released];
        for (var i = 0; i < all.Length; i++)
        {
            all[i] = SessionEndpoints.Read(rest);
            rest = rest[EndpointsSize..];
        }

        return new RouteClaims(resolve(path), all[..claimed], all[claimed..]);
    }

    /// <summary>Encodes a reply channel offer: version, host, port, key, then the shards' serialized actor paths.</summary>
    public static byte[] EncodeOffer(ReplyChannelOffer offer, string[] shardPaths)
    {
        ArgumentNullException.ThrowIfNull(offer);
        ArgumentNullException.ThrowIfNull(shardPaths);
        using var stream = new MemoryStream();
        using var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8);
        writer.Write(FormatVersion);
        WriteShortText(writer, offer.Host);
        writer.Write((ushort)offer.Port);
        writer.Write([.. offer.Key]);
        writer.Write((ushort)shardPaths.Length);
        foreach (var path in shardPaths)
        {
            WriteShortText(writer, path);
        }

        writer.Flush();
        return stream.ToArray();
    }

    /// <summary>Decodes <see cref="EncodeOffer"/>, resolving the shards with <paramref name="resolve"/>; anything inconsistent is a <see cref="SerializationException"/>.</summary>
    public static ReplyChannelOffer DecodeOffer(ReadOnlySpan<byte> bytes, Func<string, IActorRef> resolve)
    {
        ArgumentNullException.ThrowIfNull(resolve);
        var reader = new StatisticsReader(bytes);
        if (reader.Remaining < 1 || reader.ReadByte() != FormatVersion)
        {
            throw new SerializationException($"Reply channel offer of {bytes.Length} bytes is not wire format version {FormatVersion}");
        }

        var host = ReadShortText(ref reader, "host");
        var port = reader.ReadUInt16();
        var key = reader.ReadBytes(ReplyChannelProtocol.KeySize);
        var count = reader.ReadUInt16();
        if (port == 0 || count is 0 or > ReplyChannelOffer.MaxShards || host.Length == 0)
        {
            throw new SerializationException($"Reply channel offer names port {port}, {count} shards and host '{host}'");
        }

        var shards = new IActorRef[count];
        for (var i = 0; i < count; i++)
        {
            shards[i] = resolve(ReadShortText(ref reader, "shard path"));
        }

        if (reader.Remaining != 0)
        {
            throw new SerializationException($"Reply channel offer has {reader.Remaining} bytes after its last shard");
        }

        return new ReplyChannelOffer(host, port, key, shards);
    }

    private static void WriteShortText(BinaryWriter writer, string text)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        writer.Write(checked((ushort)bytes.Length));
        writer.Write(bytes);
    }

    private static string ReadShortText(ref StatisticsReader reader, string what)
    {
        var length = reader.ReadUInt16();
        if (length > MaxActorPathBytes)
        {
            throw new SerializationException($"Reply channel offer carries a {what} of {length} bytes");
        }

        return System.Text.Encoding.UTF8.GetString(reader.ReadBytes(length));
    }

    /// <summary>Version, role, timestamp, then (name, value) pairs; names are length-prefixed UTF-8.</summary>
    public static byte[] EncodeStatistics(Statistics.NodeStatisticsReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        using var stream = new MemoryStream();
        using var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8);
        writer.Write(FormatVersion);
        writer.Write(report.Role);
        writer.Write(report.TimestampMs);
        writer.Write(report.Counters.Count);
        foreach (var (name, value) in report.Counters)
        {
            writer.Write(name);
            writer.Write(value);
        }

        writer.Flush();
        return stream.ToArray();
    }

    /// <summary>Decodes <see cref="EncodeStatistics"/>; anything inconsistent is a <see cref="SerializationException"/>.</summary>
    /// <remarks>
    /// Read with explicit bounds checks rather than a <see cref="BinaryReader"/>, which throws FormatException and
    /// IOException of its own for a bad length prefix, and the dictionary is sized by the counters the bytes can hold
    /// (each at least 9 bytes), not by the count they claim: bench/fuzz.sh found both (a FormatException escaping, and
    /// 138 KB allocated for an 80-byte report claiming 4096 counters).
    /// </remarks>
    public static Statistics.NodeStatisticsReport DecodeStatistics(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        var reader = new StatisticsReader(bytes);
        if (reader.ReadByte() is var version && version != FormatVersion)
        {
            throw new SerializationException($"Statistics report has wire format version {version}; this node speaks version {FormatVersion}");
        }

        var role = reader.ReadString();
        var timestamp = reader.ReadInt64();
        var count = reader.ReadInt32();
        if (count is < 0 or > MaxCounters)
        {
            throw new SerializationException($"Statistics report claims {count} counters");
        }

        var counters = new Dictionary<string, long>(Math.Min(count, reader.Remaining / (1 + sizeof(long))));
        for (var i = 0; i < count; i++)
        {
            counters[reader.ReadString()] = reader.ReadInt64();
        }

        return new Statistics.NodeStatisticsReport(role, timestamp, counters);
    }

    /// <summary>Reads what <see cref="BinaryWriter"/> wrote, refusing with <see cref="SerializationException"/> whatever does not fit.</summary>
    private ref struct StatisticsReader(ReadOnlySpan<byte> bytes)
    {
        // BinaryWriter's 7-bit length prefix of a string: at most 5 bytes for an int.
        private const int MaxPrefixBytes = 5;

        private readonly ReadOnlySpan<byte> _bytes = bytes;
        private int _position;

        public readonly int Remaining => _bytes.Length - _position;

        public byte ReadByte() => Take(1)[0];

        public int ReadInt32() => BinaryPrimitives.ReadInt32LittleEndian(Take(sizeof(int)));

        public long ReadInt64() => BinaryPrimitives.ReadInt64LittleEndian(Take(sizeof(long)));

        public ushort ReadUInt16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(sizeof(ushort)));

        public byte[] ReadBytes(int count) => Take(count).ToArray();

        public string ReadString()
        {
            var length = 0;
            for (var shift = 0; ; shift += 7)
            {
                if (shift == MaxPrefixBytes * 7)
                {
                    throw new SerializationException($"Statistics report has a string length prefix longer than {MaxPrefixBytes} bytes");
                }

                var part = ReadByte();
                length |= (part & 0x7F) << shift;
                if ((part & 0x80) == 0)
                {
                    break;
                }
            }

            if (length < 0 || length > Remaining)
            {
                throw new SerializationException($"Statistics report has a string of {length} bytes with {Remaining} left");
            }

            return System.Text.Encoding.UTF8.GetString(Take(length));
        }

        private ReadOnlySpan<byte> Take(int count)
        {
            if (count > Remaining)
            {
                throw new SerializationException($"Message of {_bytes.Length} bytes is truncated at byte {_position}");
            }

            var taken = _bytes.Slice(_position, count);
            _position += count;
            return taken;
        }
    }

    /// <summary>Version byte, plan version, rate share (NaN for none), then the plan as JSON: a new plan field needs no new layout.</summary>
    public static byte[] EncodePlan(long version, Plans.ReplayPlan plan, double? rateCapShare)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var json = System.Text.Encoding.UTF8.GetBytes(Plans.ReplayPlanJson.Serialize(plan));
        var bytes = new byte[PlanHeaderSize + json.Length];
        bytes[0] = FormatVersion;
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(1), version);
        BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(9), rateCapShare ?? double.NaN);
        json.CopyTo(bytes.AsSpan(PlanHeaderSize));
        return bytes;
    }

    /// <summary>Decodes <see cref="EncodePlan"/>.</summary>
    public static (long Version, Plans.ReplayPlan Plan, double? RateCapShare) DecodePlan(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < PlanHeaderSize || bytes[0] != FormatVersion)
        {
            throw new SerializationException(bytes.Length < PlanHeaderSize
                ? $"Replay plan of {bytes.Length} bytes is shorter than its {PlanHeaderSize}-byte header"
                : $"Replay plan has wire format version {bytes[0]}; this node speaks version {FormatVersion}");
        }

        var share = BinaryPrimitives.ReadDoubleLittleEndian(bytes[9..]);
        var plan = Plans.ReplayPlanJson.Deserialize(System.Text.Encoding.UTF8.GetString(bytes[PlanHeaderSize..]), out var error)
            ?? throw new SerializationException($"Replay plan does not read: {error}");
        return (BinaryPrimitives.ReadInt64LittleEndian(bytes[1..]), plan, double.IsNaN(share) ? null : share);
    }

    private static Plans.SubscribeReplayPlan DecodeSubscription(byte[] bytes)
    {
        var (version, plan, _) = DecodePlan(bytes);
        return new Plans.SubscribeReplayPlan(version, version == 0 ? null : plan);
    }

    private static Plans.ReplayPlanAssigned DecodeAssignment(byte[] bytes)
    {
        var (version, plan, share) = DecodePlan(bytes);
        return new Plans.ReplayPlanAssigned(version, plan, share);
    }

    /// <summary>Version byte, then UTF-8 text; a lone version byte means null.</summary>
    public static byte[] EncodeText(string? text)
    {
        if (text is null)
        {
            return [FormatVersion];
        }

        var bytes = new byte[1 + 1 + System.Text.Encoding.UTF8.GetByteCount(text)];
        bytes[0] = FormatVersion;
        bytes[1] = 1;
        System.Text.Encoding.UTF8.GetBytes(text, bytes.AsSpan(2));
        return bytes;
    }

    /// <summary>Decodes <see cref="EncodeText"/>.</summary>
    public static string? DecodeText(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 0 || bytes[0] != FormatVersion)
        {
            throw new SerializationException(bytes.Length == 0
                ? "Empty control message"
                : $"Control message has wire format version {bytes[0]}; this node speaks version {FormatVersion}");
        }

        return bytes.Length == 1 ? null : System.Text.Encoding.UTF8.GetString(bytes[2..]);
    }

    /// <summary>Writes one record's <see cref="ResponseRecord.EncodedSize"/> bytes (also the reply channel's record layout).</summary>
    public static void Write(Span<byte> d, in ResponseRecord r)
    {
        r.ClientAddress.Write(d);
        BinaryPrimitives.WriteUInt16LittleEndian(d[16..], r.ClientPort);
        r.TargetAddress.Write(d[18..]);
        BinaryPrimitives.WriteUInt16LittleEndian(d[34..], r.TargetPort);
        var t = d[36..];
        BinaryPrimitives.WriteUInt32LittleEndian(t, r.Sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(t[4..], r.Acknowledgment);
        BinaryPrimitives.WriteUInt16LittleEndian(t[8..], r.Window);
        t[10] = r.Flags;
        BinaryPrimitives.WriteUInt16LittleEndian(t[11..], r.PayloadLength);
        BinaryPrimitives.WriteUInt16LittleEndian(t[13..], r.Mss);
        t[15] = r.WindowScale;
        t[16] = (byte)((r.HasTimestamp ? 1 : 0) | (r.SackPermitted ? 2 : 0));
        BinaryPrimitives.WriteUInt32LittleEndian(t[17..], r.TsVal);
        BinaryPrimitives.WriteUInt32LittleEndian(t[21..], r.TsEcr);
        BinaryPrimitives.WriteInt64LittleEndian(t[25..], r.CapturedAtNanos);
    }

    /// <summary>Reads one record written by <see cref="Write"/>; the caller checked the length.</summary>
    public static ResponseRecord Read(ReadOnlySpan<byte> s)
    {
        var t = s[36..];
        return new()
        {
            ClientAddress = NetAddress.Read(s),
            ClientPort = BinaryPrimitives.ReadUInt16LittleEndian(s[16..]),
            TargetAddress = NetAddress.Read(s[18..]),
            TargetPort = BinaryPrimitives.ReadUInt16LittleEndian(s[34..]),
            Sequence = BinaryPrimitives.ReadUInt32LittleEndian(t),
            Acknowledgment = BinaryPrimitives.ReadUInt32LittleEndian(t[4..]),
            Window = BinaryPrimitives.ReadUInt16LittleEndian(t[8..]),
            Flags = t[10],
            PayloadLength = BinaryPrimitives.ReadUInt16LittleEndian(t[11..]),
            Mss = BinaryPrimitives.ReadUInt16LittleEndian(t[13..]),
            WindowScale = t[15],
            HasTimestamp = (t[16] & 1) != 0,
            SackPermitted = (t[16] & 2) != 0,
            TsVal = BinaryPrimitives.ReadUInt32LittleEndian(t[17..]),
            TsEcr = BinaryPrimitives.ReadUInt32LittleEndian(t[21..]),
            CapturedAtNanos = BinaryPrimitives.ReadInt64LittleEndian(t[25..]),
        };
    }
}
