using System.Text;
using ReplayCluster.Capture.Sessions;

namespace ReplayCluster.Capture.Tests.Sessions;

public sealed class CapturedStreamTests
{
    private readonly SessionCounters _counters = new();
    private readonly BufferBudget _budget = new(long.MaxValue);

    [Fact]
    public void Overlaps_and_retransmissions_keep_only_new_bytes_in_order()
    {
        var stream = NewStream(start: 100);
        stream.Insert(110, "klmno"u8.ToArray(), 1, floor: 100, _counters);
        stream.Insert(100, "abcdefghij"u8.ToArray(), 1, floor: 100, _counters);
        stream.Insert(105, "fghijklm"u8.ToArray(), 1, floor: 100, _counters);
        stream.Insert(95, "xxxxxab"u8.ToArray(), 1, floor: 100, _counters);

        Assert.Equal("abcdefghijklmno", Text(stream, 100, 115));
        Assert.Equal(115u, stream.ContiguousEnd);
        Assert.Equal(15, stream.BufferedBytes);
        Assert.Equal(8 + 7, _counters.ClientDuplicateBytes);
        Assert.Equal(15, _budget.Used);
    }

    [Fact]
    public void A_gap_is_reported_until_it_is_filled_or_skipped()
    {
        var stream = NewStream(start: 0);
        stream.Insert(0, "aaaa"u8.ToArray(), 1, 0, _counters);
        stream.Insert(8, "cccc"u8.ToArray(), 1, 0, _counters);
        Assert.True(stream.IsStalledAtGap(4));
        Assert.Equal(4u, stream.ContiguousEnd);

        stream.SkipTo(8);
        Assert.Equal(12u, stream.ContiguousEnd);
        Assert.False(stream.IsStalledAtGap(12));
    }

    [Fact]
    public void A_new_request_starts_where_the_clients_ack_moves()
    {
        var stream = NewStream(start: 0);
        stream.Insert(0, "GET /1 "u8.ToArray(), capturedAck: 1, 0, _counters);
        stream.Insert(7, "GET /2 "u8.ToArray(), capturedAck: 1, 0, _counters);
        stream.Insert(14, "GET /3 "u8.ToArray(), capturedAck: 500, 0, _counters);

        Assert.Equal(2, _counters.RequestsCaptured);
        stream.ReleaseUpTo(14, _counters);
        Assert.Equal(1, _counters.RequestsDelivered);
        stream.ReleaseUpTo(21, _counters);
        Assert.Equal(2, _counters.RequestsDelivered);
        Assert.True(stream.IsEmpty);
        Assert.Equal(0, _budget.Used);
    }

    [Fact]
    public void A_keep_alive_stream_emptied_after_every_request_keeps_one_small_list()
    {
        // 1,000 requests one after the other, each acknowledged before the next: the list starts over when
        // emptied instead of growing at its end until a compaction.
        var stream = NewStream(start: 0);
        uint seq = 0;
        for (var i = 0; i < 1000; i++)
        {
            var request = Encoding.ASCII.GetBytes($"GET /{i} ");
            stream.Insert(seq, request, capturedAck: (uint)(i + 1), floor: seq, _counters);
            Assert.Equal(seq + (uint)request.Length, stream.ContiguousEnd);
            seq += (uint)request.Length;
            stream.ReleaseUpTo(seq, _counters);
            Assert.True(stream.IsEmpty);
        }

        Assert.Equal(1000, _counters.RequestsDelivered);
        Assert.Equal(0, _budget.Used);
        Assert.InRange(stream.Capacity, 1, 4);

        // A partial release keeps what is left in order, and the next insert continues behind it.
        stream.Insert(seq, "abcd"u8.ToArray(), 2000, seq, _counters);
        stream.Insert(seq + 4, "efgh"u8.ToArray(), 2000, seq, _counters);
        stream.ReleaseUpTo(seq + 4, _counters);
        stream.Insert(seq + 8, "ijkl"u8.ToArray(), 2001, seq + 4, _counters);
        Assert.Equal("efghijkl", Text(stream, seq + 4, seq + 12));
        Assert.Equal(8, stream.BufferedBytes);
    }

    [Fact]
    public void A_stream_that_always_holds_the_next_request_when_one_is_acknowledged_stays_small_and_in_order()
    {
        // A keep-alive client whose next request is captured before the target acknowledged the one before.
        var stream = NewStream(start: 0);
        uint seq = 0;
        var ends = new Queue<uint>();
        for (var i = 0; i < 5000; i++)
        {
            var request = Encoding.ASCII.GetBytes($"GET /{i} ");
            stream.Insert(seq, request, capturedAck: (uint)(i + 1), floor: 0, _counters);
            seq += (uint)request.Length;
            ends.Enqueue(seq);
            if (ends.Count == 2)
            {
                stream.ReleaseUpTo(ends.Dequeue(), _counters);
                Assert.Equal(1, stream.Count);
                Assert.Equal($"GET /{i} ", Text(stream, seq - (uint)request.Length, seq));
            }
        }

        Assert.Equal(4999, _counters.RequestsDelivered);
        Assert.InRange(stream.Capacity, 1, 64);
        Assert.Equal(seq, stream.ContiguousEnd);
    }

    [Fact]
    public void A_sequence_far_beyond_the_stream_belongs_to_another_connection()
    {
        var stream = NewStream(start: 1000);
        stream.Insert(1000 + 300_000_000, "zz"u8.ToArray(), 1, 1000, _counters);

        Assert.True(stream.IsEmpty);
        Assert.Equal(1, _counters.LatePacketsAbsorbed);
    }

    [Fact]
    public void Sequence_numbers_wrap_around()
    {
        var stream = NewStream(start: uint.MaxValue - 2);
        stream.Insert(uint.MaxValue - 2, "abcdef"u8.ToArray(), 1, uint.MaxValue - 2, _counters);

        Assert.Equal(3u, stream.ContiguousEnd);
        Assert.Equal("abcdef", Text(stream, uint.MaxValue - 2, 3));
        stream.ReleaseUpTo(3, _counters);
        Assert.True(stream.IsEmpty);
    }

    [Fact]
    public void Chunks_are_slices_of_the_captured_payload_not_copies()
    {
        var stream = NewStream(start: 100);
        var captured = "abcdefghij"u8.ToArray();
        stream.Insert(100, captured, 1, floor: 100, _counters, capturedAtNanos: 42);
        stream.Insert(95, "xxxxxabcdefghijKLM"u8.ToArray(), 1, floor: 100, _counters, capturedAtNanos: 43);

        Assert.True(stream.TryGetChunkAt(104, out var chunk));
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(chunk.Data, out var segment));
        Assert.Same(captured, segment.Array);
        Assert.Equal(42, chunk.CapturedAtNanos);
        Assert.True(stream.TryGetChunkAt(110, out var tail));
        Assert.Equal("KLM", Encoding.ASCII.GetString(tail.Data.Span));
        Assert.Equal(43, tail.CapturedAtNanos);
        Assert.Equal(13, _budget.Used);

        stream.ReleaseUpTo(110, _counters);
        Assert.Equal(3, _budget.Used);
        stream.Clear();
        Assert.Equal(0, _budget.Used);
    }

    private CapturedStream NewStream(uint start)
    {
        var stream = new CapturedStream(_budget);
        stream.Reset(start);
        return stream;
    }

    private static string Text(CapturedStream stream, uint from, uint to)
    {
        var text = new StringBuilder();
        for (var seq = from; seq != to;)
        {
            Assert.True(stream.TryGetChunkAt(seq, out var chunk), $"no byte at {seq}");
            var offset = (int)(seq - chunk.Seq);
            text.Append(Encoding.ASCII.GetString(chunk.Data.Span[offset..]));
            seq = chunk.End;
        }

        return text.ToString();
    }
}
