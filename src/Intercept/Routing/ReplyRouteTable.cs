using ReplayCluster.Protocol;

namespace ReplayCluster.Intercept.Routing;

/// <summary>
/// Which capture node owns each replayed session, so every reply goes to exactly one owner.
/// Routes are exact (<see cref="SessionEndpoints"/>), expire when their owner stops refreshing them,
/// and are dropped wholesale when the owner leaves the cluster. Replies for a session whose route has
/// not arrived yet — the target's SYN-ACK usually beats the route claim (88 % of the time in tcpcopy's
/// lab) — are parked for a bounded time and count, then released in order when the route arrives, or
/// counted as dropped.
/// Not thread-safe: owned by one actor.
/// </summary>
/// <typeparam name="TOwner">The owner handle (an actor ref in the node; anything in tests).</typeparam>
internal sealed class ReplyRouteTable<TOwner>
    where TOwner : notnull
{
    private readonly Dictionary<SessionEndpoints, Route> _routes = [];
    private readonly Dictionary<SessionEndpoints, Parked> _parked = [];
    private readonly ReplyRouteTableOptions _options;
    private readonly TimeProvider _time;
    private int _parkedRecords;

    public ReplyRouteTable(ReplyRouteTableOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        _options = options;
        _time = time;
    }

    /// <summary>Live routes.</summary>
    public int RouteCount => _routes.Count;

    /// <summary>Records waiting for a route.</summary>
    public int ParkedCount => _parkedRecords;

    /// <summary>Records dropped because no route arrived in time, or the parking lot was full.</summary>
    public long DroppedUnrouted { get; private set; }

    /// <summary>
    /// Claims (or refreshes) a route for <paramref name="owner"/>. Records parked for those endpoints
    /// are handed to <paramref name="release"/> in arrival order.
    /// </summary>
    public void Claim(SessionEndpoints endpoints, TOwner owner, Action<TOwner, ResponseRecord> release)
    {
        ArgumentNullException.ThrowIfNull(release);
        _routes[endpoints] = new Route(owner, Now + _options.RouteLifetime);
        if (_parked.Remove(endpoints, out var parked))
        {
            _parkedRecords -= parked.Records.Count;
            foreach (var record in parked.Records)
            {
                release(owner, record);
            }
        }
    }

    /// <summary>Removes a route whose session ended.</summary>
    public bool Release(SessionEndpoints endpoints, TOwner owner)
    {
        if (_routes.TryGetValue(endpoints, out var route) && EqualityComparer<TOwner>.Default.Equals(route.Owner, owner))
        {
            _routes.Remove(endpoints);
            return true;
        }

        return false;
    }

    /// <summary>Removes every route of an owner that left the cluster; returns how many.</summary>
    public int RemoveOwner(TOwner owner) => RemoveOwners(o => EqualityComparer<TOwner>.Default.Equals(o, owner));

    /// <summary>Removes every route whose owner matches <paramref name="predicate"/>; returns how many.</summary>
    public int RemoveOwners(Func<TOwner, bool> predicate)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        var gone = _routes.Where(r => predicate(r.Value.Owner)).Select(r => r.Key).ToList();
        foreach (var endpoints in gone)
        {
            _routes.Remove(endpoints);
        }

        return gone.Count;
    }

    /// <summary>Finds the owner of a reply, or parks the reply until its route arrives.</summary>
    /// <returns>True with the owner when routed; false when parked or dropped.</returns>
    public bool TryRoute(in ResponseRecord reply, out TOwner owner)
    {
        var endpoints = SessionEndpoints.Of(reply);
        if (_routes.TryGetValue(endpoints, out var route))
        {
            owner = route.Owner;
            return true;
        }

        owner = default!;
        Park(endpoints, reply);
        return false;
    }

    /// <summary>Expires stale routes and parked records; call periodically. Returns records dropped now.</summary>
    public int Sweep()
    {
        var now = Now;
        foreach (var expired in _routes.Where(r => r.Value.ExpiresAt <= now).Select(r => r.Key).ToList())
        {
            _routes.Remove(expired);
        }

        var dropped = 0;
        foreach (var (endpoints, parked) in _parked.Where(p => p.Value.ExpiresAt <= now).ToList())
        {
            dropped += parked.Records.Count;
            _parked.Remove(endpoints);
        }

        _parkedRecords -= dropped;
        DroppedUnrouted += dropped;
        return dropped;
    }

    private DateTimeOffset Now => _time.GetUtcNow();

    private void Park(SessionEndpoints endpoints, in ResponseRecord reply)
    {
        if (_parkedRecords >= _options.MaxParkedRecords)
        {
            DroppedUnrouted++;
            return;
        }

        if (!_parked.TryGetValue(endpoints, out var parked))
        {
            if (_parked.Count >= _options.MaxParkedSessions)
            {
                DroppedUnrouted++;
                return;
            }

            parked = new Parked(Now + _options.ParkingTime);
            _parked[endpoints] = parked;
        }

        if (parked.Records.Count >= _options.MaxParkedPerSession)
        {
            DroppedUnrouted++;
            return;
        }

        parked.Records.Add(reply);
        _parkedRecords++;
    }

    private readonly record struct Route(TOwner Owner, DateTimeOffset ExpiresAt);

    private sealed class Parked(DateTimeOffset expiresAt)
    {
        public DateTimeOffset ExpiresAt { get; } = expiresAt;

        public List<ResponseRecord> Records { get; } = new(4);
    }
}
