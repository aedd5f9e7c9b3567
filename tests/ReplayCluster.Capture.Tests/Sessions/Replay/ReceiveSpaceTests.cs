using ReplayCluster.Capture.Sessions;
using ReplayCluster.Packets;
using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Tests.Sessions.Replay;

public sealed class ReceiveSpaceTests
{
    [Fact]
    public void In_order_bytes_count_once_and_old_ones_are_only_acknowledged()
    {
        var receive = new ReceiveSpace();
        receive.Open(Record(5000, TcpFlags.Syn | TcpFlags.Ack, 0, ts: 7), timestampsOffered: true);
        Assert.True(receive.TimestampsOn);
        Assert.True(receive.NothingReceived);

        Assert.Equal(100, receive.Accept(Record(5001, TcpFlags.Ack, 100, ts: 8), false, out _));
        Assert.True(receive.AckOwed);
        receive.Acknowledged();
        Assert.Equal(8u, receive.TsRecent);

        // A retransmission overlapping what we have counts only its new part.
        Assert.Equal(50, receive.Accept(Record(5051, TcpFlags.Ack, 100, ts: 9), false, out _));
        receive.Acknowledged();
        Assert.Equal(0, receive.Accept(Record(5001, TcpFlags.Ack, 100, ts: 10), false, out _));
        Assert.True(receive.AckOwed);

        // A segment beyond a hole is not taken (the target retransmits in order).
        Assert.Equal(0, receive.Accept(Record(6000, TcpFlags.Ack, 10, ts: 11), false, out _));
        Assert.Equal(5151u, receive.Nxt);
        Assert.Equal(10u, receive.TsRecent);
    }

    [Fact]
    public void The_fin_counts_once_in_order_and_a_repeated_fin_is_acknowledged_again()
    {
        var receive = new ReceiveSpace();
        receive.Open(Record(0, TcpFlags.Syn | TcpFlags.Ack, 0, ts: 1), timestampsOffered: false);
        Assert.False(receive.TimestampsOn);

        receive.Accept(Record(11, TcpFlags.Fin | TcpFlags.Ack, 0, ts: 2), false, out var fin);
        Assert.False(fin);

        receive.Acknowledged();
        receive.Accept(Record(1, TcpFlags.Fin | TcpFlags.Ack, 10, ts: 3), false, out fin);
        Assert.True(fin);
        Assert.True(receive.AckOwed);
        Assert.Equal(12u, receive.Nxt);

        receive.Acknowledged();
        receive.Accept(Record(11, TcpFlags.Fin | TcpFlags.Ack, 0, ts: 4), true, out fin);
        Assert.False(fin);
        Assert.True(receive.AckOwed);
        Assert.Equal(12u, receive.Nxt);
    }

    [Fact]
    public void A_lone_in_order_segment_waits_the_delay_a_second_one_or_a_repeat_is_acknowledged_now()
    {
        var now = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var delay = TimeSpan.FromMilliseconds(40);
        var receive = new ReceiveSpace();
        receive.Open(Record(5000, TcpFlags.Syn | TcpFlags.Ack, 0, ts: 1), timestampsOffered: false);
        Assert.False(receive.AckOwed);

        receive.Accept(Record(5001, TcpFlags.Ack, 100, ts: 2), false, out _);
        Assert.True(receive.AckOwed);
        Assert.False(receive.DecideAck(now, delay));
        Assert.Equal(now + delay, receive.AckDeadline);
        Assert.False(receive.DecideAck(now + TimeSpan.FromMilliseconds(10), delay)); // armed once, not pushed back
        Assert.Equal(now + delay, receive.AckDeadline);

        receive.Accept(Record(5101, TcpFlags.Ack, 100, ts: 3), false, out _);
        Assert.True(receive.DecideAck(now, delay));

        receive.Acknowledged();
        Assert.False(receive.AckOwed);
        Assert.Null(receive.AckDeadline);

        receive.Accept(Record(5001, TcpFlags.Ack, 100, ts: 4), false, out _); // a repeat
        Assert.True(receive.DecideAck(now, delay));
        receive.Acknowledged();

        receive.Accept(Record(5201, TcpFlags.Fin | TcpFlags.Ack, 0, ts: 5), false, out var fin);
        Assert.True(fin);
        Assert.True(receive.DecideAck(now, delay));

        receive.Reset();
        Assert.False(receive.AckOwed);
    }

    private static ResponseRecord Record(uint seq, TcpFlags flags, int length, uint ts) => new()
    {
        ClientAddress = 1,
        ClientPort = 2,
        TargetAddress = 3,
        TargetPort = 4,
        Sequence = seq,
        Acknowledgment = 1,
        Flags = (byte)flags,
        PayloadLength = (ushort)length,
        Window = 65535,
        HasTimestamp = true,
        TsVal = ts,
    };
}
