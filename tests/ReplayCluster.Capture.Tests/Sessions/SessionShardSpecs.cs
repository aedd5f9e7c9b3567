using Akka.Actor;
using Akka.Configuration;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Packets;
using ReplayCluster.Plans;
using ReplayCluster.Protocol;
using static ReplayCluster.Capture.Tests.Sessions.CaptureNodeRig;

namespace ReplayCluster.Capture.Tests.Sessions;

public sealed class SessionShardSpecs() : Akka.TestKit.Xunit.TestKit(SessionMailboxConfig.WithShippedMailbox("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0"))
{
    private static readonly OnlineConnection Connection = new(0x0A0B0B02, 40_000, 0x0A0B0B01, 80);
    private static readonly uint Target = Ipv4Address.Parse("10.251.21.2");

    [Fact]
    public void A_new_connection_gets_a_session_whose_syn_goes_to_the_target_from_a_fake_address()
    {
        var rig = new CaptureNodeRig(Sys, DefaultSettings());
        rig.Capture(Connection, Syn(1000));

        var syn = AwaitSegment(rig, s => s.Flags == TcpFlags.Syn);
        Assert.Equal(Target, syn.DestinationAddress);
        Assert.Equal(80, syn.DestinationPort);
        Assert.Equal(1000u, syn.Sequence);
        Assert.Equal(0x0AC8_0000u, syn.SourceAddress.Ipv4 & 0xFFFF_0000u);
        AwaitAssert(() => Assert.Equal((1, 1), (rig.Statistics.SessionsStarted, rig.Statistics.LiveSessions)), cancellationToken: Token);
    }

    [Fact]
    public async Task Session_actors_run_on_the_session_mailbox()
    {
        var rig = new CaptureNodeRig(Sys, DefaultSettings(), shards: 1);
        rig.Capture(Connection, Syn(1000));
        AwaitSegment(rig, s => s.Flags == TcpFlags.Syn);

        var session = await Sys.ActorSelection(rig.Shards.Refs[0].Path / "*").ResolveOne(TimeSpan.FromSeconds(3), Token);
        Assert.IsType<SessionMessageQueue>(SessionMailboxConfig.QueueOf(session));
    }

    [Fact]
    public void A_client_port_reused_while_its_previous_session_runs_gets_a_second_session_and_identity()
    {
        var rig = new CaptureNodeRig(Sys, DefaultSettings());
        rig.Capture(Connection, Syn(1000));
        rig.Capture(Connection, Syn(1000));
        rig.Capture(Connection, Syn(9_000_000));

        var first = AwaitSegment(rig, s => s.Flags == TcpFlags.Syn && s.Sequence == 1000);
        var second = AwaitSegment(rig, s => s.Flags == TcpFlags.Syn && s.Sequence == 9_000_000);
        Assert.NotEqual((first.SourceAddress, first.SourcePort), (second.SourceAddress, second.SourcePort));
        AwaitAssert(() => Assert.Equal(2, rig.Statistics.SessionsStarted), cancellationToken: Token);
        Assert.DoesNotContain(rig.Transport.Segments, s => (s.Flags & TcpFlags.Rst) != 0);
    }

    [Fact]
    public void Replies_reach_the_session_that_owns_their_endpoints_through_the_shard_that_claimed_it()
    {
        var rig = new CaptureNodeRig(Sys, DefaultSettings());
        rig.Capture(Connection, Syn(1000));
        var syn = AwaitSegment(rig, s => s.Flags == TcpFlags.Syn);

        rig.ShardOf(Connection).Tell(new ResponseBatch([SynAck(syn, 5000)]));

        var ack = AwaitSegment(rig, s => s.Flags == TcpFlags.Ack && s.Acknowledgment == 5001);
        Assert.Equal(1001u, ack.Sequence);
        Assert.Equal(0, rig.Statistics.ResponsesUnmatched);
    }

    [Fact]
    public void A_batch_is_split_into_runs_per_session_and_records_of_no_session_are_counted()
    {
        var rig = new CaptureNodeRig(Sys, DefaultSettings(), shards: 1);
        var other = Connection with { ClientPort = 40_001 };
        rig.Capture(Connection, Syn(1000));
        rig.Capture(other, Syn(2000));
        var first = AwaitSegment(rig, s => s.Flags == TcpFlags.Syn && s.Sequence == 1000);
        var second = AwaitSegment(rig, s => s.Flags == TcpFlags.Syn && s.Sequence == 2000);
        var stranger = SynAck(first, 1) with { ClientPort = 9 };

        // Each session takes its run of the batch as one turn: the same SYN-ACK twice (the target repeated it before our
        // ACK left) is answered by one ACK, and the other session's follows.
        rig.Shards.Refs[0].Tell(new ResponseBatch([SynAck(first, 5000), SynAck(first, 5000), stranger, SynAck(second, 7000)]));

        AwaitSegment(rig, s => s.Flags == TcpFlags.Ack && s.Acknowledgment == 5001);
        AwaitSegment(rig, s => s.Flags == TcpFlags.Ack && s.Acknowledgment == 7001);
        Assert.Single(rig.Transport.Segments, s => s.Flags == TcpFlags.Ack && s.Acknowledgment == 5001);
        Assert.Equal(1, rig.Statistics.ResponsesUnmatched);
    }

    [Fact]
    public void New_sessions_are_refused_while_the_node_buffer_budget_is_exhausted()
    {
        var rig = new CaptureNodeRig(Sys, DefaultSettings(maxNodeBufferedBytes: 1 << 20));
        rig.Capture(Connection, Syn(999));
        rig.Capture(Connection, new CapturedSegment { Sequence = 1000, Acknowledgment = 1, Flags = TcpFlags.Ack, Payload = new byte[1 << 20] });
        AwaitAssert(() => Assert.Equal(1 << 20, rig.Statistics.Budget!.Used), cancellationToken: Token);

        rig.Capture(Connection with { ClientPort = 40_001 }, Syn(2000));

        AwaitAssert(() => Assert.Equal(1, rig.Statistics.SessionsRefusedMemory), cancellationToken: Token);
        Assert.Equal(1, rig.Statistics.SessionsStarted);
    }

    [Fact]
    public void A_burst_reaches_its_shards_only_when_it_ends_each_connection_in_order_and_a_full_queue_refuses_the_rest()
    {
        var rig = new CaptureNodeRig(Sys, DefaultSettings(), shards: 2, queueLimit: 3);
        var ports = Enumerable.Range(41_000, 40).Select(p => (ushort)p).ToList();
        var staged = new List<ushort>();
        var refused = 0;
        foreach (var port in ports)
        {
            var connection = Connection with { ClientPort = port };
            if (rig.Shards.TryStage(rig.PacketOf(connection, Syn(port))))
            {
                staged.Add(port);
            }
            else
            {
                refused++;
            }
        }

        // Three per shard fit, the rest are refused; the staged ones count as queued and nothing is sent yet.
        Assert.Equal(6, staged.Count);
        Assert.Equal(34, refused);
        Assert.Equal(6, rig.Shards.QueuedPackets);
        ExpectNoMsg(TimeSpan.FromMilliseconds(200), Token);
        Assert.Empty(rig.Transport.Segments);

        rig.Shards.Flush();
        foreach (var port in staged)
        {
            AwaitSegment(rig, s => s.Flags == TcpFlags.Syn && s.Sequence == port);
        }

        AwaitAssert(() => Assert.Equal((0L, 6L), (rig.Shards.QueuedPackets, rig.Statistics.SessionsStarted)), cancellationToken: Token);

        // A SYN and the request after it in one burst reach their session in that order.
        var next = Connection with { ClientPort = 42_000 };
        rig.Stage(next, Syn(5000));
        rig.Stage(next, new CapturedSegment { Sequence = 5001, Acknowledgment = 1, Flags = TcpFlags.Ack | TcpFlags.Psh, Payload = "GET / HTTP/1.1\r\n\r\n"u8.ToArray() });
        rig.Shards.Flush();
        AwaitSegment(rig, s => s.Flags == TcpFlags.Syn && s.Sequence == 5000);
        AwaitAssert(() => Assert.Equal(7L, rig.Statistics.SessionsStarted), cancellationToken: Token);
    }

    [Fact]
    public void Beyond_the_live_session_ceiling_new_sessions_are_refused_and_counted_until_one_ends()
    {
        var rig = new CaptureNodeRig(Sys, DefaultSettings(maxLiveSessions: 2));
        for (ushort port = 41_000; port < 41_004; port++)
        {
            rig.Capture(Connection with { ClientPort = port }, Syn(port));
        }

        AwaitAssert(() => Assert.Equal((2, 2L), (rig.Statistics.SessionsRefusedCeiling, rig.Statistics.SessionsStarted)), cancellationToken: Token);
        Assert.Equal(2, rig.Limits.LiveSessions);
    }

    [Fact]
    public void A_failing_session_is_stopped_and_counted_and_the_others_go_on()
    {
        var rig = new CaptureNodeRig(Sys, DefaultSettings());
        rig.Transport.FailForSourcePort = 40_000;
        rig.Capture(Connection, Syn(1000));
        AwaitAssert(() => Assert.Equal(1, rig.Statistics.SessionsFailed), cancellationToken: Token);
        AwaitAssert(() => Assert.Equal(1, rig.Statistics.EndedByReason.GetValueOrDefault(SessionEndReason.Aborted)), cancellationToken: Token);

        rig.Capture(Connection with { ClientPort = 40_001 }, Syn(2000));
        AwaitSegment(rig, s => s.Flags == TcpFlags.Syn && s.Sequence == 2000);

        // Stopped, not restarted (a restart would send the failed session's SYN again), and its
        // connection at the target reset on the way out; its identity and live slot given back.
        var failed = rig.Transport.Segments.Where(s => s.SourcePort == 40_000).ToList();
        Assert.DoesNotContain(failed, s => s.Flags == TcpFlags.Syn);
        Assert.Contains(failed, s => (s.Flags & TcpFlags.Rst) != 0);
        AwaitAssert(() => Assert.Equal(1, rig.Statistics.LiveSessions), cancellationToken: Token);
    }

    [Fact]
    public void Every_copy_of_a_session_goes_out_from_its_own_identity_and_gets_every_segment()
    {
        var rig = new CaptureNodeRig(Sys, DefaultSettings(copies: 3));
        rig.Capture(Connection, Syn(1000));

        // Nobody answers, so SYNs are retransmitted: count identities, not SYNs.
        AwaitCondition(() => rig.Transport.Segments.Count(s => s.Flags == TcpFlags.Syn) >= 3, TimeSpan.FromSeconds(5), cancellationToken: Token);
        var identities = rig.Transport.Segments.Where(s => s.Flags == TcpFlags.Syn).Select(s => (s.SourceAddress, s.SourcePort)).ToList();
        Assert.Equal(3, identities.Distinct().Count());
        Assert.All(rig.Transport.Segments.Where(s => s.Flags == TcpFlags.Syn), s => Assert.Equal(1000u, s.Sequence));
        Assert.Equal(3, rig.Statistics.SessionsStarted);
    }

    [Fact]
    public void Sessions_left_out_by_sampling_stay_out_with_all_their_packets()
    {
        var rig = new CaptureNodeRig(Sys, DefaultSettings(samplePercent: 0.001));
        rig.Capture(Connection, Syn(1000));
        rig.Capture(Connection, new CapturedSegment { Sequence = 1001, Acknowledgment = 5, Flags = TcpFlags.Ack, Payload = new byte[10] });

        AwaitAssert(() => Assert.Equal(1, rig.Statistics.SessionsSkipped), cancellationToken: Token);
        AwaitAssert(() => Assert.Equal(0, rig.Shards.QueuedPackets), cancellationToken: Token);
        Assert.Equal(0, rig.Statistics.SessionsStarted);
        Assert.Empty(rig.Transport.Segments);
    }

    [Fact]
    public void A_plan_change_applies_to_sessions_started_after_it_without_a_restart()
    {
        var rig = new CaptureNodeRig(Sys, DefaultSettings());
        rig.Capture(Connection, Syn(1000));
        AwaitAssert(() => Assert.Equal(1, rig.Statistics.SessionsStarted), cancellationToken: Token);

        rig.PlanFollower.Tell(new ReplayPlanAssigned(2, new ReplayPlan { Copies = 3, IdleTimeout = TimeSpan.FromSeconds(7) }, null), rig.Coordinator);
        AwaitAssert(() => Assert.Equal(2, rig.Plan.Current.Version), cancellationToken: Token);
        rig.Capture(Connection with { ClientPort = 40_001 }, Syn(2000));

        AwaitAssert(() => Assert.Equal(4, rig.Statistics.SessionsStarted), cancellationToken: Token);
        // The shard counts a session as started when it hands it its first packet; the copies send their SYNs after,
        // each from its own client identity. Counted by identity: nothing answers them here, so on a loaded machine
        // they may be retransmitted before this looks (15 SYNs for the 3 copies, once in a full suite).
        AwaitAssert(() => Assert.Equal(3, rig.Transport.Segments.Where(s => s.Flags == TcpFlags.Syn && s.Sequence == 2000)
            .Select(s => (s.SourceAddress, s.SourcePort)).Distinct().Count()), cancellationToken: Token);
        Assert.Equal(2, rig.Statistics.PlanVersion);
        Assert.Equal((3, TimeSpan.FromSeconds(7)), (rig.Plan.Current.Copies, rig.Plan.Current.Session.IdleTimeout));
        Assert.Equal(rig.Settings.Session.KeepAliveTimeout, rig.Plan.Current.Session.KeepAliveTimeout);
    }

    [Fact]
    public void Over_the_rate_cap_whole_sessions_are_left_out_and_counted()
    {
        var rig = new CaptureNodeRig(Sys, DefaultSettings());
        rig.PlanFollower.Tell(new ReplayPlanAssigned(2, new ReplayPlan { RateCap = 1 }, RateCapShare: 1), rig.Coordinator);
        AwaitAssert(() => Assert.Equal(2, rig.Plan.Current.Version), cancellationToken: Token);
        for (ushort port = 41_000; port < 41_010; port++)
        {
            rig.Capture(Connection with { ClientPort = port }, Syn(port));
            rig.Capture(Connection with { ClientPort = port }, new CapturedSegment { Sequence = port + 1u, Acknowledgment = 5, Flags = TcpFlags.Ack, Payload = new byte[10] });
        }

        AwaitAssert(() => Assert.Equal(10, rig.Statistics.SessionsStarted + rig.Statistics.SessionsRateLimited), cancellationToken: Token);

        // One token to start with, one more a second: the burst of ten gets one or two sessions.
        Assert.InRange(rig.Statistics.SessionsStarted, 1, 2);
        Assert.Equal(0, rig.Statistics.SessionsWithoutIdentity);
        AwaitAssert(() => Assert.Equal(0, rig.Shards.QueuedPackets), cancellationToken: Token);
        Assert.InRange(rig.Limits.LiveSessions, 1, 2);
    }

    [Fact]
    public void An_ended_session_counts_its_unacknowledged_requests_as_lost_and_a_live_one_as_in_flight()
    {
        var rig = new CaptureNodeRig(Sys, DefaultSettings() with { Session = new SessionOptions { MaxSynRetries = 1, InitialRto = TimeSpan.FromMilliseconds(50), Linger = TimeSpan.FromMinutes(1) } });
        rig.Capture(Connection, Syn(1000));
        rig.Capture(Connection, new CapturedSegment { Sequence = 1001, Acknowledgment = 1, Flags = TcpFlags.Ack | TcpFlags.Psh, Payload = "GET / HTTP/1.1\r\n\r\n"u8.ToArray() });

        // The target never answers: the SYN gives up after one retransmission, and its request is lost.
        AwaitAssert(() => Assert.Equal(1, rig.Statistics.RequestsLostByReason.GetValueOrDefault(SessionEndReason.SynTimeout)), TimeSpan.FromSeconds(5), cancellationToken: Token);
        Assert.Equal((1L, 0L, 0L), (rig.Statistics.Sessions.RequestsCaptured, rig.Statistics.Sessions.RequestsDelivered, rig.Statistics.RequestsInFlight));

        // Counted when the session ended, not when its linger is over: the request is not in flight any more, and the
        // session not live (its shard keeps what the linger needs, and its identity).
        AwaitAssert(() => Assert.Equal(0, rig.Statistics.LiveSessions), TimeSpan.FromSeconds(5), cancellationToken: Token);
        Assert.Equal(1, rig.Identities.Mapper!.InUse);
        var counters = rig.Statistics.ToCounters();
        Assert.Equal(1, counters["requests_lost"]);
        Assert.Equal(1, counters["requests_lost_syntimeout"]);
        Assert.Contains("requests_lost=1 (syntimeout=1)", rig.Statistics.Summary(), StringComparison.Ordinal);
    }

    [Fact]
    public void Live_capture_measures_each_segment_from_its_capture_timestamp_to_its_session()
    {
        var rig = new CaptureNodeRig(Sys, DefaultSettings());
        rig.Statistics.CapturingLive = true;
        var capturedAt = DateTimeOffset.UtcNow - TimeSpan.FromMilliseconds(3);
        rig.Capture(Connection, Syn(1000) with { CapturedAtNanos = (capturedAt - DateTimeOffset.UnixEpoch).Ticks * 100 });

        AwaitAssert(() => Assert.Equal(1, rig.Statistics.ToCounters()["capture_latency_us_count"]), cancellationToken: Token);
        var counters = rig.Statistics.ToCounters();
        Assert.Equal(0, counters["capture_latency_us_le_2000"]);
        Assert.True(counters["capture_latency_us_sum"] >= 3000, $"sum {counters["capture_latency_us_sum"]} µs");
    }

    [Fact]
    public void An_idle_sessions_keep_alive_deadline_is_met_by_its_shards_wake_ups_and_the_session_then_stops()
    {
        // Ten minutes ahead: no scheduled tick waits for it, only the shard's wake-ups (scanned every second).
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        var rig = new CaptureNodeRig(Sys, DefaultSettings(), shards: 1, sessionTime: time);
        rig.Capture(Connection, Syn(1000));
        var syn = AwaitSegment(rig, s => s.Flags == TcpFlags.Syn);
        rig.Shards.Refs[0].Tell(new ResponseBatch([SynAck(syn, 5000)]));
        AwaitSegment(rig, s => s.Flags == TcpFlags.Ack && s.Acknowledgment == 5001);

        // The client carried a request, acknowledged: an idle keep-alive session (one that never sent a byte ends
        // after the 15 s no-data timeout instead).
        rig.Capture(Connection, new CapturedSegment { Sequence = 1001, Acknowledgment = 1, Flags = TcpFlags.Ack | TcpFlags.Psh, Payload = new byte[10] });
        var request = AwaitSegment(rig, s => (s.Flags & TcpFlags.Psh) != 0);
        rig.Shards.Refs[0].Tell(new ResponseBatch([SynAck(syn, 5000) with { Sequence = 5001, Acknowledgment = request.Sequence + 10, Flags = (byte)TcpFlags.Ack }]));

        // Past the progress report (a near tick); the session is idle and established then.
        time.Advance(TimeSpan.FromSeconds(1));
        AwaitAssert(() => Assert.True(rig.Statistics.Sessions.SegmentsSent >= 2), cancellationToken: Token);
        Assert.Equal(0, rig.Statistics.EndedByReason.GetValueOrDefault(SessionEndReason.KeepAliveTimeout));

        time.Advance(DefaultSettings().Session.KeepAliveTimeout);
        AwaitAssert(() => Assert.Equal(1, rig.Statistics.EndedByReason.GetValueOrDefault(SessionEndReason.KeepAliveTimeout)), TimeSpan.FromSeconds(5),
            cancellationToken: Token);
        Assert.Contains(rig.Transport.Segments, s => (s.Flags & TcpFlags.Rst) != 0);
        AwaitAssert(() => Assert.Equal(0, rig.Statistics.LiveSessions), TimeSpan.FromSeconds(5), cancellationToken: Token);
    }

    [Fact]
    public async Task An_ended_session_lingers_in_its_shard_without_its_actor_absorbing_late_packets_and_answering_a_challenged_reset()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        var rig = new CaptureNodeRig(Sys, DefaultSettings(), shards: 1, sessionTime: time);
        var shard = rig.Shards.Refs[0];
        rig.Capture(Connection, Syn(1000));
        var syn = AwaitSegment(rig, s => s.Flags == TcpFlags.Syn);
        shard.Tell(new ResponseBatch([SynAck(syn, 5000)]));
        AwaitSegment(rig, s => s.Flags == TcpFlags.Ack && s.Acknowledgment == 5001);
        var data = new CapturedSegment { Sequence = 1001, Acknowledgment = 1, Flags = TcpFlags.Ack | TcpFlags.Psh, Payload = new byte[10] };
        rig.Capture(Connection, data);
        var request = AwaitSegment(rig, s => (s.Flags & TcpFlags.Psh) != 0);
        shard.Tell(new ResponseBatch([SynAck(syn, 5000) with { Sequence = 5001, Acknowledgment = request.Sequence + 10, Flags = (byte)TcpFlags.Ack }]));
        time.Advance(TimeSpan.FromSeconds(1));
        AwaitAssert(() => Assert.True(rig.Statistics.Sessions.SegmentsSent >= 2), cancellationToken: Token);

        // The keep-alive timeout ends it with a reset of the target's connection.
        time.Advance(DefaultSettings().Session.KeepAliveTimeout);
        var reset = AwaitSegment(rig, s => (s.Flags & TcpFlags.Rst) != 0);
        AwaitAssert(() => Assert.Equal(0, rig.Statistics.LiveSessions), TimeSpan.FromSeconds(5), cancellationToken: Token);
        Assert.Equal(1, rig.Identities.Mapper!.InUse);
        var actors = await ChildrenOf(shard);
        Assert.Single(actors);

        // Late client packets (the request again, a copy of the SYN): absorbed, no session started, nothing sent.
        rig.Capture(Connection, data);
        rig.Capture(Connection, Syn(1000));

        // The target challenges the reset (a plain ACK naming another sequence number): the reset goes again at that
        // sequence number, once; the same challenge again is only late.
        var sent = rig.Transport.Segments.Count;
        var challenge = SynAck(syn, 5000) with { Sequence = 5001, Acknowledgment = reset.Sequence + 7, Flags = (byte)TcpFlags.Ack };
        shard.Tell(new ResponseBatch([challenge]));
        shard.Tell(new ResponseBatch([challenge]));
        var answer = AwaitSegment(rig, s => s.Flags == TcpFlags.Rst && s.Sequence == reset.Sequence + 7);
        Assert.Equal((syn.SourceAddress, syn.SourcePort), (answer.SourceAddress, answer.SourcePort));
        AwaitAssert(() => Assert.Equal((3L, 1L), (rig.Statistics.Sessions.LatePacketsAbsorbed, rig.Statistics.Sessions.StaleConnectionsReset)),
            TimeSpan.FromSeconds(5), cancellationToken: Token);
        Assert.Equal(sent + 1, rig.Transport.Segments.Count);
        Assert.Equal((1L, 0L), (rig.Statistics.SessionsStarted, rig.Statistics.ResponsesUnmatched));

        // A new SYN on the client's port is a new connection: a new session on another identity, on the same actor.
        rig.Capture(Connection, Syn(9000));
        var nextSyn = AwaitSegment(rig, s => s.Flags == TcpFlags.Syn && s.Sequence == 9000);
        Assert.NotEqual((syn.SourceAddress, syn.SourcePort), (nextSyn.SourceAddress, nextSyn.SourcePort));
        Assert.Equal(2L, rig.Statistics.SessionsStarted);
        Assert.Equal(actors, await ChildrenOf(shard));

        // The linger (6 s) over, the ended session's identity is free and its replies are nobody's.
        time.Advance(DefaultSettings().Session.Linger + TimeSpan.FromSeconds(1));
        AwaitAssert(() => Assert.Equal(1, rig.Identities.Mapper!.InUse), TimeSpan.FromSeconds(5), cancellationToken: Token);
        shard.Tell(new ResponseBatch([challenge]));
        AwaitAssert(() => Assert.Equal(1L, rig.Statistics.ResponsesUnmatched), TimeSpan.FromSeconds(5), cancellationToken: Token);
    }

    [Fact]
    public async Task A_finished_sessions_actor_serves_the_next_connection_and_ignores_what_was_meant_for_its_old_session()
    {
        // No answer: the SYN gives up after one retransmission; no linger, so the session finishes at once.
        var settings = DefaultSettings() with { Session = new SessionOptions { MaxSynRetries = 1, InitialRto = TimeSpan.FromMilliseconds(200), Linger = TimeSpan.Zero } };
        var rig = new CaptureNodeRig(Sys, settings, shards: 1);
        rig.Capture(Connection, Syn(1000));
        var firstSyn = AwaitSegment(rig, s => s.Flags == TcpFlags.Syn && s.Sequence == 1000);
        AwaitAssert(() => Assert.Equal((1, 0L), (rig.Statistics.EndedByReason.GetValueOrDefault(SessionEndReason.SynTimeout), rig.Statistics.LiveSessions)),
            TimeSpan.FromSeconds(5), cancellationToken: Token);
        var pooled = await Sys.ActorSelection(rig.Shards.Refs[0].Path / "*").ResolveOne(TimeSpan.FromSeconds(3), Token);

        // A late packet of the finished session, delivered to its old actor: dropped, not a failure, nothing sent.
        var sent = rig.Transport.Segments.Count;
        pooled.Tell(rig.PacketOf(Connection, new CapturedSegment { Sequence = 1001, Acknowledgment = 1, Flags = TcpFlags.Ack | TcpFlags.Psh, Payload = new byte[10] }));
        pooled.Tell(SessionActor.Tick.Wake);

        // The next connection gets the same actor (still the shard's only child), started anew with its own SYN.
        var next = Connection with { ClientPort = 40_001 };
        rig.Capture(next, Syn(7000));
        var nextSyn = AwaitSegment(rig, s => s.Flags == TcpFlags.Syn && s.Sequence == 7000);

        // Its replies reach it (before its own SYN timeout); the old session's endpoints are nobody's any more.
        rig.Shards.Refs[0].Tell(new ResponseBatch([SynAck(nextSyn, 5000), SynAck(firstSyn, 9000)]));
        AwaitSegment(rig, s => s.Flags == TcpFlags.Ack && s.Acknowledgment == 5001 && s.SourcePort == nextSyn.SourcePort);
        Assert.Equal(1, rig.Statistics.ResponsesUnmatched);
        Assert.Equal((2L, 1L), (rig.Statistics.SessionsStarted, rig.Statistics.LiveSessions));

        var children = await ChildrenOf(rig.Shards.Refs[0]);
        Assert.Equal([pooled], children);
        Assert.All(rig.Transport.Segments.Skip(sent), s => Assert.Equal((nextSyn.SourceAddress, nextSyn.SourcePort), (s.SourceAddress, s.SourcePort)));
        Assert.DoesNotContain(rig.Transport.Segments, s => (s.Flags & TcpFlags.Psh) != 0);
        Assert.Equal(0, rig.Statistics.SessionsFailed);
        Assert.Equal(1, rig.Statistics.ResponsesUnmatched);
        Assert.Equal((2L, 1L), (rig.Statistics.SessionsStarted, rig.Statistics.LiveSessions));
    }

    [Fact]
    public async Task Sessions_at_once_get_actors_of_their_own_and_finished_ones_are_reused_one_for_one()
    {
        var settings = DefaultSettings() with { Session = new SessionOptions { MaxSynRetries = 0, InitialRto = TimeSpan.FromMilliseconds(50), Linger = TimeSpan.Zero } };
        var rig = new CaptureNodeRig(Sys, settings, shards: 1);
        for (ushort port = 41_000; port < 41_003; port++)
        {
            rig.Capture(Connection with { ClientPort = port }, Syn(port));
        }

        AwaitAssert(() => Assert.Equal((3, 0L), (rig.Statistics.EndedByReason.GetValueOrDefault(SessionEndReason.SynTimeout), rig.Statistics.LiveSessions)),
            TimeSpan.FromSeconds(5), cancellationToken: Token);
        var first = await ChildrenOf(rig.Shards.Refs[0]);
        Assert.Equal(3, first.Count);

        for (ushort port = 42_000; port < 42_004; port++)
        {
            rig.Capture(Connection with { ClientPort = port }, Syn(port));
        }

        AwaitAssert(() => Assert.Equal(7, rig.Statistics.EndedByReason.GetValueOrDefault(SessionEndReason.SynTimeout)), TimeSpan.FromSeconds(5), cancellationToken: Token);
        var second = await ChildrenOf(rig.Shards.Refs[0]);
        Assert.Equal(4, second.Count);
        Assert.Subset(second.ToHashSet(), first.ToHashSet());
        Assert.Equal(7, rig.Transport.Segments.Count(s => s.Flags == TcpFlags.Syn));
    }

    private async Task<List<IActorRef>> ChildrenOf(IActorRef shard)
    {
        var identities = new List<IActorRef>();
        var probe = CreateTestProbe();
        Sys.ActorSelection(shard.Path / "*").Tell(new Identify("children"), probe.Ref);
        while (await probe.ReceiveOneAsync(TimeSpan.FromMilliseconds(500), Token) is ActorIdentity { Subject: { } child })
        {
            identities.Add(child);
        }

        return identities;
    }

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static ResponseRecord SynAck(TcpSegmentSpec syn, uint isn) => new()
    {
        ClientAddress = syn.SourceAddress, ClientPort = syn.SourcePort, TargetAddress = syn.DestinationAddress, TargetPort = syn.DestinationPort,
        Sequence = isn, Acknowledgment = syn.Sequence + 1, Window = 65535, Flags = (byte)(TcpFlags.Syn | TcpFlags.Ack), PayloadLength = 0, Mss = 1460,
    };

    private TcpSegmentSpec AwaitSegment(CaptureNodeRig rig, Func<TcpSegmentSpec, bool> match)
    {
        TcpSegmentSpec found = default;
        AwaitCondition(() => rig.Transport.Segments.Any(s => match(s) && (found = s) == s), TimeSpan.FromSeconds(5), cancellationToken: Token);
        return found;
    }
}
