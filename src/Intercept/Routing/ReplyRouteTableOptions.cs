namespace ReplayCluster.Intercept.Routing;

/// <summary>Bounds of the reply route table. Defaults are sized for a few hundred thousand sessions.</summary>
internal sealed record ReplyRouteTableOptions
{
    /// <summary>A route not refreshed for this long is dropped. Defaults to 10 minutes (tcpcopy's -t).</summary>
    public TimeSpan RouteLifetime { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How long a reply waits for its route. Defaults to 3 s (tcpcopy's establish timeout).</summary>
    public TimeSpan ParkingTime { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Cap on parked replies across all sessions. Defaults to 100,000 (~6 MB).</summary>
    public int MaxParkedRecords { get; init; } = 100_000;

    /// <summary>Cap on sessions with parked replies. Defaults to 50,000.</summary>
    public int MaxParkedSessions { get; init; } = 50_000;

    /// <summary>Cap on parked replies of one session. Defaults to 64: a session without a route that long is lost anyway.</summary>
    public int MaxParkedPerSession { get; init; } = 64;
}
