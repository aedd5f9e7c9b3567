using ReplayCluster.Capture.Sessions;

namespace ReplayCluster.Capture.Tests.Sessions.Replay;

public sealed class RequestPacerTests
{
    private const long Ms = 1_000_000;
    private const long Rec = 1_764_000_000_000_000_000;
    private static readonly DateTimeOffset T0 = DateTimeOffset.UnixEpoch;
    private readonly SessionCounters _counters = new();

    [Fact]
    public void Strictly_one_at_a_time_a_request_waits_for_as_much_response_as_the_client_had_seen()
    {
        var pacer = new RequestPacer(new SessionOptions { MaxOutstandingRequests = 1 }, _counters);
        pacer.Anchor(1001, Rec);
        pacer.OnConnected(T0);
        Assert.Equal(PacingRelease.AtOnce, pacer.TryRelease(1001, Rec, true, false, T0));
        pacer.OnFirstSent(Rec, T0);

        // The recorded client waited 1 ms and had seen 500 response bytes; the gap does not count here.
        Assert.True(pacer.NeedsRelease(1501));
        Assert.Equal(PacingRelease.Held, pacer.TryRelease(1501, Rec + Ms, true, false, T0 + At(5)));
        pacer.OnResponseBytes(499, T0 + At(6));
        Assert.Equal(PacingRelease.Held, pacer.TryRelease(1501, Rec + Ms, true, false, T0 + At(6)));
        pacer.OnResponseBytes(1, T0 + At(7));
        Assert.Equal(PacingRelease.Answered, pacer.TryRelease(1501, Rec + Ms, true, false, T0 + At(7)));
        Assert.False(pacer.NeedsRelease(1501));
        Assert.Equal((2, 1, 1), (_counters.RequestsSent, _counters.RequestsReleasedAtOnce, _counters.RequestsReleasedOnAnswer));
    }

    [Fact]
    public void A_shorter_answer_counts_after_silence_and_no_answer_after_the_wait_limit()
    {
        var options = new SessionOptions { MaxOutstandingRequests = 1 };
        var pacer = new RequestPacer(options, _counters);
        pacer.Anchor(1, 0);
        pacer.TryRelease(1, 0, true, false, T0);
        pacer.OnResponseBytes(100, T0 + At(10));

        Assert.Equal(PacingRelease.Held, pacer.TryRelease(1001, 0, true, false, T0 + At(20)));
        Assert.Equal(T0 + At(10) + options.ResponseSilence, pacer.Deadline);

        // Not while our own bytes are unacknowledged: then the target may not even have the request.
        Assert.Equal(PacingRelease.Held, pacer.TryRelease(1001, 0, false, false, T0 + At(100)));
        Assert.Null(pacer.Deadline);
        Assert.Equal(PacingRelease.Silence, pacer.TryRelease(1001, 0, true, false, T0 + At(100)));

        Assert.Equal(PacingRelease.Held, pacer.TryRelease(2001, 0, true, false, T0 + At(200)));
        Assert.Equal(T0 + At(100) + options.ResponseWaitLimit, pacer.Deadline);
        Assert.Equal(PacingRelease.WaitLimit, pacer.TryRelease(2001, 0, true, false, T0 + At(100) + options.ResponseWaitLimit));
        Assert.Equal(1, _counters.ResponseWaitsExpired);
        Assert.Equal(1, _counters.RequestsReleasedAfterSilence);
    }

    [Fact]
    public void The_recorded_gap_releases_a_request_before_its_answer_is_relayed()
    {
        var pacer = new RequestPacer(new SessionOptions { MaxOutstandingRequests = 32, RecordedGapTolerance = TimeSpan.Zero }, _counters);
        pacer.Anchor(1, Rec);
        pacer.OnConnected(T0);
        pacer.TryRelease(1, Rec, true, false, T0);
        pacer.OnFirstSent(Rec + (1 * Ms / 10), T0 + At(3));
        pacer.OnResponseBytes(1, T0 + At(3));

        // Recorded: the next request came 2 ms after the previous one's last byte.
        Assert.Equal(PacingRelease.Held, pacer.TryRelease(1001, Rec + (21 * Ms / 10), false, false, T0 + At(4)));
        Assert.Equal(T0 + At(5), pacer.Deadline);
        Assert.Equal(PacingRelease.RecordedGap, pacer.TryRelease(1001, Rec + (21 * Ms / 10), false, false, T0 + At(5)));
        Assert.Equal(2, pacer.Outstanding);
        Assert.Equal(1, _counters.RequestsReleasedOnRecordedGap);
    }

    [Fact]
    public void A_gap_ending_within_the_timer_grid_goes_at_once_and_a_longer_one_waits()
    {
        // Timers fire on a 10 ms grid: a gap of 2 ms would cost up to 10 ms waiting, so it goes at once.
        var pacer = new RequestPacer(new SessionOptions { MaxOutstandingRequests = 32, RecordedGapTolerance = TimeSpan.FromMilliseconds(10) }, _counters);
        pacer.Anchor(1, Rec);
        pacer.OnConnected(T0);
        pacer.TryRelease(1, Rec, true, false, T0);
        pacer.OnFirstSent(Rec, T0);
        pacer.OnResponseBytes(1, T0);

        Assert.Equal(PacingRelease.RecordedGap, pacer.TryRelease(1001, Rec + (2 * Ms), false, false, T0));
        pacer.OnFirstSent(Rec + (2 * Ms), T0);
        Assert.Equal(PacingRelease.Held, pacer.TryRelease(2001, Rec + (2 * Ms) + (50 * Ms), false, false, T0));
        Assert.Equal(T0 + At(50), pacer.Deadline);
    }

    [Fact]
    public void A_pcap_replayed_at_speed_two_halves_the_recorded_gaps()
    {
        var pacer = new RequestPacer(new SessionOptions { MaxOutstandingRequests = 32, RecordedSpeed = 2, RecordedGapTolerance = TimeSpan.Zero }, _counters);
        pacer.Anchor(1, Rec);
        pacer.TryRelease(1, Rec, true, false, T0);
        pacer.OnFirstSent(Rec, T0);
        pacer.OnResponseBytes(1, T0);

        Assert.Equal(PacingRelease.Held, pacer.TryRelease(1001, Rec + (10 * Ms), false, false, T0));
        Assert.Equal(T0 + At(5), pacer.Deadline);
    }

    [Fact]
    public void Nothing_goes_on_its_gap_before_the_target_answered_on_the_connection()
    {
        // PostgreSQL: SSLRequest, the server's one byte, StartupMessage 0.1 ms later (recorded). Sent on its
        // gap, the StartupMessage would reach the target before the 'N' left it, which ends the session.
        var pacer = new RequestPacer(new SessionOptions { MaxOutstandingRequests = 32 }, _counters);
        pacer.Anchor(1, Rec);
        pacer.OnConnected(T0);
        Assert.Equal(PacingRelease.AtOnce, pacer.TryRelease(1, Rec, true, false, T0));
        pacer.OnFirstSent(Rec, T0);

        Assert.Equal(PacingRelease.Held, pacer.TryRelease(2, Rec + (Ms / 10), true, false, T0 + At(1)));
        Assert.Equal(T0 + new SessionOptions { MaxOutstandingRequests = 32 }.ResponseWaitLimit, pacer.Deadline);
        Assert.Equal(PacingRelease.Held, pacer.TryRelease(2, Rec + (Ms / 10), true, false, T0 + At(2)));
        pacer.OnResponseBytes(1, T0 + At(3));
        Assert.Equal(PacingRelease.Answered, pacer.TryRelease(2, Rec + (Ms / 10), true, false, T0 + At(3)));
        pacer.OnFirstSent(Rec + (Ms / 10), T0 + At(3));

        // Answered once: the next request goes on its gap, ahead of the startup answer.
        Assert.Equal(PacingRelease.RecordedGap, pacer.TryRelease(402, Rec + (11 * Ms / 10), false, false, T0 + At(4)));
        pacer.OnFirstSent(Rec + (11 * Ms / 10), T0 + At(4));

        // A new connection (a reconnect) negotiates again: its first answer is awaited too.
        pacer.OnConnected(T0 + At(10));
        Assert.Equal(PacingRelease.Held, pacer.TryRelease(1402, Rec + (21 * Ms / 10), false, false, T0 + At(20)));
        pacer.OnResponseBytes(1, T0 + At(21));
        Assert.Equal(PacingRelease.RecordedGap, pacer.TryRelease(1402, Rec + (21 * Ms / 10), false, false, T0 + At(21)));
    }

    [Fact]
    public void Without_capture_times_only_answers_release()
    {
        var pacer = new RequestPacer(new SessionOptions { MaxOutstandingRequests = 32 }, _counters);
        pacer.Anchor(1, 0);
        pacer.TryRelease(1, 0, true, false, T0);
        pacer.OnFirstSent(0, T0);
        Assert.Equal(PacingRelease.Held, pacer.TryRelease(1001, 0, false, false, T0 + TimeSpan.FromSeconds(10)));
        Assert.Null(pacer.Deadline);
    }

    [Fact]
    public void No_more_than_the_bound_goes_ahead_of_the_answers()
    {
        var pacer = new RequestPacer(new SessionOptions { MaxOutstandingRequests = 3 }, _counters);
        pacer.Anchor(1, Rec);
        var now = T0;
        pacer.TryRelease(1, Rec, true, false, now);
        pacer.OnFirstSent(Rec, now);
        pacer.OnResponseBytes(1, now);

        // Requests every 1 ms recorded, each answered online with 1000 bytes; the target began the first answer only.
        for (var i = 1; i <= 2; i++)
        {
            now += At(1);
            Assert.Equal(PacingRelease.RecordedGap, pacer.TryRelease(1 + (1000 * (uint)i), Rec + (i * Ms), false, false, now));
            pacer.OnFirstSent(Rec + (i * Ms), now);
        }

        Assert.Equal(3, pacer.Outstanding);
        now += At(1);
        Assert.Equal(PacingRelease.Held, pacer.TryRelease(3001, Rec + (3 * Ms), false, false, now));
        Assert.Equal(PacingRelease.Held, pacer.TryRelease(3001, Rec + (3 * Ms), false, false, now + At(1)));
        Assert.Equal(1, _counters.RequestsHeldAtBound);

        // The first answer arrives: one more may go, and it does at once (its gap passed long ago).
        pacer.OnResponseBytes(999, now + At(2));
        Assert.Equal(2, pacer.Outstanding);
        Assert.Equal(PacingRelease.RecordedGap, pacer.TryRelease(3001, Rec + (3 * Ms), false, false, now + At(2)));

        // All answers in: the next one is released on its answer and the count starts over.
        pacer.OnResponseBytes(3000, now + At(3));
        Assert.Equal(PacingRelease.Answered, pacer.TryRelease(4001, Rec + (4 * Ms), false, false, now + At(3)));
        Assert.Equal(1, pacer.Outstanding);
    }

    [Fact]
    public void A_server_first_protocol_waits_for_the_greeting_and_no_wait_never_waits()
    {
        var pacer = new RequestPacer(new SessionOptions { MaxOutstandingRequests = 32 }, _counters);
        pacer.Anchor(1, 0);
        pacer.OnConnected(T0);
        Assert.Equal(PacingRelease.Held, pacer.TryRelease(121, 0, true, false, T0));
        pacer.OnResponseBytes(120, T0);
        Assert.Equal(PacingRelease.Answered, pacer.TryRelease(121, 0, true, false, T0));

        var noWait = new RequestPacer(new SessionOptions { MaxOutstandingRequests = 32, Pacing = PacingMode.NoWait }, _counters);
        noWait.Anchor(1, 0);
        Assert.Equal(PacingRelease.AtOnce, noWait.TryRelease(121, 0, false, false, T0));
        Assert.Equal(PacingRelease.AtOnce, noWait.TryRelease(99_999, 0, false, false, T0));
    }

    [Fact]
    public void The_fin_passes_the_same_gate_without_counting_as_a_request()
    {
        var pacer = new RequestPacer(new SessionOptions { MaxOutstandingRequests = 32 }, _counters);
        pacer.Anchor(1, 0);
        pacer.TryRelease(1, 0, true, false, T0);
        Assert.Equal(PacingRelease.Held, pacer.TryRelease(1001, 0, true, isFin: true, T0));
        pacer.OnResponseBytes(1000, T0);
        Assert.Equal(PacingRelease.Answered, pacer.TryRelease(1001, 0, true, isFin: true, T0));
        Assert.Equal(1, _counters.RequestsSent);

        pacer.Reset();
        Assert.Equal(0, pacer.Outstanding);
        Assert.True(pacer.NeedsRelease(1001));
    }

    [Fact]
    public void A_pipelined_reset_waits_for_every_answer_and_then_for_the_relay_aware_quiet()
    {
        // Three requests of a keep-alive client, each answered with 1000 bytes online; the client then reset with
        // everything seen (ack 3001). The target's kernel drops what its server has not read when our reset arrives.
        var pacer = TwoRequestsOut(new SessionOptions { MaxOutstandingRequests = 32, RecordedGapTolerance = TimeSpan.Zero });
        pacer.OnFirstSent(Rec + Ms, T0 + At(2));
        Assert.Equal(PacingRelease.RecordedGap, pacer.TryRelease(2001, Rec + (2 * Ms), true, false, T0 + At(3)));
        pacer.OnResponseBytes(999, T0 + At(10));

        // Two answers are still on their way through the relay: a 50 ms pause is no reason to reset.
        Assert.Equal(PacingRelease.Held, pacer.TryReleaseReset(3001, true, T0 + At(70)));
        Assert.Equal(PacingRelease.Held, pacer.TryReleaseReset(3001, true, T0 + At(190)));

        // All answered by byte count, but answers came until just now: quiet first.
        pacer.OnResponseBytes(2000, T0 + At(250));
        Assert.Equal(PacingRelease.Held, pacer.TryReleaseReset(3001, true, T0 + At(260)));
        Assert.Equal(T0 + At(450), pacer.Deadline);
        Assert.Equal(PacingRelease.Answered, pacer.TryReleaseReset(3001, true, T0 + At(450)));
        Assert.Equal(3, _counters.RequestsSent);
    }

    [Fact]
    public void A_reset_with_answers_missing_goes_at_the_wait_limit()
    {
        var options = new SessionOptions { MaxOutstandingRequests = 32, RecordedGapTolerance = TimeSpan.Zero };
        var pacer = TwoRequestsOut(options);

        Assert.Equal(PacingRelease.Held, pacer.TryReleaseReset(2001, true, T0 + At(500)));
        Assert.Equal(T0 + At(2) + options.ResponseWaitLimit, pacer.Deadline);
        Assert.Equal(PacingRelease.Held, pacer.TryReleaseReset(2001, false, T0 + At(2) + options.ResponseWaitLimit));
        Assert.Equal(PacingRelease.WaitLimit, pacer.TryReleaseReset(2001, true, T0 + At(2) + options.ResponseWaitLimit));
    }

    [Fact]
    public void A_reset_waits_past_the_limit_for_answers_still_coming_but_not_for_a_stream_beyond_what_the_client_saw()
    {
        var options = new SessionOptions { MaxOutstandingRequests = 32, RecordedGapTolerance = TimeSpan.Zero };
        var limit = options.ResponseWaitLimit;

        // A slow target: the second answer trickles in (short of the 2001 the client had seen) past the limit.
        var slow = TwoRequestsOut(options);
        slow.OnResponseBytes(500, T0 + At(2) + limit - At(1));
        Assert.Equal(PacingRelease.Held, slow.TryReleaseReset(2001, true, T0 + At(2) + limit));
        Assert.Equal(T0 + At(2) + limit - At(1) + limit, slow.Deadline);

        // A stream: the answers covered what the client had seen and go on; the limit counts from the last release.
        var stream = TwoRequestsOut(options);
        for (var t = 100; t <= 3000; t += 100)
        {
            stream.OnResponseBytes(1000, T0 + At(t));
        }

        Assert.Equal(PacingRelease.WaitLimit, stream.TryReleaseReset(2001, true, T0 + At(2) + limit));
    }

    [Fact]
    public void With_several_requests_out_only_the_relay_aware_silence_releases_the_next()
    {
        var options = new SessionOptions { MaxOutstandingRequests = 2, RecordedGapTolerance = TimeSpan.Zero };
        var pacer = TwoRequestsOut(options);
        pacer.OnFirstSent(Rec + Ms, T0 + At(2));

        // At the bound; 50 ms without answers while two are out is the relay's pause, not a short answer.
        Assert.Equal(PacingRelease.Held, pacer.TryRelease(2001, Rec + (2 * Ms), true, false, T0 + At(60)));
        Assert.Equal(T0 + At(202), pacer.Deadline);
        Assert.Equal(PacingRelease.Silence, pacer.TryRelease(2001, Rec + (2 * Ms), true, false, T0 + At(202)));
    }

    // A keep-pace session (relay-aware silence 200 ms): the first request answered with one byte, the second released
    // on its recorded gap 1 ms later.
    private RequestPacer TwoRequestsOut(SessionOptions options)
    {
        var pacer = new RequestPacer(options, _counters) { OutstandingSilence = At(200) };
        pacer.Anchor(1, Rec);
        pacer.OnConnected(T0);
        Assert.Equal(PacingRelease.AtOnce, pacer.TryRelease(1, Rec, true, false, T0));
        pacer.OnFirstSent(Rec, T0);
        pacer.OnResponseBytes(1, T0 + At(1));
        Assert.Equal(PacingRelease.RecordedGap, pacer.TryRelease(1001, Rec + Ms, true, false, T0 + At(2)));
        return pacer;
    }

    private static TimeSpan At(int milliseconds) => TimeSpan.FromMilliseconds(milliseconds);
}
