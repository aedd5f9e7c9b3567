using Microsoft.Extensions.Time.Testing;
using ReplayCluster.Intercept.Routing;
using ReplayCluster.Protocol;

namespace ReplayCluster.Intercept.Tests.Routing;

public sealed class ReplyRouteTableTests
{
    private static readonly SessionEndpoints SessionA = new(0x0AC80001, 40000, 0x0A000202, 80);
    private static readonly SessionEndpoints SessionB = new(0x0AC80001, 40001, 0x0A000202, 80);

    private readonly FakeTimeProvider _time = new(DateTimeOffset.UnixEpoch);
    private readonly List<(string Owner, ResponseRecord Record)> _released = [];

    [Fact]
    public void A_claimed_route_sends_replies_of_exactly_that_session_to_its_owner()
    {
        var table = NewTable();
        table.Claim(SessionA, "capture-1", Release);
        table.Claim(SessionB, "capture-2", Release);

        Assert.True(table.TryRoute(Reply(SessionA, seq: 1), out var ownerA));
        Assert.True(table.TryRoute(Reply(SessionB, seq: 1), out var ownerB));
        Assert.Equal("capture-1", ownerA);
        Assert.Equal("capture-2", ownerB);
        Assert.False(table.TryRoute(Reply(SessionA with { TargetPort = 81 }, seq: 1), out _));
    }

    [Fact]
    public void Replies_that_beat_their_route_are_parked_and_released_in_order_on_claim()
    {
        var table = NewTable();
        Assert.False(table.TryRoute(Reply(SessionA, seq: 100), out _));
        Assert.False(table.TryRoute(Reply(SessionA, seq: 101), out _));
        Assert.Equal(2, table.ParkedCount);

        table.Claim(SessionA, "capture-1", Release);

        Assert.Equal([100u, 101u], _released.Select(r => r.Record.Sequence));
        Assert.All(_released, r => Assert.Equal("capture-1", r.Owner));
        Assert.Equal(0, table.ParkedCount);
        Assert.Equal(0, table.DroppedUnrouted);
    }

    [Fact]
    public void Parked_replies_without_a_route_are_dropped_and_counted_after_the_parking_time()
    {
        var table = NewTable();
        table.TryRoute(Reply(SessionA, seq: 1), out _);
        _time.Advance(TimeSpan.FromSeconds(2.9));
        Assert.Equal(0, table.Sweep());

        _time.Advance(TimeSpan.FromSeconds(0.2));
        Assert.Equal(1, table.Sweep());
        Assert.Equal(1, table.DroppedUnrouted);
        Assert.Equal(0, table.ParkedCount);

        table.Claim(SessionA, "capture-1", Release);
        Assert.Empty(_released);
    }

    [Fact]
    public void Parking_is_bounded_per_session_and_overall()
    {
        var table = new ReplyRouteTable<string>(new ReplyRouteTableOptions { MaxParkedPerSession = 2, MaxParkedRecords = 3 }, _time);
        for (uint i = 0; i < 5; i++)
        {
            table.TryRoute(Reply(SessionA, i), out _);
        }

        table.TryRoute(Reply(SessionB, 0), out _);
        table.TryRoute(Reply(SessionB, 1), out _);

        Assert.Equal(3, table.ParkedCount);
        Assert.Equal(4, table.DroppedUnrouted);
    }

    [Fact]
    public void Routes_expire_unless_refreshed_and_vanish_with_their_owner()
    {
        var table = NewTable();
        table.Claim(SessionA, "capture-1", Release);
        table.Claim(SessionB, "capture-2", Release);

        _time.Advance(TimeSpan.FromMinutes(9));
        table.Claim(SessionB, "capture-2", Release);
        _time.Advance(TimeSpan.FromMinutes(2));
        table.Sweep();
        Assert.False(table.TryRoute(Reply(SessionA, 1), out _));
        Assert.True(table.TryRoute(Reply(SessionB, 1), out _));

        Assert.Equal(1, table.RemoveOwner("capture-2"));
        Assert.Equal(0, table.RouteCount);
    }

    [Fact]
    public void Only_the_owner_can_release_its_route()
    {
        var table = NewTable();
        table.Claim(SessionA, "capture-1", Release);
        Assert.False(table.Release(SessionA, "capture-2"));
        Assert.True(table.Release(SessionA, "capture-1"));
        Assert.Equal(0, table.RouteCount);
    }

    private ReplyRouteTable<string> NewTable() => new(new ReplyRouteTableOptions(), _time);

    private void Release(string owner, ResponseRecord record) => _released.Add((owner, record));

    private static ResponseRecord Reply(SessionEndpoints session, uint seq) => TestReplies.For(session, seq);
}
