using ReplayCluster.Capture.Sessions;

namespace ReplayCluster.Capture.Tests.Sessions.Replay;

public sealed class CloseStateTests
{
    [Fact]
    public void The_clients_fin_is_pending_until_the_target_acknowledges_ours()
    {
        var close = new CloseState();
        close.OnClientFin(500, 2000, capturedAtNanos: 9);
        close.OnClientFin(600, 3000, capturedAtNanos: 10);
        Assert.Equal((500u, 2000u, 9L), (close.ClientFinSeq!.Value, close.ClientFinAck, close.ClientFinCapturedAt));
        Assert.True(close.IsFinDue(500));
        Assert.True(close.FinPending);

        close.OnAcknowledged(501);
        Assert.False(close.FinAcked);
        close.FinSent = true;
        Assert.False(close.IsFinDue(500));
        close.OnAcknowledged(501);
        Assert.True(close.FinAcked);
        Assert.False(close.FinPending);
    }

    [Fact]
    public void A_new_connection_forgets_the_targets_close_and_a_new_client_connection_everything()
    {
        var close = new CloseState { TargetFin = true, TargetGone = true, FinSent = true, ClientReset = true, FinWaitDeadline = DateTimeOffset.UnixEpoch };
        close.OnClientFin(1, 1, 0);
        close.ResetConnection();
        Assert.False(close.TargetFin || close.TargetGone || close.FinSent);
        Assert.Null(close.FinWaitDeadline);
        Assert.True(close.ClientReset);
        Assert.NotNull(close.ClientFinSeq);

        close.Reset();
        Assert.False(close.ClientReset);
        Assert.Null(close.ClientFinSeq);
    }
}
