using ReplayCluster.Capture.Sessions;
using ReplayCluster.Packets;
using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Tests.Sessions;

/// <summary>
/// Resets from the target on an established connection: one that is real (exactly at the next
/// sequence number) makes the session deliver what is still unacknowledged on a new connection, also
/// after the client's own reset; one that is not (RFC 5961) must not end a live session.
/// </summary>
public sealed class ReplaySessionTargetResetTests
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(2);

    [Fact]
    public void A_request_the_target_reset_unread_is_delivered_again_also_after_the_clients_reset()
    {
        // The client sent its request and then reset (as a client closing with unread data does): the
        // online server had the request, so the target must get it although its first connection reset.
        var harness = new ReplayHarness();
        harness.Target.ResetOnFirstData = 1;
        new RecordedClient().Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).ServerSent(1000).Reset().CaptureInto(harness);

        harness.Run(Long);

        Assert.Equal(RecordedClient.HttpRequest(1), harness.Target.ReceivedText);
        Assert.Equal(SessionEndReason.ClientReset, harness.Session.EndReason);
        Assert.Equal(1, harness.Session.Counters.Reconnects);
        Assert.Equal(1, harness.Session.Counters.RequestsDelivered);
        Assert.Equal(2, harness.Target.Connections);
    }

    [Fact]
    public void A_target_that_resets_every_connection_before_reading_is_given_up_after_bounded_reconnects()
    {
        var harness = new ReplayHarness();
        harness.Target.ResetOnFirstData = int.MaxValue;
        new RecordedClient().Syn().HandshakeAck().Request(RecordedClient.HttpRequest(1)).ServerSent(1000).Fin().CaptureInto(harness);

        harness.Run(Long);

        Assert.Equal(SessionEndReason.TargetReset, harness.Session.EndReason);
        Assert.Equal(ReplaySession.MaxResetsWithoutProgress, harness.Session.Counters.Reconnects);
        Assert.Equal(ReplaySession.MaxResetsWithoutProgress + 1, harness.Target.Connections);
        Assert.Empty(harness.Target.ReceivedText);
    }

    [Fact]
    public void Resets_that_acknowledge_progress_in_between_do_not_count_towards_the_bound()
    {
        // Each connection reads one request and resets on the next: every reset leaves a request
        // pending, but each new connection gets further, so the session never gives up.
        var harness = new ReplayHarness();
        harness.Target.CloseAfterRequests = 1;
        var client = RecordedClient.KeepAlive(requests: 6, responseSize: 500);
        client.Fin().CaptureInto(harness, spacing: TimeSpan.FromMilliseconds(1));

        harness.Run(Long);

        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
        Assert.Equal(RecordedClient.HttpRequests(6), harness.Target.ReceivedText);
        Assert.True(harness.Session.Counters.Reconnects >= 5, $"reconnects {harness.Session.Counters.Reconnects}");
    }

    [Fact]
    public void A_late_reset_of_an_earlier_connection_is_ignored_and_the_session_goes_on()
    {
        var harness = new ReplayHarness();
        var client = RecordedClient.KeepAlive(requests: 2, responseSize: 500);
        client.CaptureInto(harness);
        harness.Run(TimeSpan.FromSeconds(1));
        Assert.Equal(RecordedClient.HttpRequests(2), harness.Target.ReceivedText);
        var sentBefore = harness.Sent.Count;

        // Far outside the receive window: the previous incarnation of this 4-tuple.
        harness.Session.OnResponse(Reset(sequence: 0x8000_0000));

        Assert.Equal(sentBefore, harness.Sent.Count);
        Assert.Equal(1, harness.Session.Counters.TargetResetsIgnored);
        harness.Capture(RecordedClient.KeepAlive(requests: 3, responseSize: 500).Segments[^1]);
        harness.Run(Long);
        Assert.Equal(RecordedClient.HttpRequests(3), harness.Target.ReceivedText);
        Assert.Equal(0, harness.Session.Counters.Reconnects);
    }

    [Fact]
    public void An_inexact_reset_in_the_window_gets_a_challenge_ack_and_the_target_confirms_a_real_one()
    {
        var harness = new ReplayHarness();
        RecordedClient.KeepAlive(requests: 1, responseSize: 500).CaptureInto(harness);
        harness.Run(TimeSpan.FromSeconds(1));
        var nxt = harness.Sent[^1].Spec.Acknowledgment;
        var sentBefore = harness.Sent.Count;

        harness.Session.OnResponse(Reset(sequence: nxt + 100));

        var challenge = Assert.Single(harness.Sent.Skip(sentBefore));
        Assert.Equal(TcpFlags.Ack, challenge.Spec.Flags);
        Assert.Equal(nxt, challenge.Spec.Acknowledgment);
        Assert.Equal(1, harness.Session.Counters.TargetResetsIgnored);

        // The exact one ends the connection (nothing pending: the session completes).
        harness.Session.OnResponse(Reset(sequence: nxt));
        Assert.Equal(SessionEndReason.Completed, harness.Session.EndReason);
    }

    private static ResponseRecord Reset(uint sequence) => new()
    {
        ClientAddress = ReplayHarness.Endpoints.ClientAddress,
        ClientPort = ReplayHarness.Endpoints.ClientPort,
        TargetAddress = ReplayHarness.Endpoints.TargetAddress,
        TargetPort = ReplayHarness.Endpoints.TargetPort,
        Sequence = sequence,
        Acknowledgment = 0,
        Window = 0,
        PayloadLength = 0,
        Flags = (byte)TcpFlags.Rst,
        WindowScale = ResponseRecord.NoWindowScale,
    };
}
