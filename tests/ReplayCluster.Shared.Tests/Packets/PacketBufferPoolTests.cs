using ReplayCluster.Packets;
using Xunit;

namespace ReplayCluster.Tests.Packets;

public sealed class PacketBufferPoolTests
{
    [Fact]
    public void Defaults_fit_the_largest_ipv4_datagram_with_headroom()
    {
        var pool = new PacketBufferPool();
        Assert.Equal(65535 + 256, pool.MaxBufferSize);
        Assert.Equal(4096, pool.MaxOutstanding);
    }

    [Fact]
    public void A_rented_buffer_is_returned_on_dispose_and_dispose_twice_is_harmless()
    {
        var pool = new PacketBufferPool();
        var packet = pool.Rent(1500);
        Assert.Equal(1500, packet.Length);
        Assert.True(packet.Capacity >= 1500);
        Assert.Equal(1, pool.Outstanding);
        packet.Span[0] = 0x45;
        packet.SetLength(60);
        Assert.Equal(60, packet.Memory.Length);

        packet.Dispose();
        packet.Dispose();

        Assert.Equal(0, pool.Outstanding);
        Assert.True(packet.IsEmpty);
    }

    [Fact]
    public void The_outstanding_cap_refuses_rents_until_a_buffer_comes_back()
    {
        var pool = new PacketBufferPool(maxBufferSize: 2048, maxOutstanding: 2);
        Assert.True(pool.TryRent(100, out var a));
        Assert.True(pool.TryRent(100, out var b));

        Assert.False(pool.TryRent(100, out var refused));
        Assert.True(refused.IsEmpty);
        Assert.Throws<InvalidOperationException>(() => pool.Rent(100));
        Assert.Equal(2, pool.Refused);

        a.Dispose();
        Assert.True(pool.TryRent(100, out var c));
        b.Dispose();
        c.Dispose();
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void Asking_for_more_than_the_size_cap_is_a_caller_error()
    {
        var pool = new PacketBufferPool(maxBufferSize: 2048);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.TryRent(2049, out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.TryRent(-1, out _));
        Assert.Equal(0, pool.Outstanding);
    }
}
