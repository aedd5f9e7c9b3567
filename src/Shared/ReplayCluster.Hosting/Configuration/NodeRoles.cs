namespace ReplayCluster.Configuration;

/// <summary>The cluster roles of ReplayCluster nodes; each node process has exactly one.</summary>
public static class NodeRoles
{
    /// <summary>Control plane: seed, replay plan, identity slices, statistics.</summary>
    public const string Coordinator = "coordinator";

    /// <summary>Runs on an online host: captures client sessions and replays them to the target.</summary>
    public const string Capture = "capture";

    /// <summary>Runs on or beside the target: captures the target's replies on the reply sink.</summary>
    public const string Intercept = "intercept";

    /// <summary>Every role, in start-up order.</summary>
    public static IReadOnlyList<string> All { get; } = [Coordinator, Capture, Intercept];
}
