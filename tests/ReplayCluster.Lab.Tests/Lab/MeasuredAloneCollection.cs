namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>
/// Tests that measure rates across several online hosts run alone, after the parallel ones: on two
/// cores, their load and a saturating replay test running beside them disturb each other's results.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MeasuredAloneCollection
{
    public const string Name = "measured alone";
}
