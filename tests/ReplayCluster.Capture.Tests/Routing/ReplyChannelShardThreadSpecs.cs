using Akka.Actor;
using Akka.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using ReplayCluster.Capture.Routing;
using ReplayCluster.Capture.Sending;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Protocol;
using static ReplayCluster.Capture.Tests.Routing.ReplyChannelListenerSpecs;

namespace ReplayCluster.Capture.Tests.Routing;

/// <summary>
/// The reply channel with shards on their own threads (<see cref="ShardThreadExecutor"/> dispatchers, as the node
/// runs them): each shard's connection is polled and read by that shard's thread, which delivers to the shard with
/// no other thread in between.
/// </summary>
public sealed class ReplyChannelShardThreadSpecs() : Akka.TestKit.Xunit.TestKit(ConfigurationFactory.ParseString(ShardThreadExecutorConfigurator.Hocon(Dispatcher, 2)))
{
    private const string Dispatcher = "channel-spec-shard";

    private static readonly Address InterceptNode = new("akka.tcp", "replaycluster", "10.0.0.9", 4053);

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public void Each_shards_connection_is_read_by_that_shards_own_thread()
    {
        var probe = CreateTestProbe();
        var refs = Enumerable.Range(0, 2).Select(i => Sys.ActorOf(Props.Create(() => new ShardStandIn(probe.Ref)).WithDispatcher($"{Dispatcher}-{i}"), $"shard-{i}")).ToArray();
        var shards = new SessionShards(2, 1024);
        shards.Attach(refs);
        var statistics = new CaptureNodeStatistics();
        using var listener = ReplyChannelListener.Start("127.0.0.1", 0, "127.0.0.1", shards, statistics, NullLogger.Instance);
        var key = listener.Offer(InterceptNode).Key.ToArray();
        using var shard0 = Intercept.Connect(listener.Port, key, shard: 0);
        using var shard1 = Intercept.Connect(listener.Port, key, shard: 1);

        shard1.Send(1, Records(1, 2));
        var first = probe.ExpectMsg<Delivered>(cancellationToken: Cancellation);
        shard0.Send(0, Records(3));
        var second = probe.ExpectMsg<Delivered>(cancellationToken: Cancellation);

        // Delivered on the shard's thread, by the executor that owns exactly one socket: the shard's connection.
        Assert.Equal(($"{Dispatcher}-1", 1), (first.Thread, first.Sockets));
        Assert.Equal([1u, 2u], first.Sequences);
        Assert.Equal(($"{Dispatcher}-0", 1), (second.Thread, second.Sockets));
        Assert.Equal([3u], second.Sequences);
        Assert.Equal(2, statistics.ReplyChannels);
        Assert.Equal(0, statistics.Refusals.Total);
    }

    private sealed record Delivered(string? Thread, int Sockets, uint[] Sequences);

    private sealed class ShardStandIn : ReceiveActor
    {
        public ShardStandIn(IActorRef probe) => Receive<ResponseBatch>(batch =>
            probe.Tell(new Delivered(System.Threading.Thread.CurrentThread.Name, ShardThreadExecutor.Current?.SocketCount ?? -1, Sequences(batch))));
    }
}
