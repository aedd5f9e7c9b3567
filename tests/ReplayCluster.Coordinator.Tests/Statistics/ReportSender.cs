using Akka.Actor;

namespace ReplayCluster.Coordinator.Tests.Statistics;

/// <summary>
/// Stands in for another node's statistics reporter: the aggregator knows a node by its reports'
/// sender address, and a spec has only one actor system.
/// </summary>
internal sealed class ReportSender(Address address, IActorRefProvider provider) : MinimalActorRef
{
    public override ActorPath Path { get; } = new RootActorPath(address) / "user" / "statistics-reporter";

    public override IActorRefProvider Provider { get; } = provider;
}
