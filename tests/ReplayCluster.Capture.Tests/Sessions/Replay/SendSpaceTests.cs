using ReplayCluster.Capture.Sessions;

namespace ReplayCluster.Capture.Tests.Sessions.Replay;

public sealed class SendSpaceTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.UnixEpoch;

    [Fact]
    public void A_connection_counts_the_syn_then_data_and_acknowledgments()
    {
        var send = new SendSpace(new SessionOptions());
        send.Reset(high: 1001);
        send.Open(1000);
        Assert.Equal((1000u, 1001u, 1001u), (send.Una, send.Nxt, send.Max));

        send.Established(window: 1000, windowScale: 2);
        Assert.Equal(1001u, send.Una);
        Assert.Equal(1000, send.PeerWindow);
        Assert.Equal(4000, send.Scale(1000));

        send.Advance(500, data: true);
        Assert.Equal(500, send.InFlight);
        Assert.Equal(1501u, send.High);
        Assert.False(send.IsNewAcknowledgment(1001));
        Assert.False(send.IsNewAcknowledgment(1502));
        Assert.True(send.IsNewAcknowledgment(1201));
        Assert.Equal(200, send.Acknowledge(1201));
        Assert.Equal(300, send.InFlight);
    }

    [Fact]
    public void Data_below_the_highest_ever_sent_is_a_resend_also_on_a_new_connection()
    {
        var send = new SendSpace(new SessionOptions());
        send.Reset(high: 101);
        send.Open(100);
        send.Established(65535, 0);
        send.Advance(1000, data: true);
        send.Acknowledge(601);

        // Reconnect one below the first unacknowledged byte: the rest keeps its numbers.
        send.Open(send.Una - 1);
        Assert.Equal(601u, send.Nxt);
        Assert.True(send.IsResend(601));
        Assert.False(send.IsResend(1101));

        // A FIN is not data: it never moves the resend mark.
        send.Established(65535, 0);
        send.Advance(500, data: true);
        send.Advance(1, data: false);
        Assert.Equal(1101u, send.High);
        Assert.Equal(1102u, send.Max);
    }

    [Fact]
    public void A_closed_window_is_probed_with_backoff_up_to_the_max_rto()
    {
        var send = new SendSpace(new SessionOptions { MaxRto = TimeSpan.FromSeconds(1) });
        send.StartPersist(T0, TimeSpan.FromMilliseconds(300));
        send.StartPersist(T0 + TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(300));
        Assert.Equal(T0 + TimeSpan.FromMilliseconds(300), send.PersistDeadline);

        send.NextPersist(T0, stop: false);
        Assert.Equal(T0 + TimeSpan.FromMilliseconds(600), send.PersistDeadline);
        send.NextPersist(T0, stop: false);
        Assert.Equal(T0 + TimeSpan.FromSeconds(1), send.PersistDeadline);

        send.UpdateWindow(10);
        Assert.Null(send.PersistDeadline);
    }

    [Fact]
    public void Mss_is_the_smallest_offered_and_reset_with_the_client_connection()
    {
        var send = new SendSpace(new SessionOptions { Mss = 1460 });
        send.LimitMss(1400);
        send.LimitMss(0);
        send.LimitMss(9000);
        Assert.Equal(1400, send.Mss);
        send.Reset(0);
        Assert.Equal(1460, send.Mss);
    }
}
