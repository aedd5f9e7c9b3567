using ReplayCluster.Capture.Sessions;
using ReplayCluster.Packets;
using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Tests.Sessions;

public sealed class EndedSessionTests
{
    private static readonly SessionEndpoints Endpoints = new(0x0A0C0001, 20_000, 0x0A0B0B01, 80);

    [Fact]
    public void Only_a_syn_with_another_isn_opens_a_new_connection()
    {
        var ended = Ended(clientIsn: 1000, resetAnswerable: false);

        Assert.True(ended.IsNewConnection(new CapturedSegment { Sequence = 7000, Acknowledgment = 0, Flags = TcpFlags.Syn }));
        Assert.False(ended.IsNewConnection(new CapturedSegment { Sequence = 1000, Acknowledgment = 0, Flags = TcpFlags.Syn }));
        Assert.False(ended.IsNewConnection(new CapturedSegment { Sequence = 7000, Acknowledgment = 0, Flags = TcpFlags.Syn | TcpFlags.Ack }));
        Assert.False(ended.IsNewConnection(new CapturedSegment { Sequence = 1001, Acknowledgment = 1, Flags = TcpFlags.Fin | TcpFlags.Ack }));

        // Joined mid-stream: no SYN of its own, so any SYN is a new connection.
        Assert.True(Ended(clientIsn: null, resetAnswerable: false).IsNewConnection(new CapturedSegment { Sequence = 1000, Acknowledgment = 0, Flags = TcpFlags.Syn }));
    }

    [Fact]
    public void A_challenge_of_the_closing_reset_is_answered_once_at_the_sequence_it_names()
    {
        var transport = new CaptureNodeRig.RecordingTransport();
        var ended = Ended(clientIsn: 1000, resetAnswerable: true);

        // Exactly our reset's sequence: sent before the reset arrived. Data or a FIN: not a challenge.
        Assert.False(ended.AnswerLateReply(Reply(TcpFlags.Ack, acknowledgment: 5000), transport));
        Assert.False(ended.AnswerLateReply(Reply(TcpFlags.Ack, acknowledgment: 5003, payload: 10), transport));
        Assert.False(ended.AnswerLateReply(Reply(TcpFlags.Ack | TcpFlags.Fin, acknowledgment: 5003), transport));
        Assert.Empty(transport.Segments);

        Assert.True(ended.AnswerLateReply(Reply(TcpFlags.Ack, acknowledgment: 5003), transport));
        Assert.False(ended.AnswerLateReply(Reply(TcpFlags.Ack, acknowledgment: 5003), transport));
        var reset = Assert.Single(transport.Segments);
        Assert.Equal((TcpFlags.Rst, 5003u, (ushort)0), (reset.Flags, reset.Sequence, reset.Window));
        Assert.Equal((Endpoints.ClientAddress, Endpoints.ClientPort, Endpoints.TargetAddress, Endpoints.TargetPort),
            (reset.SourceAddress, reset.SourcePort, reset.DestinationAddress, reset.DestinationPort));
        Assert.Null(reset.Timestamp);
    }

    [Fact]
    public void A_session_that_ended_without_resetting_an_established_connection_answers_nothing()
    {
        var transport = new CaptureNodeRig.RecordingTransport();
        Assert.False(Ended(clientIsn: 1000, resetAnswerable: false).AnswerLateReply(Reply(TcpFlags.Ack, acknowledgment: 5003), transport));
        Assert.Empty(transport.Segments);
    }

    private static EndedSession Ended(uint? clientIsn, bool resetAnswerable) =>
        new(Endpoints, clientIsn, resetSequence: 5000, resetAnswerable, ipId: 7, DateTimeOffset.UnixEpoch.AddSeconds(6));

    private static ResponseRecord Reply(TcpFlags flags, uint acknowledgment, ushort payload = 0) => new()
    {
        ClientAddress = Endpoints.ClientAddress,
        ClientPort = Endpoints.ClientPort,
        TargetAddress = Endpoints.TargetAddress,
        TargetPort = Endpoints.TargetPort,
        Sequence = 9000,
        Acknowledgment = acknowledgment,
        Window = 1000,
        Flags = (byte)flags,
        PayloadLength = payload,
    };
}
