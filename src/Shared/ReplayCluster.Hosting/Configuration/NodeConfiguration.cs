using Akka.Configuration;

namespace ReplayCluster.Configuration;

/// <summary>The effective configuration of one node: validated settings plus the full HOCON.</summary>
/// <param name="Settings">The validated cluster settings.</param>
/// <param name="Config">The complete HOCON the actor system starts with, Akka keys included.</param>
public sealed record NodeConfiguration(NodeSettings Settings, Config Config);
