using CsCheck;
using ReplayCluster.Packets;
using Xunit;

namespace ReplayCluster.Tests.Packets;

public sealed class TcpOptionsTests
{
    [Fact]
    public void The_linux_syn_option_block_parses_fully()
    {
        var area = Convert.FromHexString("0204ffd70402080a36fbe09f000000000103030a");
        Assert.True(TcpOptions.TryParse(area, out var o));
        Assert.Equal((ushort)65495, o.Mss);
        Assert.True(o.SackPermitted);
        Assert.Equal(922476703u, o.TsVal);
        Assert.Equal((byte)10, o.WindowScale);
        Assert.Equal((byte)26, o.TimestampOffset); // Offset from the TCP header start: 20 + 6.
    }

    [Fact]
    public void An_empty_area_or_only_padding_means_no_options()
    {
        Assert.True(TcpOptions.TryParse([], out var none));
        Assert.Equal(default, none);
        Assert.True(TcpOptions.TryParse([1, 1, 1, 0], out var nops));
        Assert.Equal(default, nops);
    }

    [Fact]
    public void Bytes_after_end_of_option_list_are_ignored()
    {
        Assert.True(TcpOptions.TryParse([0, 2, 1, 0xFF], out var o));
        Assert.False(o.HasMss);
    }

    [Fact]
    public void Sack_blocks_are_counted()
    {
        var area = new byte[28];
        area[0] = 1;
        area[1] = 1;
        area[2] = 5;
        area[3] = 2 + (3 * 8);
        Assert.True(TcpOptions.TryParse(area, out var o));
        Assert.Equal((byte)3, o.SackBlockCount);
    }

    [Fact]
    public void Unknown_kinds_are_skipped_by_their_length()
    {
        // Kind 30 (MPTCP) with 6 bytes, then MSS 1460.
        Assert.True(TcpOptions.TryParse([30, 6, 0, 0, 0, 0, 2, 4, 0x05, 0xB4], out var o));
        Assert.Equal((ushort)1460, o.Mss);
    }

    [Theory]
    [InlineData("02")] // Kind without a length byte.
    [InlineData("0200")] // Length 0.
    [InlineData("1e01")] // Length 1 on an unknown kind.
    [InlineData("1eff0000")] // Length past the end.
    [InlineData("020305")] // MSS length 3.
    [InlineData("03020000")] // Window scale length 2.
    [InlineData("0403")] // SACK-permitted length 3 runs past the end.
    [InlineData("04030000")] // SACK-permitted length 3.
    [InlineData("080a00000000000000")] // Timestamp length 10 with only 7 bytes after kind and length.
    [InlineData("080800000000000000")] // Timestamp length 8.
    [InlineData("0502")] // SACK without blocks.
    [InlineData("050b000000000000000000")] // SACK length 11.
    public void Malformed_areas_are_rejected(string hex)
    {
        var area = Convert.FromHexString(hex);
        Assert.False(TcpOptions.TryParse(area, out var o));
        Assert.Equal(default, o);
    }

    [Fact]
    public void Any_forty_byte_area_terminates_and_never_reads_outside_it()
    {
        // Termination by construction: every step advances at least one byte. Parsing 200k random areas (and areas
        // made only of NOP, of length-0 and of length-1 bytes) must simply return; CsCheck fails on an exception.
        Assert.True(TcpOptions.TryParse(Enumerable.Repeat((byte)1, 40).ToArray(), out _));
        Assert.False(TcpOptions.TryParse(Enumerable.Repeat((byte)2, 40).ToArray(), out _));
        Assert.False(TcpOptions.TryParse(Enumerable.Repeat((byte)30, 40).ToArray(), out _)); // 30,30 then overruns.
        Gen.Byte.Array[0, TcpOptions.MaxLength].Sample(area =>
        {
            TcpOptions.TryParse(area, out var o);
            return o.TimestampOffset == 0 || (o.TimestampOffset >= 20 && o.TimestampOffset - 20 + 10 <= area.Length);
        }, iter: 200_000);
    }

    [Fact]
    public void Every_length_byte_value_on_every_kind_either_parses_or_is_rejected()
    {
        var area = new byte[TcpOptions.MaxLength];
        for (var kind = 0; kind < 256; kind++)
        {
            for (var length = 0; length < 256; length++)
            {
                area[0] = (byte)kind;
                area[1] = (byte)length;
                var ok = TcpOptions.TryParse(area, out _);
                if (kind > 1 && (length < 2 || length > area.Length))
                {
                    Assert.False(ok);
                }
            }
        }
    }
}
