using System.Text;
using ReplayCluster.Capture.Comparison;

namespace ReplayCluster.Capture.Tests.Comparison;

public sealed class StreamReassemblerTests
{
    private readonly StreamReassembler _stream = new();
    private readonly StringBuilder _out = new();

    private void Add(uint sequence, string text) => _stream.Add(sequence, Encoding.ASCII.GetBytes(text), b => _out.Append(Encoding.ASCII.GetString(b.Span)));

    [Fact]
    public void In_order_out_of_order_retransmitted_and_overlapping_segments_come_out_once_in_order()
    {
        // "GET / HTTP/1.1\r\n" from byte S on; the stream wraps its sequence space on the way.
        var s = uint.MaxValue - 1;
        _stream.Start(s - 1);
        Add(s, "GET ");
        Add(unchecked(s + 7), "TTP/"); // after a gap: waits
        Add(s, "GET "); // retransmitted
        Add(unchecked(s + 2), "T / HTTP"); // overlaps what was delivered and what waits
        Add(unchecked(s + 11), "1.1\r\n");
        Assert.Equal("GET / HTTP/1.1\r\n", _out.ToString());
        Assert.False(_stream.Broken);
    }

    [Fact]
    public void Bytes_before_the_start_was_seen_or_a_gap_that_never_fills_break_the_stream_rather_than_misplace_bytes()
    {
        Add(100, "late");
        Assert.True(_stream.Broken);
        Assert.Equal(string.Empty, _out.ToString());

        var gap = new StreamReassembler();
        gap.Start(0);
        for (var i = 0; i <= StreamReassembler.MaxHeldSegments; i++)
        {
            gap.Add((uint)(100 + (i * 10)), "0123456789"u8, _ => { });
        }

        Assert.True(gap.Broken);
    }
}
