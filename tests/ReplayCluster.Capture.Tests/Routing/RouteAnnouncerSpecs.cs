using Akka.Actor;
using Akka.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using ReplayCluster.Capture.Routing;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Configuration;
using ReplayCluster.Tests.TestSupport;

namespace ReplayCluster.Capture.Tests.Routing;

/// <summary>
/// The route announcer counts an intercept for the node's readiness only once that intercept accepted the node:
/// its reply channel connected, or it was waited for long enough.
/// </summary>
public sealed class RouteAnnouncerSpecs() : Akka.TestKit.Xunit.TestKit(ConfigurationFactory.ParseString("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0"))
{
    private static readonly Address Intercept = SpecMembers.Node(9);
    private readonly CaptureReadiness _readiness = Ready();
    private readonly InterceptDirectory _directory = new();

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public void An_intercept_that_joined_counts_once_its_reply_channel_connected()
    {
        var shard = CreateTestProbe();
        var announcer = Start(shard, acceptWait: TimeSpan.FromMinutes(5));

        announcer.Tell(SpecMembers.Up(Intercept, NodeRoles.Intercept));
        shard.ExpectMsg<SessionShard.AnnounceRoutes>(cancellationToken: Cancellation);
        AwaitAssert(() => Assert.Contains("waiting for an intercept node to accept this node", _readiness.Reason, StringComparison.Ordinal),
            cancellationToken: Cancellation);
        Assert.False(_readiness.IsReady);
        Assert.True(_readiness.RepliesCanReturn); // sessions already under way keep going meanwhile

        // Another node's acceptance is not this one's.
        announcer.Tell(new RouteAnnouncer.InterceptAccepted(SpecMembers.Node(10)));
        announcer.Tell(new RouteAnnouncer.InterceptAccepted(Intercept));
        AwaitCondition(() => _readiness.IsReady, cancellationToken: Cancellation);

        // It leaves: nothing accepted is left.
        announcer.Tell(SpecMembers.Removed(Intercept, NodeRoles.Intercept));
        AwaitCondition(() => !_readiness.IsReady, cancellationToken: Cancellation);
        Assert.Contains("no intercept", _readiness.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void An_intercept_that_connects_no_channel_counts_after_the_wait()
    {
        var shard = CreateTestProbe();
        var announcer = Start(shard, acceptWait: TimeSpan.FromMilliseconds(300));

        announcer.Tell(SpecMembers.Up(Intercept, NodeRoles.Intercept));
        shard.ExpectMsg<SessionShard.AnnounceRoutes>(cancellationToken: Cancellation);
        Assert.False(_readiness.IsReady);
        AwaitCondition(() => _readiness.IsReady, TimeSpan.FromSeconds(5), cancellationToken: Cancellation);

        // A channel that connects later changes nothing.
        announcer.Tell(new RouteAnnouncer.InterceptAccepted(Intercept));
        Assert.True(_readiness.IsReady);
    }

    private IActorRef Start(Akka.TestKit.TestProbe shard, TimeSpan acceptWait)
    {
        var shards = new SessionShards(1, 1024);
        shards.Attach([shard.Ref]);
        return Sys.ActorOf(RouteAnnouncer.Props(_directory, shards, new CaptureNodeStatistics(), _readiness, NullLogger.Instance, acceptWait: acceptWait));
    }

    // Identities and plan settled: what is left to wait for is the intercept.
    private static CaptureReadiness Ready()
    {
        var readiness = new CaptureReadiness();
        readiness.SetIdentitiesSettled(true);
        readiness.SetPlanSettled(true);
        return readiness;
    }
}
