using ReplayCluster.Capture.Sessions;
using ReplayCluster.Packets;

namespace ReplayCluster.Capture.Tests.Sessions;

/// <summary>
/// Issue 10, finding 6: a session whose client never sent a byte (a spoofed SYN: the handshake is replayed, nothing
/// follows) ends after the short no-data timeout instead of holding an actor and a target connection for the
/// 10-minute keep-alive timeout; a session that carried data keeps the keep-alive timeout.
/// </summary>
public sealed class ReplaySessionNoDataTests
{
    private static readonly SessionOptions Options = new() { NoDataTimeout = TimeSpan.FromSeconds(15), KeepAliveTimeout = TimeSpan.FromMinutes(10) };

    [Fact]
    public void A_spoofed_syn_ends_after_the_no_data_timeout_and_resets_the_target()
    {
        var harness = new ReplayHarness(Options);
        var start = harness.Time.GetUtcNow();
        new RecordedClient().Syn().CaptureInto(harness);

        harness.Run(TimeSpan.FromSeconds(14));
        Assert.Equal(SessionEndReason.None, harness.Session.EndReason);
        Assert.Equal(1, harness.Target.Connections);
        harness.Run(TimeSpan.FromMinutes(2));
        Assert.Equal(SessionEndReason.NoDataTimeout, harness.Session.EndReason);
        Assert.InRange(harness.Sent[^1].At - start, TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(16));
        Assert.Equal(1, harness.Target.ResetsSeen);
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, harness.Sent[^1].Spec.Flags & (TcpFlags.Rst | TcpFlags.Ack));
    }

    [Fact]
    public void A_completed_handshake_without_data_ends_after_the_no_data_timeout_too()
    {
        var harness = new ReplayHarness(Options);
        new RecordedClient().Syn().HandshakeAck().CaptureInto(harness);
        harness.Run(TimeSpan.FromSeconds(16));
        Assert.Equal(SessionEndReason.NoDataTimeout, harness.Session.EndReason);
    }

    [Fact]
    public void A_session_that_carried_data_waits_for_the_keep_alive_timeout()
    {
        var harness = new ReplayHarness(Options);
        var start = harness.Time.GetUtcNow();
        new RecordedClient().Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).ServerSent(1000).CaptureInto(harness);
        harness.Run(TimeSpan.FromMinutes(15));
        Assert.Equal(SessionEndReason.KeepAliveTimeout, harness.Session.EndReason);
        Assert.InRange(harness.Sent[^1].At - start, TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(10.1));
    }

    [Fact]
    public void The_keep_alive_timeout_bounds_the_no_data_timeout()
    {
        var harness = new ReplayHarness(Options with { KeepAliveTimeout = TimeSpan.FromSeconds(5) });
        new RecordedClient().Syn().CaptureInto(harness);
        harness.Run(TimeSpan.FromSeconds(6));
        Assert.Equal(SessionEndReason.NoDataTimeout, harness.Session.EndReason);
    }
}
