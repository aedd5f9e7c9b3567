namespace ReplayCluster.Protocol;

/// <summary>
/// A capture node asks the coordinator for its slice of the fake client range. <paramref name="Preferred"/>
/// is the slice it held before (a restarted coordinator gives it back when free).
/// </summary>
public sealed record RequestIdentitySlice(string? Preferred) : IReplayWireMessage;

/// <summary>The slice (CIDR) this capture node alone uses for replayed client identities.</summary>
public sealed record IdentitySliceGranted(string Range) : IReplayWireMessage;

/// <summary>No slice: the coordinator has no range configured, or every slice is taken.</summary>
public sealed record IdentitySliceRefused(string Reason) : IReplayWireMessage;
