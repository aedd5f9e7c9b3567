namespace ReplayCluster.Lab.Tests.Nodes;

/// <summary>
/// The test class measures what the nodes themselves cost or how fast they relay (latencies, pace, drains): its nodes run
/// as users run them, the build output with the product's runtime settings, not precompiled and quick-started as the
/// other lab tests' nodes are (<see cref="NodeProcesses.Dotnet"/>). The flood collection's shared nodes run so too.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class MeasuresNodeCostAttribute : Attribute;
