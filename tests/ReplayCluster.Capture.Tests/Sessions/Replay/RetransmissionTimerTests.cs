using ReplayCluster.Capture.Sessions;

namespace ReplayCluster.Capture.Tests.Sessions.Replay;

public sealed class RetransmissionTimerTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.UnixEpoch;
    private static readonly SessionOptions Options = new()
    {
        InitialRto = TimeSpan.FromMilliseconds(200),
        MinRto = TimeSpan.FromMilliseconds(30),
        MaxRto = TimeSpan.FromSeconds(2),
    };

    [Fact]
    public void The_first_sample_sets_srtt_and_rto_per_rfc_6298()
    {
        var timer = new RetransmissionTimer(Options);
        Assert.Equal(TimeSpan.FromMilliseconds(200), timer.Rto);

        timer.TimeSegment(1100, T0);
        timer.OnAcknowledged(1100, T0 + TimeSpan.FromMilliseconds(40));

        // SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR.
        Assert.Equal(TimeSpan.FromMilliseconds(40), timer.Srtt);
        Assert.Equal(TimeSpan.FromMilliseconds(120), timer.Rto);

        // Later samples: RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|, SRTT = 7/8 SRTT + 1/8 R.
        timer.TimeSegment(1200, T0);
        timer.OnAcknowledged(1200, T0 + TimeSpan.FromMilliseconds(80));
        Assert.Equal(TimeSpan.FromMilliseconds(45), timer.Srtt);
        Assert.Equal(TimeSpan.FromMilliseconds(45 + (4 * 25)), timer.Rto);
    }

    [Fact]
    public void Backoff_doubles_up_to_the_bound_and_an_acknowledgment_undoes_it()
    {
        var timer = new RetransmissionTimer(Options);
        timer.TimeSegment(10, T0);
        timer.OnAcknowledged(10, T0 + TimeSpan.FromMilliseconds(10));
        Assert.Equal(TimeSpan.FromMilliseconds(30), timer.Rto);

        for (var i = 0; i < 10; i++)
        {
            timer.Backoff();
        }

        Assert.Equal(TimeSpan.FromSeconds(2), timer.Rto);
        timer.OnAcknowledged(20, T0);
        Assert.Equal(TimeSpan.FromMilliseconds(30), timer.Rto);
    }

    [Fact]
    public void A_connection_without_a_sample_starts_from_what_other_handshakes_took_and_its_own_sample_replaces_it()
    {
        var timer = new RetransmissionTimer(Options);
        timer.StartFrom(TimeSpan.FromMilliseconds(700));
        Assert.Equal(TimeSpan.FromMilliseconds(700), timer.Rto);
        Assert.Equal(TimeSpan.FromMilliseconds(700), timer.Estimate);

        timer.TimeSyn(1, T0);
        Assert.Equal(TimeSpan.FromMilliseconds(40), timer.OnHandshake(T0 + TimeSpan.FromMilliseconds(40)));
        Assert.Equal(TimeSpan.FromMilliseconds(120), timer.Rto);

        // Once it has its own estimate, what others measured changes nothing.
        timer.StartFrom(TimeSpan.FromMilliseconds(900));
        Assert.Equal(TimeSpan.FromMilliseconds(120), timer.Rto);
    }

    [Fact]
    public void A_handshake_after_a_retransmitted_syn_is_sampled_from_the_echo_only()
    {
        var timer = new RetransmissionTimer(Options);
        timer.TimeSyn(1, T0);
        timer.Expire();

        // Karn's rule: the SYN-ACK may answer either SYN.
        Assert.Null(timer.OnHandshake(T0 + TimeSpan.FromMilliseconds(450)));
        Assert.Null(timer.Srtt);

        // The target's timestamp echo says which SYN it answered.
        var echoed = new RetransmissionTimer(Options);
        echoed.TimeSyn(1, T0);
        echoed.Expire();
        Assert.Equal(TimeSpan.FromMilliseconds(450), echoed.OnHandshake(T0 + TimeSpan.FromMilliseconds(450), TimeSpan.FromMilliseconds(450)));
        Assert.Equal(TimeSpan.FromMilliseconds(450), echoed.Srtt);
    }

    [Fact]
    public void Karns_rule_no_sample_from_a_retransmitted_segment()
    {
        var timer = new RetransmissionTimer(Options);
        timer.TimeSegment(10, T0);
        timer.Expire();
        timer.OnAcknowledged(10, T0 + TimeSpan.FromSeconds(1));
        Assert.Null(timer.Srtt);

        timer.TimeSegment(20, T0);
        timer.CancelSample();
        timer.OnAcknowledged(20, T0 + TimeSpan.FromSeconds(1));
        Assert.Null(timer.Srtt);
    }

    [Fact]
    public void Arm_keeps_a_running_timer_restart_moves_it_and_retries_are_bounded()
    {
        var timer = new RetransmissionTimer(Options);
        timer.Arm(T0);
        timer.Arm(T0 + TimeSpan.FromMilliseconds(100));
        Assert.Equal(T0 + TimeSpan.FromMilliseconds(200), timer.Deadline);
        timer.Restart(T0 + TimeSpan.FromMilliseconds(100));
        Assert.Equal(T0 + TimeSpan.FromMilliseconds(300), timer.Deadline);

        Assert.True(timer.TryRetry(2));
        Assert.True(timer.TryRetry(2));
        Assert.False(timer.TryRetry(2));
        timer.ResetConnection();
        Assert.Equal(0, timer.Retries);
        Assert.Null(timer.Deadline);
    }

    [Fact]
    public void The_third_duplicate_ack_calls_for_a_fast_retransmit_once()
    {
        var timer = new RetransmissionTimer(Options);
        Assert.False(timer.OnDuplicateAck());
        Assert.False(timer.OnDuplicateAck());
        Assert.True(timer.OnDuplicateAck());
        Assert.False(timer.OnDuplicateAck());
        timer.OnAcknowledged(1, T0);
        Assert.False(timer.OnDuplicateAck());
    }

    [Fact]
    public void The_handshake_sample_is_taken_once()
    {
        var timer = new RetransmissionTimer(Options);
        timer.TimeSyn(1, T0);
        timer.Restart(T0);
        timer.OnHandshake(T0 + TimeSpan.FromMilliseconds(20));
        Assert.Equal(TimeSpan.FromMilliseconds(20), timer.Srtt);
        Assert.Null(timer.Deadline);

        // The first data ack after it does not sample the SYN again.
        timer.OnAcknowledged(100, T0 + TimeSpan.FromSeconds(1));
        Assert.Equal(TimeSpan.FromMilliseconds(20), timer.Srtt);
    }

    [Fact]
    public void A_deferred_timeout_counts_no_retry_keeps_its_sample_and_ends_at_the_ceiling_from_its_first_deadline()
    {
        var timer = new RetransmissionTimer(Options);
        timer.TimeSyn(1, T0);
        timer.Restart(T0);
        var first = T0 + TimeSpan.FromMilliseconds(200);
        Assert.Equal(first, timer.Deadline);
        Assert.Equal(T0, timer.ArmedAt);

        Assert.True(timer.TryDefer(first + TimeSpan.FromMilliseconds(600), TimeSpan.FromSeconds(1)));
        Assert.Equal(first + TimeSpan.FromMilliseconds(600), timer.Deadline);
        Assert.Equal(T0, timer.ArmedAt);
        Assert.Equal(0, timer.Retries);
        Assert.Equal(TimeSpan.FromMilliseconds(200), timer.Rto);

        // Put off again, the ceiling counts from the first deadline: 1 s after it at most, then no more.
        Assert.True(timer.TryDefer(first + TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(1)));
        Assert.Equal(first + TimeSpan.FromSeconds(1), timer.Deadline);
        Assert.False(timer.TryDefer(first + TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1)));
        Assert.Equal(first + TimeSpan.FromSeconds(1), timer.Deadline);

        // Nothing was sent twice: the answer that comes now is a sample of the whole wait.
        timer.OnHandshake(T0 + TimeSpan.FromMilliseconds(900));
        Assert.Equal(TimeSpan.FromMilliseconds(900), timer.Srtt);
        Assert.Null(timer.Deadline);
    }

    [Fact]
    public void A_restart_forgets_a_deferral_and_a_stopped_timer_is_not_deferred()
    {
        var timer = new RetransmissionTimer(Options);
        Assert.False(timer.TryDefer(T0 + TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1)));

        timer.Restart(T0);
        Assert.True(timer.TryDefer(T0 + TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(1)));
        timer.Restart(T0 + TimeSpan.FromMilliseconds(500));
        Assert.Equal(T0 + TimeSpan.FromMilliseconds(500), timer.ArmedAt);

        // Not later than the deadline: nothing to put off.
        Assert.False(timer.TryDefer(T0 + TimeSpan.FromMilliseconds(700), TimeSpan.FromSeconds(1)));

        // The ceiling counts from the restarted timer's deadline, not from the one put off before.
        Assert.True(timer.TryDefer(T0 + TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(1)));
        Assert.Equal(T0 + TimeSpan.FromMilliseconds(1700), timer.Deadline);
    }
}
