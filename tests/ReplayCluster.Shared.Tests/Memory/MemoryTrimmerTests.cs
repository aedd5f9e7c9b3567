using System.Runtime.InteropServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using ReplayCluster.Cluster;
using ReplayCluster.Configuration;
using ReplayCluster.Memory;
using ReplayCluster.PacketIO;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Tests.Memory;

public sealed class MemoryTrimmerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_node_ready_after_a_second_trims_once_its_settle_later_says_so_and_stops_with_the_host()
    {
        var time = new FakeTimeProvider();
        using var logs = new CollectingLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));
        var ready = false;
        using var trimmer = new MemoryTrimmer(() => ready, TimeSpan.FromSeconds(30), time, factory.CreateLogger<MemoryTrimmer>());
        await trimmer.StartAsync(Ct);

        time.Advance(TimeSpan.FromSeconds(1));
        ready = true;
        time.Advance(MemoryTrimPolicy.ReadyPoll);
        time.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(0, trimmer.Trims);

        time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(1, trimmer.Trims);
        var line = Assert.Single(logs.Lines, l => l.Contains("given back", StringComparison.Ordinal));
        Assert.Matches(@"Memory the start left free given back: resident \d+ -> \d+ MB in [\d.]+ ms", line);

        await trimmer.StopAsync(Ct);
        time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(1, trimmer.Trims);
    }

    /// <summary>
    /// The mechanism itself, on this machine's glibc: 24 MB of malloc chunks freed between small chunks still in use
    /// stay resident (free() can neither merge them nor shrink the heap past a chunk in use), and malloc_trim(0)
    /// gives their pages back.
    /// </summary>
    [Fact]
    public void Malloc_trim_gives_back_freed_native_heap_that_free_kept_resident()
    {
        const int Chunk = 16 * 1024;  // below glibc's mmap threshold (from a heap, not a mapping of its own), above tcache's sizes
        const int Count = 24 * 1024 * 1024 / Chunk;
        var freed = new nint[Count];
        var kept = new nint[Count];
        long before = 0, after = 0;
        var thread = new Thread(() =>
        {
            // One thread, so that every chunk comes from its one arena in the order asked.
            for (var i = 0; i < Count; i++)
            {
                freed[i] = Marshal.AllocHGlobal(Chunk);
                kept[i] = Marshal.AllocHGlobal(64);
                unsafe
                {
                    new Span<byte>((void*)freed[i], Chunk).Fill(1);
                }
            }

            foreach (var chunk in freed)
            {
                Marshal.FreeHGlobal(chunk);
            }

            before = RssAnonKb();
            _ = LibC.malloc_trim(0);
            after = RssAnonKb();
            foreach (var chunk in kept)
            {
                Marshal.FreeHGlobal(chunk);
            }
        });
        thread.Start();
        thread.Join();

        Assert.True(before - after >= 12 * 1024, $"RssAnon {before} kB -> {after} kB: less than 12 MB of 24 MB freed given back");
    }

    private static long RssAnonKb() =>
        long.Parse(File.ReadLines("/proc/self/status").Single(l => l.StartsWith("RssAnon:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
}

public sealed class MemoryTrimSettingTests
{
    [Theory]
    [InlineData("30s", 1)]
    [InlineData("0s", 0)]
    public void The_node_has_a_trimmer_unless_the_setting_is_zero(string value, int trimmers)
    {
        var node = NodeConfigLoader.Load(NodeRoles.Coordinator, new NodeConfigOverrides
        {
            Port = "0",
            Sets = ["replaycluster.cluster.tls = off", $"replaycluster.node.trim-memory-after = {value}"],
        });

        var services = new ServiceCollection().AddReplayClusterNode(node);

        Assert.Equal(trimmers, services.Count(s => s.ServiceType == typeof(IHostedService) && s.ImplementationFactory is not null
            && s.ImplementationFactory.Method.ReturnType == typeof(MemoryTrimmer)));
    }

    [Theory]
    [InlineData("banana", "is not a duration")]
    [InlineData("2h", "must be from 0s to 1h")]
    public void A_bad_value_is_refused_naming_the_setting(string value, string why)
    {
        var node = NodeConfigLoader.Load(NodeRoles.Coordinator, new NodeConfigOverrides
        {
            Port = "0",
            Sets = ["replaycluster.cluster.tls = off", $"replaycluster.node.trim-memory-after = {value}"],
        });

        var error = Assert.Throws<NodeConfigurationException>(() => new ServiceCollection().AddReplayClusterNode(node));

        Assert.Contains("replaycluster.node.trim-memory-after", error.Message, StringComparison.Ordinal);
        Assert.Contains(why, error.Message, StringComparison.Ordinal);
    }
}
