using Akka.Actor;
using System.Diagnostics;
using Akka.Configuration;
using ReplayCluster.Capture.Sending;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Packets;
using static ReplayCluster.Capture.Tests.Sessions.CaptureNodeRig;

namespace ReplayCluster.Capture.Tests.Sessions;

/// <summary>
/// Sessions on their shard's own thread (<see cref="ShardThreadExecutor"/> dispatchers, as the node runs them): their
/// near timers are the thread's (<see cref="ShardThreadExecutor.Schedule"/>), not Akka's scheduler.
/// </summary>
public sealed class SessionShardThreadSpecs() : Akka.TestKit.Xunit.TestKit(ConfigurationFactory.ParseString(ShardThreadExecutorConfigurator.Hocon(Dispatcher, 1)))
{
    private const string Dispatcher = "session-spec-shard";

    private static readonly OnlineConnection Connection = new(0x0A0B0B02, 40_000, 0x0A0B0B01, 80);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public void An_unanswered_syn_is_retransmitted_on_the_shard_threads_timer_with_backoff_and_the_session_ends_in_syn_timeout()
    {
        var settings = DefaultSettings() with { Session = new SessionOptions { MaxSynRetries = 2, InitialRto = TimeSpan.FromMilliseconds(100), Linger = TimeSpan.Zero } };
        var rig = new CaptureNodeRig(Sys, settings, shards: 1, shardDispatcher: Dispatcher);
        rig.Capture(Connection, Syn(1000));

        AwaitAssert(() => Assert.Equal(1, rig.Statistics.EndedByReason.GetValueOrDefault(SessionEndReason.SynTimeout)), TimeSpan.FromSeconds(5), cancellationToken: Token);
        var segments = rig.Transport.Segments.ToList();
        var senders = rig.Transport.Senders.ToList();
        var syns = Enumerable.Range(0, segments.Count).Where(i => segments[i].Flags == TcpFlags.Syn).ToList();
        Assert.Equal(3, syns.Count);
        Assert.All(syns, i => Assert.Equal(1000u, segments[i].Sequence));

        // Sent by the shard's thread, whose timers brought the retransmissions: RTO, then twice the RTO (less a timer grain).
        var executor = senders[syns[0]].Executor;
        Assert.NotNull(executor);
        Assert.All(senders, s => Assert.Same(executor, s.Executor));
        Assert.True(executor.TimersArmed >= 2, $"{executor.TimersArmed} timers armed on the shard thread");
        // The session arms each timer when it decides to retransmit, and the send follows: a thread preempted between
        // the two delays the first retransmission's send and shortens the measured second interval by as much (189.4
        // and 185.9 ms measured beside the other unit projects). The second timer is due 3 RTOs after the SYN
        // whatever that delay, so the backoff is checked from the SYN: 300 ms, not the 200 of a constant RTO.
        var first = Stopwatch.GetElapsedTime(senders[syns[0]].At, senders[syns[1]].At);
        var second = Stopwatch.GetElapsedTime(senders[syns[1]].At, senders[syns[2]].At);
        Assert.True(first >= TimeSpan.FromMilliseconds(90), $"first retransmission after {first.TotalMilliseconds} ms");
        Assert.True(first + second >= TimeSpan.FromMilliseconds(290), $"second retransmission {(first + second).TotalMilliseconds} ms after the SYN");
        Assert.True(second < TimeSpan.FromSeconds(2), $"second retransmission after {second.TotalMilliseconds} ms");
    }
}
