using System.Diagnostics;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Dispatch.SysMsg;
using Akka.Serialization;
using ReplayCluster.Cluster;
using ReplayCluster.Configuration;
using ReplayCluster.Membership;
using ReplayCluster.Plans;
using ReplayCluster.Protocol;
using ReplayCluster.Statistics;

namespace ReplayCluster.Benchmarks.Fuzz;

/// <summary>A valid serialized message: the serializer id and manifest it travels with, and its bytes.</summary>
internal sealed record WireSeed(string Name, int SerializerId, string Manifest, byte[] Bytes);

/// <summary>
/// Mutated inbound cluster payloads through every serializer a peer can make this node run on them, looked up and
/// called the way Akka.Remote does for an inbound message: <c>Serialization.Deserialize(bytes, serializerId,
/// manifest)</c> on an actor system with the node's own configuration (hocon/common.hocon: our
/// <see cref="ReplayMessageSerializer"/> for every manifest, <see cref="UnboundMessageSerializer"/> under Newtonsoft's
/// alias, and Akka's misc and system-message serializers wrapped by <see cref="PeerCommandGuard"/> and
/// <see cref="SystemMessageGuard"/>). Seeds are valid messages of each kind; mutations are the byte mutations of
/// <see cref="Mutator"/> and, one in eight, a mutated manifest.
/// </summary>
/// <remarks>
/// A refusal is what Akka.Remote's EndpointReader drops an inbound message for and keeps the association:
/// <see cref="SerializationException"/> (what our decoders throw, and the guards for whatever Akka's serializers
/// let through), and for Akka's serializers also <see cref="ArgumentException"/> (their "unknown manifest").
/// Anything else is a crash, as is a message decoded to null (the dispatcher would fail the association on it) or an
/// allocation over a fixed budget plus 16 bytes per input byte (decoding builds objects and UTF-16 strings from the
/// bytes, so a few times the input is normal; a length field that makes a decoder allocate by what it claims rather
/// than what it carries is not). The fixed budget is 16 KiB for our
/// binary formats; 64 KiB for a replay plan, JSON read into a JsonNode tree, whose refusal (a field of the wrong type)
/// builds its error from exceptions and the list of plan fields (26 KB for a 265-byte plan); and 256 KiB for Akka's
/// serializers and for route claims (whose owner path Akka's provider resolves), as Akka's lookups of the names in a
/// message (actor paths, exception and router types) cost up to ~150 KB when a name does not resolve.
/// </remarks>
internal sealed class WireFuzzer
{
    public const string TargetName = "cluster frames";

    /// <summary>Fixed part of one input's allocation budget for our serializers (see the class remarks).</summary>
    public const int OwnFixedAllocationBudget = 16 * 1024;

    /// <summary>Fixed part of one input's allocation budget for a replay plan (JSON; see the class remarks).</summary>
    public const int PlanFixedAllocationBudget = 64 * 1024;

    /// <summary>Fixed part of one input's allocation budget for Akka's serializers (see the class remarks).</summary>
    public const int AkkaFixedAllocationBudget = 256 * 1024;

    public const int AllocationPerInputByte = 16;

    private static readonly string[] ExtraManifests =
    [
        string.Empty, "System.String", "System.IO.FileInfo, System.IO.FileSystem", "Akka.Actor.Kill, Akka",
        "Akka.Dispatch.SysMsg.Terminate, Akka", "System.Object", "RB\0", "rb", "ZZ", "\u00e9", new string('A', 300),
    ];

    private readonly ActorSystem _system;
    private readonly Mutator _mutator;
    private readonly IReadOnlyList<WireSeed> _seeds;
    private readonly string[] _manifests;
    private readonly byte[] _buffer;
    private readonly SortedDictionary<string, (long Bytes, int InputLength)> _maxAllocated = new(StringComparer.Ordinal);

    public WireFuzzer(ActorSystem system, int seed)
    {
        ArgumentNullException.ThrowIfNull(system);
        _system = system;
        _mutator = new Mutator(seed);
        _seeds = WireCorpus.Build(system);
        _manifests = [.. _seeds.Select(s => s.Manifest).Distinct().Concat(ExtraManifests)];
        _buffer = new byte[_seeds.Max(s => s.Bytes.Length) + Mutator.MaxGrowth];
    }

    public IReadOnlyList<WireSeed> Seeds => _seeds;

    /// <summary>Most bytes one input allocated, and its length, by serializer.</summary>
    public IReadOnlyDictionary<string, (long Bytes, int InputLength)> MaxAllocated => _maxAllocated;

    /// <summary>
    /// An actor system configured as a node is (hocon/ files of <paramref name="role"/>), on a loopback port of the
    /// system's choosing and without TLS (no certificates needed to decode bytes). It joins no cluster. The coordinator by
    /// default: it needs no seed, and every role binds the same serializers (hocon/common.hocon).
    /// </summary>
    public static ActorSystem CreateNodeSystem(string role = NodeRoles.Coordinator)
    {
        var configuration = NodeConfigLoader.Load(role, new NodeConfigOverrides
        {
            Port = "0",
            Hostname = "127.0.0.1",
            Sets = ["replaycluster.cluster.tls = off", "akka.loglevel = ERROR"],
        });
        return ActorSystem.Create("fuzz", configuration.Config);
    }

    public FuzzTally Run(long count, FuzzWatchdog? watchdog = null)
    {
        var tally = new FuzzTally(TargetName);
        var random = _mutator.Random;
        tally.Start();
        for (long i = 0; i < count; i++)
        {
#pragma warning disable CA5394 // reproducible fuzz input, nothing secret
            var seed = _seeds[random.Next(_seeds.Count)];
            var manifest = random.Next(8) == 0 ? MutateManifest(seed.Manifest) : seed.Manifest;
            var length = random.Next(16) == 0 && manifest != seed.Manifest
                ? Copy(seed.Bytes)
                : _mutator.Mutate(seed.Bytes, _buffer, LengthFields(seed));
#pragma warning restore CA5394
            var bytes = _buffer.AsSpan(0, length).ToArray();
            var serializer = SerializerName(seed.SerializerId);
            var start = Stopwatch.GetTimestamp();
            watchdog?.Begin(TargetName, _buffer, length, start);
            watchdog?.Describe(() => $"{serializer} manifest '{Printable(manifest)}', seed {seed.Name}");
            var before = GC.GetAllocatedBytesForCurrentThread();
            string? accepted = null;
            string? refusal = null;
            string? failure = null;
            try
            {
                var message = _system.Serialization.Deserialize(bytes, seed.SerializerId, manifest);
                if (message is null)
                {
                    // The remote dispatcher would Tell it, and fail the association on Akka's "message is null".
                    failure = $"{serializer} manifest '{Printable(manifest)}' (seed {seed.Name}): decoded to null";
                }

                accepted = message is RefusedPeerCommand refused ? $"{serializer}: RefusedPeerCommand({refused.Command})" : $"{serializer}: {message?.GetType().Name}";
            }
#pragma warning disable CA1031 // any exception that is not a refusal is the finding
            catch (Exception ex)
#pragma warning restore CA1031
            {
                if (IsRefusal(seed.SerializerId, ex))
                {
                    refusal = ex.InnerException is { } inner ? $"{serializer}: {ex.GetType().Name}({inner.GetType().Name})" : $"{serializer}: {ex.GetType().Name}";
                }
                else
                {
                    failure = $"{serializer} manifest '{Printable(manifest)}' (seed {seed.Name}): {ex.GetType().FullName}: {ex.Message}";
                }
            }

            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            start = tally.RetimeIfSlow(start, (System: _system, Bytes: bytes, seed.SerializerId, Manifest: manifest), static s =>
                s.System.Serialization.Deserialize(s.Bytes, s.SerializerId, s.Manifest));

            watchdog?.End();
            // Route claims resolve their owner's path with Akka's provider: Akka's budget. Plans are JSON.
            var fixedBudget = seed.SerializerId is WireCorpus.AkkaMiscId or WireCorpus.AkkaSystemMessageId || manifest == "RC"
                ? AkkaFixedAllocationBudget
                : manifest is "PS" or "PA" ? PlanFixedAllocationBudget : OwnFixedAllocationBudget;
            failure ??= tally.Measure(start, allocated, length, fixedBudget + ((long)AllocationPerInputByte * length));
            _maxAllocated.TryGetValue(serializer, out var most);
            if (allocated > most.Bytes)
            {
                _maxAllocated[serializer] = (allocated, length);
            }

            if (failure is not null)
            {
                tally.Crash(Printable(failure.Contains("manifest", StringComparison.Ordinal) ? failure : $"{serializer} manifest '{manifest}' (seed {seed.Name}): {failure}", 400), bytes);
            }
            else if (refusal is not null)
            {
                tally.Reject(refusal);
            }
            else
            {
                tally.Accept(accepted!);
            }
        }

        tally.Stop();
        return tally;
    }

    /// <summary>The exceptions a serializer documents for bytes it does not accept.</summary>
    public static bool IsRefusal(int serializerId, Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        if (exception is SerializationException)
        {
            return true;
        }

        // Akka's own: Akka.Remote's EndpointReader drops a message whose deserialization throws an ArgumentException
        // (Akka's "unknown manifest"), as it does for a SerializationException; anything else fails the association.
        return serializerId is WireCorpus.AkkaMiscId or WireCorpus.AkkaSystemMessageId && exception is ArgumentException;
    }

    private static string SerializerName(int id) => id switch
    {
        ReplayMessageSerializer.SerializerId => "replay",
        UnboundMessageSerializer.SerializerId => "json(unbound)",
        WireCorpus.AkkaMiscId => "akka-misc(guard)",
        WireCorpus.AkkaSystemMessageId => "akka-system-msg(guard)",
        _ => id.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private static string Printable(string text, int length = 60) =>
        new([.. text.Take(length).Select(c => char.IsControl(c) || char.IsSurrogate(c) ? '?' : c)]);

    private int Copy(byte[] bytes)
    {
        bytes.CopyTo(_buffer, 0);
        return bytes.Length;
    }

    /// <summary>Our formats' length and count fields (little-endian) by manifest; Akka's protobuf has varints only.</summary>
    private static FuzzField[] LengthFields(WireSeed seed) => seed.SerializerId != ReplayMessageSerializer.SerializerId ? [] : seed.Manifest switch
    {
        "RB" => [new(0, 1, false), new(1, 4, false)],
        "RC" => [new(0, 1, false), new(1, 2, false), .. ClaimCounts(seed.Bytes)],
        "NS" => [new(0, 1, false), new(1, 1, false), new(seed.Bytes.Length > 1 ? 2 + seed.Bytes[1] + 8 : 0, 4, false)],
        _ => [new(0, 1, false), new(1, 1, false)],
    };

    private static FuzzField[] ClaimCounts(byte[] bytes)
    {
        var path = bytes.Length >= 3 ? bytes[1] | (bytes[2] << 8) : 0;
        return [new(3 + path, 4, false), new(7 + path, 4, false)];
    }

#pragma warning disable CA5394 // reproducible fuzz input, nothing secret
    private string MutateManifest(string manifest)
    {
        var random = _mutator.Random;
        switch (random.Next(6))
        {
            case 0:
                return _manifests[random.Next(_manifests.Length)];
            case 1 when manifest.Length > 0:
                return manifest[..random.Next(manifest.Length)];
            case 2:
                return manifest + (char)random.Next(0x20, 0x7F);
            case 3 when manifest.Length > 0:
                var chars = manifest.ToCharArray();
                chars[random.Next(chars.Length)] ^= (char)(1 << random.Next(7));
                return new string(chars);
            case 4:
                var text = new char[random.Next(1, 40)];
                for (var i = 0; i < text.Length; i++)
                {
                    text[i] = (char)random.Next(0x20, 0x7F);
                }

                return new string(text);
            default:
                return ExtraManifests[random.Next(ExtraManifests.Length)];
        }
    }
#pragma warning restore CA5394
}

/// <summary>Valid messages of every kind the fuzzed serializers read, serialized as the node sends them.</summary>
internal static class WireCorpus
{
    /// <summary>Akka's <c>akka-misc</c> serializer id (PeerCommandGuard keeps it).</summary>
    public const int AkkaMiscId = 16;

    /// <summary>Akka's <c>akka-system-msg</c> serializer id (SystemMessageGuard keeps it).</summary>
    public const int AkkaSystemMessageId = 22;

    public static IReadOnlyList<WireSeed> Build(ActorSystem system)
    {
        ArgumentNullException.ThrowIfNull(system);
        var extended = (ExtendedActorSystem)system;
        var root = extended.Provider.RootGuardian;
        var guardian = extended.Provider.Guardian;
        var owner = system.ActorOf(Props.Empty, "route-claims-owner");
        var plan = new ReplayPlan
        {
            Targets = ["80-10.2.0.3:8080", "10.1.0.2:443-10.2.0.3:8443"],
            FakeClientRange = "10.200.0.0/16",
            SlicePrefix = 24,
            Copies = 2,
            SamplePercent = 50,
            RateCap = 1000,
            IdleTimeout = TimeSpan.FromSeconds(30),
            ResponseWaitLimit = TimeSpan.FromMilliseconds(500),
        };
        var records = Enumerable.Range(0, 3).Select(i => new ResponseRecord
        {
            ClientAddress = 0x0A01_0002, ClientPort = (ushort)(40_000 + i), TargetAddress = 0x0A02_0003, TargetPort = 8080,
            Sequence = 5000u + (uint)i, Acknowledgment = 1001, Window = 502, Flags = 0x18, PayloadLength = 100, Mss = 1460,
            WindowScale = 7, HasTimestamp = true, SackPermitted = true, TsVal = 7, TsEcr = 8, CapturedAtNanos = 1_700_000_000_000_000_000,
        }).ToArray();
        var endpoints = new SessionEndpoints(0x0A01_0002, 40_000, 0x0A02_0003, 8080);
        var failure = new InvalidOperationException("fuzz seed");
        object[] messages =
        [
            // Ours (ReplayMessageSerializer), every manifest.
            new ResponseBatch([]),
            new ResponseBatch(records),
            new RouteClaims(owner, [endpoints, endpoints with { ClientPort = 40_001 }], [endpoints with { ClientPort = 40_002 }]),
            new RequestIdentitySlice(null),
            new RequestIdentitySlice("10.200.1.0/24"),
            new IdentitySliceGranted("10.200.1.0/24"),
            new IdentitySliceRefused("no free slice"),
            new NodeStatisticsReport("capture", 1_700_000_000_000, new Dictionary<string, long> { ["captured"] = 12, ["sessions"] = 3, ["messages_refused"] = 0 }),
            new SubscribeReplayPlan(0, null),
            new SubscribeReplayPlan(3, plan),
            new ReplayPlanAssigned(4, plan, 0.5),
            new ReplayPlanAssigned(5, ReplayPlan.Empty, null),
        ];

        var seeds = new List<WireSeed>();
        foreach (var message in messages)
        {
            var serializer = system.Serialization.FindSerializerFor(message);
            var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
            seeds.Add(new WireSeed($"{message.GetType().Name}#{seeds.Count}", serializer.Identifier, manifest, serializer.ToBinary(message)));
        }

        // Akka's misc messages (PeerCommandGuard) and system messages (SystemMessageGuard), written by the serializer
        // of their id: a peer can send any of them under that id, bound to a type on this node or not (scopes, routers).
        object[] misc =
        [
            new Identify("id-1"), new Identify(null), new ActorIdentity("id-1", owner), new ActorIdentity("id-2", null),
            Kill.Instance, PoisonPill.Instance, owner, new Status.Success("ok"),
            new Status.Failure(failure), new RemoteScope(extended.Provider.DefaultAddress), LocalScope.Instance,
            Akka.Routing.FromConfig.Instance, new Akka.Routing.RoundRobinPool(5), new Akka.Routing.DefaultResizer(1, 10),
            Akka.Configuration.ConfigurationFactory.ParseString("a = 1"), Akka.Remote.RemoteWatcher.Heartbeat.Instance,
            new Akka.Remote.RemoteWatcher.HeartbeatRsp(42),
        ];
        object[] systemMessages =
        [
            // Death watch passes the guard; the rest arrives as RefusedPeerCommand.
            new Watch(root, guardian), new Unwatch(root, guardian),
            new DeathWatchNotification(guardian, existenceConfirmed: true, addressTerminated: false),
            new Terminate(), new Supervise(guardian, async: false), new Create(null), new Recreate(failure),
            new Suspend(), new Resume(failure), new Failed(guardian, failure, 42),
        ];
        foreach (var (id, group) in new[] { (AkkaMiscId, misc), (AkkaSystemMessageId, systemMessages) })
        {
            // The serializer registered under the id: found through a message type bound to it.
            var serializer = system.Serialization.FindSerializerFor(group[^1]);
            if (serializer.Identifier != id)
            {
                throw new InvalidOperationException($"{group[^1].GetType().Name} is bound to serializer {serializer.Identifier}, not {id}");
            }

            foreach (var message in group)
            {
                var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
                seeds.Add(new WireSeed($"{message.GetType().Name}#{seeds.Count}", id, manifest, serializer.ToBinary(message)));
            }
        }

        // What a peer would send to have a polymorphic JSON serializer build a type of its choice: refused by the stand-in.
        seeds.Add(new WireSeed("json-type-name", UnboundMessageSerializer.SerializerId, string.Empty,
            "{\"$type\":\"System.IO.FileInfo, System.IO.FileSystem\",\"fileName\":\"/etc/passwd\"}"u8.ToArray()));

        var unexpected = seeds.Where(s => s.SerializerId is not (ReplayMessageSerializer.SerializerId or UnboundMessageSerializer.SerializerId or AkkaMiscId or AkkaSystemMessageId)).ToList();
        return unexpected.Count == 0
            ? seeds
            : throw new InvalidOperationException($"seeds serialized by other serializers than the fuzzed ones: {string.Join(", ", unexpected.Select(s => $"{s.Name}={s.SerializerId}"))}");
    }
}
