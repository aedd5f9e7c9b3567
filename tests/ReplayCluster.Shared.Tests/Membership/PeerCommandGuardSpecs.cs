using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch.SysMsg;
using ReplayCluster.Configuration;
using ReplayCluster.Membership;

namespace ReplayCluster.Tests.Membership;

/// <summary>
/// A peer's Kill, PoisonPill or lifecycle system message stops nothing on a node that runs the reference
/// configuration, while the same Kill from inside the node still works (Akka's own serializer is unchanged).
/// </summary>
public sealed class PeerCommandGuardSpecs() : Akka.TestKit.Xunit.TestKit(NodeConfig())
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Kill_PoisonPill_and_Terminate_from_a_peer_arrive_as_refused_commands()
    {
        var target = Sys.ActorOf(Props.Create(() => new Echo(TestActor)), "target");
        Watch(target);
        using var peer = ActorSystem.Create("peer", ConfigurationFactory.ParseString("akka.actor.provider = remote\nakka.remote.dot-netty.tcp.port = 0\nakka.remote.dot-netty.tcp.hostname = 127.0.0.1\nakka.loglevel = WARNING"));
        var address = ((ExtendedActorSystem)Sys).Provider.DefaultAddress;
        var remote = await peer.ActorSelection(new RootActorPath(address) / "user" / "target").ResolveOne(TimeSpan.FromSeconds(5), Token);

        remote.Tell(Kill.Instance);
        remote.Tell(PoisonPill.Instance);
        ((IInternalActorRef)remote).SendSystemMessage(new Terminate());
        remote.Tell("still here?");

        var seen = ReceiveN(4, TimeSpan.FromSeconds(5), Token).ToList();
        Assert.Contains(new RefusedPeerCommand("Kill"), seen);
        Assert.Contains(new RefusedPeerCommand("PoisonPill"), seen);
        Assert.Contains(new RefusedPeerCommand("Terminate"), seen);
        Assert.Contains("still here?", seen);
        ExpectNoMsg(TimeSpan.FromMilliseconds(300), Token); // no Terminated: the actor lives

        // Inside the node a Kill is Akka's own and works as ever.
        target.Tell(Kill.Instance);
        ExpectTerminated(target, cancellationToken: Token);
        await peer.Terminate();
    }

    private static Config NodeConfig()
    {
        var directory = NodeConfigLoader.DefaultHoconDirectory;
        // The guard alone: untrusted mode (on in common.hocon) would refuse the peer's selection of the target and
        // drop its PoisonPill before the actor sees it; its own specs are in Cluster/WireSerializationSpecs.
        return ConfigurationFactory.ParseString("akka.actor.provider = remote\nakka.remote.dot-netty.tcp.port = 0\nakka.remote.dot-netty.tcp.hostname = 127.0.0.1\nakka.remote.untrusted-mode = off")
            .WithFallback(ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(directory, "common.hocon"))));
    }

    private sealed class Echo : ReceiveActor
    {
        public Echo(IActorRef probe) => ReceiveAny(m => probe.Tell(m));
    }
}
