using System.Buffers.Binary;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Dispatch.SysMsg;
using ReplayCluster.Benchmarks.Fuzz;
using ReplayCluster.Membership;
using ReplayCluster.PacketIO;
using ReplayCluster.Plans;
using ReplayCluster.Protocol;
using ReplayCluster.Tests.PacketIO;

namespace ReplayCluster.Tests.Fuzz;

/// <summary>
/// The defects bench/fuzz.sh found, each with the input (or the shape of it) that found it: every one is now a
/// documented refusal, quick and small.
/// </summary>
public sealed class FuzzFindingsSpecs(NodeSystemFixture node) : IClassFixture<NodeSystemFixture>
{
    private const int AkkaMisc = 16;
    private const int AkkaSystemMessage = 22;

    private ActorSystem Sys => node.System;

    [Fact]
    public async Task A_config_from_a_peer_is_refused_unread_where_it_hung_akkas_hocon_parser()
    {
        // The 9 bytes the fuzz run found under manifest "CF": Akka's HOCON parser did not return (> 10 s).
        var bytes = Convert.FromHexString("202086203A5BFA240A");
        var decode = Task.Run(() => Assert.Throws<SerializationException>(() => Sys.Serialization.Deserialize(bytes, AkkaMisc, "CF")), TestContext.Current.CancellationToken);
        var error = await decode.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        Assert.Contains("'CF'", error.Message, StringComparison.Ordinal);

        // Every remote-deployment kind (and IntentionalRestart, a restart command) is refused so, even in Akka's own encoding.
        var misc = Sys.Serialization.FindSerializerFor(Kill.Instance);
        foreach (var deploymentOnly in new object[] { LocalScope.Instance, Akka.Routing.FromConfig.Instance, new Akka.Routing.RoundRobinPool(3), IntentionalRestart.Instance })
        {
            var manifest = Akka.Serialization.Serialization.ManifestFor(misc, deploymentOnly);
            Assert.Throws<SerializationException>(() => Sys.Serialization.Deserialize(misc.ToBinary(deploymentOnly), AkkaMisc, manifest));
        }

        // What running actors exchange still reads.
        var identify = Assert.IsType<Identify>(Sys.Serialization.Deserialize(misc.ToBinary(new Identify("x")), AkkaMisc, "ID"));
        Assert.Equal("x", identify.MessageId);
    }

    [Fact]
    public void Bytes_akkas_misc_serializer_cannot_read_are_a_serialization_exception_not_protobufs()
    {
        var error = Assert.Throws<SerializationException>(() => Sys.Serialization.Deserialize([0x0A, 0xFF, 0xFF], AkkaMisc, "ID"));
        Assert.Equal("InvalidProtocolBufferException", error.InnerException?.GetType().Name);
    }

    [Fact]
    public void An_actor_ref_that_decodes_to_nothing_is_refused()
    {
        // An empty path: Akka's misc serializer returned null, which the remote dispatcher would then Tell (and fail
        // the association with an InvalidMessageException instead of dropping one message).
        Assert.Null(new Akka.Remote.Serialization.MiscMessageSerializer((ExtendedActorSystem)Sys).FromBinary([], "AR"));
        Assert.Throws<SerializationException>(() => Sys.Serialization.Deserialize([], AkkaMisc, "AR"));
    }

    [Fact]
    public void A_refused_system_message_is_not_decoded_and_death_watch_garbage_is_refused()
    {
        // Garbage that names an exception type no assembly has: decoding a Recreate resolved (and tried to load) it.
        var garbage = "\n9\n7System.InvalidOperationException, No.Such.Assembly.Anywhere"u8.ToArray();
        var refused = Sys.Serialization.Deserialize(garbage, AkkaSystemMessage, "Akka.Dispatch.SysMsg.Recreate, Akka");
        Assert.Equal(new RefusedPeerCommand(nameof(Recreate)), refused);

        var error = Assert.Throws<SerializationException>(() => Sys.Serialization.Deserialize([0x0A, 0xFF, 0xFF], AkkaSystemMessage, "Akka.Dispatch.SysMsg.Watch, Akka"));
        Assert.NotNull(error.InnerException);
    }

    [Fact]
    public void Route_claims_whose_owner_path_akka_cannot_parse_are_a_serialization_exception()
    {
        var claims = new RouteClaims(Sys.DeadLetters, [new SessionEndpoints(1, 2, 3, 4)], []);
        var bytes = ReplayMessageSerializer.EncodeClaims(claims, "akka.tcp://fuzz@127.0.0.1:4053/user/owner#15\0\0\020264");
        var error = Assert.Throws<SerializationException>(() => Sys.Serialization.Deserialize(bytes, ReplayMessageSerializer.SerializerId, "RC"));
        Assert.IsType<FormatException>(error.InnerException);
    }

    [Fact]
    public void A_statistics_report_with_a_bad_length_prefix_is_a_serialization_exception()
    {
        // Version, then a 7-bit length prefix that never ends: BinaryReader threw FormatException.
        Assert.Throws<SerializationException>(() => ReplayMessageSerializer.DecodeStatistics(Convert.FromHexString("01FFFFFFFA747572650068E5CF8B0100000300000008")));

        // A prefix of a length past the end.
        Assert.Throws<SerializationException>(() => ReplayMessageSerializer.DecodeStatistics([1, 0x7F, (byte)'a']));
    }

    [Fact]
    public void A_statistics_report_claiming_4096_counters_in_a_few_bytes_allocates_by_its_bytes()
    {
        var bytes = new byte[1 + 1 + 8 + 4 + 9];
        bytes[0] = ReplayMessageSerializer.FormatVersion;
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(10), 4096);
        bytes[14] = 0; // one empty name and its value, then the bytes end
        _ = ReplayMessageSerializer.DecodeStatistics(EncodeReport(1)); // warm-up (JIT, encodings)

        var before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Throws<SerializationException>(() => ReplayMessageSerializer.DecodeStatistics(bytes));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 16 * 1024, $"{allocated} bytes allocated (a dictionary of 4096 was ~138 KB)");

        var report = ReplayMessageSerializer.DecodeStatistics(EncodeReport(3));
        Assert.Equal(3, report.Counters.Count);
        Assert.Equal(2, report.Counters["c2"]);
    }

    [Fact]
    public void A_plan_with_a_duplicate_field_is_refused_as_not_json()
    {
        Assert.Null(ReplayPlanJson.Deserialize("{\"copies\":2,\"copies\":3}", out var error));
        Assert.NotNull(error);

        var bytes = ReplayMessageSerializer.EncodePlan(4, new ReplayPlan { Copies = 2, SamplePercent = 50 }, null);
        var json = System.Text.Encoding.UTF8.GetString(bytes.AsSpan(17));
        var duplicated = System.Text.Encoding.UTF8.GetBytes(json.Replace("\"copies\":2", "\"copies\":2,\"samplePercent\":1", StringComparison.Ordinal));
        Assert.Throws<SerializationException>(() => ReplayMessageSerializer.DecodePlan([.. bytes.AsSpan(0, 17), .. duplicated]));
    }

    [Fact]
    public void A_capture_file_whose_length_fields_claim_64_MiB_is_refused_as_truncated_without_allocating_it()
    {
        using var directory = new TempDirectory();

        // Classic pcap: snaplen 0xFFFFFFFF raises the record limit to 64 MiB; one record claims 60 MiB in an 80-byte file.
        var classic = new byte[24 + 16 + 40];
        BinaryPrimitives.WriteUInt32LittleEndian(classic, 0xa1b2c3d4);
        BinaryPrimitives.WriteUInt16LittleEndian(classic.AsSpan(4), 2);
        BinaryPrimitives.WriteUInt16LittleEndian(classic.AsSpan(6), 4);
        BinaryPrimitives.WriteUInt32LittleEndian(classic.AsSpan(16), uint.MaxValue);
        BinaryPrimitives.WriteUInt32LittleEndian(classic.AsSpan(20), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(classic.AsSpan(32), 60 << 20);
        BinaryPrimitives.WriteUInt32LittleEndian(classic.AsSpan(36), 60 << 20);
        AssertRefusedSmall(directory.File("classic.pcap"), classic, "truncated record");

        // pcapng: a valid section header, then a block claiming 60 MiB.
        var pcapng = new byte[28 + 12];
        BinaryPrimitives.WriteUInt32LittleEndian(pcapng, 0x0A0D0D0A);
        BinaryPrimitives.WriteUInt32LittleEndian(pcapng.AsSpan(4), 28);
        BinaryPrimitives.WriteUInt32LittleEndian(pcapng.AsSpan(8), 0x1A2B3C4D);
        BinaryPrimitives.WriteUInt16LittleEndian(pcapng.AsSpan(12), 1);
        BinaryPrimitives.WriteInt64LittleEndian(pcapng.AsSpan(16), -1);
        BinaryPrimitives.WriteUInt32LittleEndian(pcapng.AsSpan(24), 28);
        BinaryPrimitives.WriteUInt32LittleEndian(pcapng.AsSpan(28), 6);
        BinaryPrimitives.WriteUInt32LittleEndian(pcapng.AsSpan(32), 60 << 20);
        AssertRefusedSmall(directory.File("block.pcapng"), pcapng, "truncated block");
    }

    private static void AssertRefusedSmall(string path, byte[] file, string expected)
    {
        File.WriteAllBytes(path, file);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<PcapFormatException>(() =>
        {
            using var reader = PcapFileReader.Open(path);
            while (reader.ReadNext(out _))
            {
            }
        });
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);

        // The reader's own 1 MiB buffer (pooled) at most, not the 64 MiB the length field asked for.
        Assert.True(allocated < 4 << 20, $"{allocated} bytes allocated");
    }

    private static byte[] EncodeReport(int counters) => ReplayMessageSerializer.EncodeStatistics(
        new ReplayCluster.Statistics.NodeStatisticsReport("capture", 1, Enumerable.Range(0, counters).ToDictionary(i => $"c{i}", i => (long)i)));
}

/// <summary>One actor system with a node's configuration (as bench/fuzz.sh makes it) for all the specs of a class.</summary>
public sealed class NodeSystemFixture : IDisposable
{
    public ActorSystem System { get; } = WireFuzzer.CreateNodeSystem();

    public void Dispose() => System.Terminate().Wait(TimeSpan.FromSeconds(10));
}
