namespace ReplayCluster.Comparison;

/// <summary>Well-known names of the comparison actors (under <c>/user</c>), which peers address by path.</summary>
public static class ComparisonActorNames
{
    /// <summary>The capture node's collector, which owns its engine; also the coordinator's diff keeper.</summary>
    public const string Collector = "comparison";

    /// <summary>The intercept's tap, which captures full replies of compared sessions.</summary>
    public const string Tap = "comparison-tap";
}
