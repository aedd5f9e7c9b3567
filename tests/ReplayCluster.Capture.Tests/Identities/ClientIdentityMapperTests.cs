using Microsoft.Extensions.Time.Testing;
using ReplayCluster.Capture.Identities;
using ReplayCluster.Capture.Admission;
using ReplayCluster.Configuration;
using ReplayCluster.Packets;

namespace ReplayCluster.Capture.Tests.Identities;

public sealed class ClientIdentityMapperTests
{
    private static readonly uint Target = Ipv4Address.Parse("10.0.2.2");

    [Fact]
    public void A_fake_range_gives_each_client_a_stable_address_inside_it()
    {
        var mapper = ClientIdentityMapper.FromRange("10.200.0.0/16", "-c");
        Assert.True(mapper.TryAcquire(Ipv4Address.Parse("192.0.2.7"), 40000, Target, 80, out var first, out var port));
        mapper.Release(first, port, Target, 80);
        Assert.True(mapper.TryAcquire(Ipv4Address.Parse("192.0.2.7"), 40001, Target, 80, out var second, out _));

        Assert.Equal(first, second);
        Assert.Equal(40000, port);
        Assert.Equal(0x0AC8_0000u, first.Ipv4 & 0xFFFF_0000u);
        Assert.NotEqual(0x0AC8_0000u, first);
        Assert.NotEqual(0x0AC8_FFFFu, first);
    }

    [Fact]
    public void A_session_takes_an_identity_of_its_targets_family_from_the_range_of_that_family()
    {
        var mapper = ClientIdentityMapper.FromRange("10.200.0.0/16, fd00:c8::/64", "-c");
        var target6 = NetAddress.Parse("2001:db8:2::2");
        var client6 = NetAddress.Parse("2001:db8::7");
        var range6 = new Ipv6Prefix(Ipv6Address.Parse("fd00:c8::"), 64);

        Assert.Equal("10.200.0.0/16,fd00:c8::/64", mapper.Ranges);
        Assert.True(mapper.TryAcquire(client6, 40000, target6, 80, out var six, out var port));
        Assert.True(six.IsIpv6);
        Assert.True(range6.Contains(six.Ipv6), $"{six} is not in {range6}");
        Assert.NotEqual(NetAddress.Parse("fd00:c8::"), six);
        Assert.Equal(40000, port);

        // An IPv6 client toward an IPv4 target: an IPv4 identity.
        Assert.True(mapper.TryAcquire(client6, 40001, Target, 80, out var four, out _));
        Assert.True(four.IsIpv4);
        Assert.Equal(0x0AC8_0000u, four.Ipv4 & 0xFFFF_0000u);

        // The 4-tuple in use is not handed out again; released, it is held back like an IPv4 one.
        Assert.True(mapper.TryAcquire(client6, 40000, target6, 80, out var other, out var otherPort));
        Assert.NotEqual((six, port), (other, otherPort));
        Assert.Equal(3, mapper.InUse);
        mapper.Release(six, port, target6, 80);
        Assert.Equal((2, 1), (mapper.InUse, mapper.Quarantined));
    }

    [Fact]
    public void No_identity_without_a_range_of_the_targets_family_nor_a_real_address_across_families()
    {
        var client6 = NetAddress.Parse("2001:db8::7");
        var target6 = NetAddress.Parse("2001:db8:2::2");

        Assert.False(ClientIdentityMapper.FromRange("10.200.0.0/16", "-c").TryAcquire(client6, 40000, target6, 80, out var none, out _));
        Assert.True(none.IsUnspecified);
        Assert.False(ClientIdentityMapper.FromRange("fd00:c8::/64", "-c").TryAcquire(Ipv4Address.Parse("192.0.2.7"), 40000, Target, 80, out _, out _));

        var real = ClientIdentityMapper.KeepReal();
        Assert.True(real.TryAcquire(client6, 40000, target6, 80, out var kept, out var keptPort));
        Assert.Equal((client6, (ushort)40000), (kept, keptPort));
        Assert.False(real.TryAcquire(client6, 40001, Target, 80, out _, out _));
        Assert.Equal(1, real.InUse);
    }

    [Theory]
    [InlineData("fd00:c8::/15")]
    [InlineData("fd00:c8::/121")]
    [InlineData("::/64")]
    [InlineData("10.200.0.0/16,10.201.0.0/16")]
    [InlineData("fd00:c8::/64,fd00:c9::/64")]
    [InlineData("10.200.0.0/16,fd00:c8::/64,10.201.0.0/16")]
    [InlineData("[fd00:c8::]/64")]
    public void Ranges_it_cannot_use_are_refused_naming_the_setting(string ranges)
    {
        var error = Assert.Throws<NodeConfigurationException>(() => ClientIdentityMapper.FromRange(ranges, "-c"));
        Assert.StartsWith("-c", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_four_tuple_in_use_is_never_handed_out_twice_and_the_clients_port_is_kept_while_an_address_is_free()
    {
        var mapper = ClientIdentityMapper.FromRange("10.200.0.0/24", "-c");
        var seen = new HashSet<(NetAddress, ushort)>();
        for (var i = 0; i < 254; i++)
        {
            Assert.True(mapper.TryAcquire(Ipv4Address.Parse("192.0.2.7"), 40000, Target, 80, out var address, out var port));
            Assert.Equal(40000, port);
            Assert.True(seen.Add((address, port)), $"identity {address}:{port} handed out twice");
        }

        // Every address is live with port 40000: the next sessions of that client port get another port, never a
        // live 4-tuple (before, they were refused: a lagging replay of a client cycling few ports lost them).
        for (var i = 0; i < 600; i++)
        {
            Assert.True(mapper.TryAcquire(Ipv4Address.Parse("192.0.2.7"), 40000, Target, 80, out var address, out var port));
            Assert.NotEqual(40000, port);
            Assert.True(port >= 1024);
            Assert.True(seen.Add((address, port)), $"identity {address}:{port} handed out twice");
        }

        Assert.Equal(854, mapper.InUse);
        Assert.True(mapper.TryAcquire(Ipv4Address.Parse("192.0.2.7"), 40000, Target, 8080, out _, out var own));
        Assert.Equal(40000, own);
    }

    [Fact]
    public void Only_when_every_candidate_probed_is_live_is_a_session_refused()
    {
        var mapper = ClientIdentityMapper.FromRange("10.200.0.0/30", "-c", probeOffset: 0);
        var client = Ipv4Address.Parse("192.0.2.7");
        var seen = new HashSet<(NetAddress, ushort)>();
        while (mapper.TryAcquire(client, 40000, Target, 80, out var address, out var port))
        {
            Assert.True(seen.Add((address, port)), $"identity {address}:{port} handed out twice");
            Assert.True(port >= 1024);
            Assert.True(seen.Count <= 2 * 65536);
        }

        // Two addresses with every unprivileged port: the probe goes on from where this client's last one ended, so
        // it refuses only once it came round to live identities for MaxProbes candidates in a row.
        Assert.Equal(2 * (65536 - 1024), seen.Count);
        Assert.Equal(2, seen.Count(s => s.Item2 == 40000));
        Assert.Equal(seen.Count, mapper.InUse);
    }

    [Fact]
    public void Real_identities_move_to_another_port_only_when_theirs_is_busy()
    {
        var mapper = ClientIdentityMapper.KeepReal();
        var client = Ipv4Address.Parse("192.0.2.9");
        Assert.True(mapper.TryAcquire(client, 50000, Target, 80, out var address, out var port));
        Assert.Equal((client, (ushort)50000), (address, port));
        Assert.True(mapper.TryAcquire(client, 50000, Target, 80, out var again, out var otherPort));
        Assert.Equal(client, again);
        Assert.NotEqual(50000, otherPort);
        Assert.True(otherPort >= 1024);
        mapper.Release(address, port, Target, 80);
        mapper.Release(again, otherPort, Target, 80);
        Assert.Equal(0, mapper.InUse);
    }

    [Fact]
    public void A_released_fake_identity_is_held_back_for_the_reuse_delay_then_handed_out_again()
    {
        var time = new FakeTimeProvider();
        var mapper = ClientIdentityMapper.FromRange("10.200.0.0/16", "-c", new ClientIdentityOptions { ReuseDelay = TimeSpan.FromSeconds(65) }, time, probeOffset: 0);
        var client = Ipv4Address.Parse("192.0.2.7");
        Assert.True(mapper.TryAcquire(client, 40000, Target, 80, out var first, out var port));
        mapper.Release(first, port, Target, 80);

        // The client's port came back while the target may still hold the 4-tuple in TIME_WAIT.
        time.Advance(TimeSpan.FromSeconds(64));
        Assert.True(mapper.TryAcquire(client, 40000, Target, 80, out var second, out var secondPort));
        Assert.NotEqual(first, second);
        Assert.Equal(40000, secondPort);
        Assert.Equal(1, mapper.ReuseDeferred);
        mapper.Release(second, secondPort, Target, 80);
        Assert.Equal(2, mapper.Quarantined);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, mapper.Quarantined);
        time.Advance(TimeSpan.FromSeconds(64));
        Assert.Equal(0, mapper.Quarantined);

        // Once the delay has passed, the identity is handed out again.
        Assert.True(mapper.TryAcquire(client, 40000, Target, 80, out var third, out _));
        Assert.Equal(second, third);
        Assert.Equal(1, mapper.ReuseDeferred);
        Assert.Equal(0, mapper.ReusedEarly);
    }

    [Fact]
    public void The_probe_after_a_held_back_identity_is_deterministic()
    {
        static List<NetAddress> Walk()
        {
            var time = new FakeTimeProvider();
            var mapper = ClientIdentityMapper.FromRange("10.200.0.0/24", "-c", null, time, probeOffset: 17);
            var picked = new List<NetAddress>();
            for (var i = 0; i < 5; i++)
            {
                Assert.True(mapper.TryAcquire(Ipv4Address.Parse("192.0.2.7"), 40000, Target, 80, out var address, out var port));
                mapper.Release(address, port, Target, 80);
                picked.Add(address);
                time.Advance(TimeSpan.FromSeconds(2));
            }

            return picked;
        }

        var walk = Walk();
        Assert.Equal(walk, Walk());
        Assert.Equal(5, walk.Distinct().Count());
        Assert.All(walk.Zip(walk.Skip(1)), pair => Assert.Equal(pair.First.Ipv4 == 0x0AC8_00FEu ? 0x0AC8_0001u : pair.First.Ipv4 + 1, pair.Second.Ipv4));
    }

    [Fact]
    public void Real_identities_move_to_another_port_while_theirs_is_held_back()
    {
        var time = new FakeTimeProvider();
        var mapper = ClientIdentityMapper.KeepReal(new ClientIdentityOptions(), time);
        var client = Ipv4Address.Parse("192.0.2.9");
        Assert.True(mapper.TryAcquire(client, 50000, Target, 80, out var address, out var port));
        mapper.Release(address, port, Target, 80);
        time.Advance(TimeSpan.FromSeconds(30));

        Assert.True(mapper.TryAcquire(client, 50000, Target, 80, out var again, out var otherPort));
        Assert.Equal(client, again);
        Assert.NotEqual(50000, otherPort);
        Assert.True(otherPort >= 1024);

        // Another target (or target port) is another 4-tuple: nothing held back there.
        Assert.True(mapper.TryAcquire(client, 50000, Target, 8080, out _, out var samePort));
        Assert.Equal(50000, samePort);
    }

    [Fact]
    public void When_every_free_identity_is_held_back_the_one_released_longest_ago_is_reused_and_counted()
    {
        var time = new FakeTimeProvider();
        var mapper = ClientIdentityMapper.FromRange("10.200.0.0/30", "-c", null, time, probeOffset: 0);
        var client = Ipv4Address.Parse("192.0.2.7");
        var released = new List<(NetAddress Address, ushort Port)>();
        for (var i = 0; i < 2; i++)
        {
            Assert.True(mapper.TryAcquire(client, 40000, Target, 80, out var address, out var port));
            mapper.Release(address, port, Target, 80);
            released.Add((address, port));
            time.Advance(TimeSpan.FromSeconds(1));
        }

        // Both addresses are held back with the client's port: a fresh identity on another port comes before either.
        var deferred = mapper.ReuseDeferred;
        Assert.True(mapper.TryAcquire(client, 40000, Target, 80, out _, out var fresh));
        Assert.NotEqual(40000, fresh);
        Assert.Equal(0, mapper.ReusedEarly);
        Assert.Equal(deferred + 1, mapper.ReuseDeferred);

        // Once every other candidate probed is live, the held-back ones go, the one released longest ago first.
        while (mapper.ReusedEarly == 0)
        {
            Assert.True(mapper.TryAcquire(client, 40000, Target, 80, out var address, out var port));
            if (mapper.ReusedEarly == 1)
            {
                Assert.Equal(released[0], (address, port));
            }
        }

        Assert.Equal(1, mapper.Quarantined);

        // Live sessions are never shared, early or not.
        Assert.True(mapper.TryAcquire(client, 40000, Target, 80, out var last, out var lastPort));
        Assert.Equal(released[1], (last, lastPort));
        Assert.False(mapper.TryAcquire(client, 40000, Target, 80, out _, out _));
    }

    [Fact]
    public void The_quarantine_is_bounded_and_lets_the_oldest_go_first()
    {
        var time = new FakeTimeProvider();
        var mapper = ClientIdentityMapper.FromRange("10.200.0.0/16", "-c", new ClientIdentityOptions { QuarantineCapacity = 3 }, time, probeOffset: 0);
        var client = Ipv4Address.Parse("192.0.2.7");
        var identities = new List<(NetAddress Address, ushort Port)>();
        for (ushort p = 40000; p < 40005; p++)
        {
            Assert.True(mapper.TryAcquire(client, p, Target, 80, out var address, out var port));
            identities.Add((address, port));
        }

        foreach (var (address, port) in identities)
        {
            mapper.Release(address, port, Target, 80);
            time.Advance(TimeSpan.FromMilliseconds(10));
        }

        Assert.Equal(3, mapper.Quarantined);
        Assert.Equal(2, mapper.QuarantineOverflows);

        // The two let go early are free again; the three newest are still held back.
        Assert.True(mapper.TryAcquire(client, 40000, Target, 80, out var a0, out _));
        Assert.Equal(identities[0].Address, a0);
        Assert.True(mapper.TryAcquire(client, 40004, Target, 80, out var a4, out _));
        Assert.NotEqual(identities[4].Address, a4);
    }

    [Fact]
    public void A_zero_delay_turns_the_quarantine_off()
    {
        var time = new FakeTimeProvider();
        var mapper = ClientIdentityMapper.FromRange("10.200.0.0/16", "-c", new ClientIdentityOptions { ReuseDelay = TimeSpan.Zero }, time, probeOffset: 0);
        var client = Ipv4Address.Parse("192.0.2.7");
        Assert.True(mapper.TryAcquire(client, 40000, Target, 80, out var first, out var port));
        mapper.Release(first, port, Target, 80);
        Assert.True(mapper.TryAcquire(client, 40000, Target, 80, out var second, out _));
        Assert.Equal(first, second);
        Assert.Equal(0, mapper.Quarantined);
    }

    [Fact]
    public void Identities_released_by_an_older_mapper_are_not_quarantined_here()
    {
        var time = new FakeTimeProvider();
        var mapper = ClientIdentityMapper.FromRange("10.200.0.0/16", "-c", null, time, probeOffset: 0);
        mapper.Release(Ipv4Address.Parse("10.201.0.5"), 40000, Target, 80);
        Assert.Equal(0, mapper.Quarantined);
    }

    [Fact]
    public async Task Several_threads_acquiring_and_releasing_never_share_an_identity()
    {
        var time = new FakeTimeProvider();
        var mapper = ClientIdentityMapper.FromRange("10.200.0.0/22", "-c", new ClientIdentityOptions { ReuseDelay = TimeSpan.FromSeconds(65) }, time, probeOffset: 0);
        var live = new System.Collections.Concurrent.ConcurrentDictionary<(NetAddress, ushort), int>();
        var collisions = 0;
        var tasks = Enumerable.Range(0, 4).Select(worker => Task.Run(() =>
        {
            for (var i = 0; i < 5_000; i++)
            {
                var clientPort = (ushort)(40000 + (i % 50));
                if (!mapper.TryAcquire(Ipv4Address.Parse("192.0.2.7"), clientPort, Target, 80, out var address, out var port))
                {
                    continue;
                }

                if (!live.TryAdd((address, port), worker))
                {
                    Interlocked.Increment(ref collisions);
                }

                live.TryRemove((address, port), out _);
                mapper.Release(address, port, Target, 80);
            }
        }, TestContext.Current.CancellationToken));
        await Task.WhenAll(tasks);

        Assert.Equal(0, collisions);
        Assert.Equal(0, mapper.InUse);
    }

    [Theory]
    [InlineData("10.200.0.0")]
    [InlineData("10.200.0.0/31")]
    [InlineData("10.200.0.0/4")]
    [InlineData("fd00::")]
    public void Bad_ranges_are_refused(string range) =>
        Assert.Throws<NodeConfigurationException>(() => ClientIdentityMapper.FromRange(range, "-c"));
}
