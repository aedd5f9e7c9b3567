using ReplayCluster.Protocol;

namespace ReplayCluster.Plans;

/// <summary>
/// A capture node asks the coordinator for the plan, now and on every change (the sender is watched).
/// It says which plan it follows (version 0: none yet), so a restarted coordinator takes back the
/// plan changed at run time instead of falling back to the one it was started with.
/// </summary>
public sealed record SubscribeReplayPlan(long KnownVersion, ReplayPlan? KnownPlan) : IReplayWireMessage;

/// <summary>
/// The plan a capture node follows. <paramref name="Version"/> grows with every accepted change;
/// <paramref name="RateCapShare"/> is this node's share of <see cref="ReplayPlan.RateCap"/> (sessions
/// per second), which changes as capture nodes join and leave.
/// </summary>
public sealed record ReplayPlanAssigned(long Version, ReplayPlan Plan, double? RateCapShare) : IReplayWireMessage;
