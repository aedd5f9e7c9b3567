using Akka.Actor;
using Akka.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using ReplayCluster.Intercept.Routing;
using ReplayCluster.PacketIO;
using ReplayCluster.Protocol;

namespace ReplayCluster.Intercept.Tests.Routing;

/// <summary>
/// The forwarder's batch window on fake time, driven as the capture thread drives it (Route per reply, EndOfBurst
/// per burst): a reply after a quiet moment leaves at once, the next ones wait out the window together.
/// </summary>
public sealed class ReplyForwarderBatchWindowSpecs() : Akka.TestKit.Xunit.TestKit(ConfigurationFactory.ParseString("akka.actor.provider = local"))
{
    private static readonly SessionEndpoints Session = new(0x0AC80001, 40000, 0x0A000202, 80);
    private static readonly TimeSpan Window = TimeSpan.FromMicroseconds(250);

    private readonly FakeTimeProvider _time = new();

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public void A_reply_after_a_quiet_moment_goes_at_once_and_the_next_ones_wait_out_the_window_together()
    {
        var (forwarder, owner) = Start(new InterceptNodeSettings { Interface = "test0", Filter = "tcp", BatchWindow = Window });

        forwarder.Route(TestReplies.For(Session, 0));
        var afterFirst = forwarder.EndOfBurst();
        Assert.True(afterFirst.TimeoutMicros > Window.TotalMicroseconds && !afterFirst.HoldFrames, $"nothing should wait for the window: {afterFirst}");
        Assert.Equal([0u], Sequences(owner.ExpectMsg<ResponseBatch>(TimeSpan.FromSeconds(3), cancellationToken: Cancellation)));

        forwarder.Route(TestReplies.For(Session, 1));
        Assert.Equal(new CaptureWait((long)Window.TotalMicroseconds), forwarder.EndOfBurst());
        _time.Advance(TimeSpan.FromMicroseconds(100));
        forwarder.Route(TestReplies.For(Session, 2));
        Assert.Equal(new CaptureWait(150), forwarder.EndOfBurst());
        owner.ExpectNoMsg(TimeSpan.FromMilliseconds(100), Cancellation);

        _time.Advance(TimeSpan.FromMicroseconds(150));
        forwarder.EndOfBurst();
        Assert.Equal([1u, 2u], Sequences(owner.ExpectMsg<ResponseBatch>(TimeSpan.FromSeconds(3), cancellationToken: Cancellation)));

        // Quiet for longer than the window: at once again.
        _time.Advance(TimeSpan.FromMilliseconds(1));
        forwarder.Route(TestReplies.For(Session, 3));
        forwarder.EndOfBurst();
        Assert.Equal([3u], Sequences(owner.ExpectMsg<ResponseBatch>(TimeSpan.FromSeconds(3), cancellationToken: Cancellation)));
    }

    [Fact]
    public void After_a_flush_of_a_loaded_window_frames_are_held_for_the_next_window_and_not_after_a_quiet_one()
    {
        var (forwarder, owner) = Start(new InterceptNodeSettings { Interface = "test0", Filter = "tcp", BatchWindow = Window });

        // Lone replies (a quiet moment before each): frames keep waking the capture thread.
        forwarder.Route(TestReplies.For(Session, 0));
        Assert.False(forwarder.EndOfBurst().HoldFrames);
        owner.ExpectMsg<ResponseBatch>(TimeSpan.FromSeconds(3), cancellationToken: Cancellation);

        // A window's worth arrives (more than the hold threshold): after its flush, hold frames for one window.
        _time.Advance(TimeSpan.FromMicroseconds(10));
        for (uint i = 1; i <= ReplyForwarder.HoldThreshold; i++)
        {
            forwarder.Route(TestReplies.For(Session, i));
        }

        Assert.False(forwarder.EndOfBurst().HoldFrames); // waits out the window first
        _time.Advance(Window);
        Assert.Equal(new CaptureWait((long)Window.TotalMicroseconds, HoldFrames: true), forwarder.EndOfBurst());
        Assert.Equal(ReplyForwarder.HoldThreshold, owner.ExpectMsg<ResponseBatch>(TimeSpan.FromSeconds(3), cancellationToken: Cancellation).Count);

        // The window passed with little captured: back to waking per frame.
        _time.Advance(Window);
        forwarder.Route(TestReplies.For(Session, 99));
        Assert.False(forwarder.EndOfBurst().HoldFrames);
        Assert.False(forwarder.EndOfBurst().HoldFrames);
    }

    [Fact]
    public void Without_a_window_every_burst_goes_at_once_and_a_full_batch_never_waits()
    {
        var (forwarder, owner) = Start(new InterceptNodeSettings { Interface = "test0", Filter = "tcp", BatchWindow = TimeSpan.Zero });
        forwarder.Route(TestReplies.For(Session, 0));
        forwarder.EndOfBurst();
        forwarder.Route(TestReplies.For(Session, 1));
        forwarder.EndOfBurst();
        Assert.Equal([0u], Sequences(owner.ExpectMsg<ResponseBatch>(TimeSpan.FromSeconds(3), cancellationToken: Cancellation)));
        Assert.Equal([1u], Sequences(owner.ExpectMsg<ResponseBatch>(TimeSpan.FromSeconds(3), cancellationToken: Cancellation)));

        var (full, fullOwner) = Start(new InterceptNodeSettings { Interface = "test0", Filter = "tcp", BatchWindow = Window, BatchSize = 2 });
        full.Route(TestReplies.For(Session, 0));
        full.EndOfBurst();
        Assert.Equal([0u], Sequences(fullOwner.ExpectMsg<ResponseBatch>(TimeSpan.FromSeconds(3), cancellationToken: Cancellation)));
        full.Route(TestReplies.For(Session, 1));
        full.Route(TestReplies.For(Session, 2));
        Assert.Equal([1u, 2u], Sequences(fullOwner.ExpectMsg<ResponseBatch>(TimeSpan.FromSeconds(3), cancellationToken: Cancellation)));
    }

    private (ReplyForwarder Forwarder, Akka.TestKit.TestProbe Owner) Start(InterceptNodeSettings settings)
    {
        var forwarder = new ReplyForwarder(settings, new InterceptStatistics(), _time, NullLogger<ReplyForwarder>.Instance);
        forwarder.Attach(() => { }, ActorRefs.Nobody);
        var owner = CreateTestProbe();
        forwarder.Post(new ReplyForwarder.Command.Claims(new RouteClaims(owner.Ref, [Session], [])));
        forwarder.EndOfBurst();
        return (forwarder, owner);
    }

    private static uint[] Sequences(ResponseBatch batch) => [.. batch.Records.ToArray().Select(r => r.Sequence)];
}
