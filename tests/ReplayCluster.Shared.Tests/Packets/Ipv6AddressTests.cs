using System.Net;
using CsCheck;
using ReplayCluster.Packets;
using Xunit;

namespace ReplayCluster.Tests.Packets;

public sealed class Ipv6AddressTests
{
    [Theory]
    // RFC 5952 section 4: leading zeros suppressed, lower case, the longest zero run shortened, the first of equal runs,
    // a single zero group never shortened, "::" never for one group.
    [InlineData("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1")]
    [InlineData("2001:DB8:0:0:0:0:0:1", "2001:db8::1")]
    [InlineData("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1")]
    [InlineData("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1")]
    [InlineData("2001:db8::0:1", "2001:db8::1")]
    [InlineData("2001:0:0:1:0:0:0:1", "2001:0:0:1::1")]
    [InlineData("2001:db8:0000:1:1:1:1:1", "2001:db8:0:1:1:1:1:1")]
    [InlineData("0:0:0:0:0:0:0:0", "::")]
    [InlineData("0:0:0:0:0:0:0:1", "::1")]
    [InlineData("1:0:0:0:0:0:0:0", "1::")]
    [InlineData("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0")]
    [InlineData("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8")]
    [InlineData("fe80::1:2", "fe80::1:2")]
    [InlineData("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]
    // IPv4-mapped in the mixed notation of section 5; other embedded forms in plain hex.
    [InlineData("::ffff:192.0.2.1", "::ffff:192.0.2.1")]
    [InlineData("::FFFF:c000:0201", "::ffff:192.0.2.1")]
    [InlineData("::192.0.2.1", "::c000:201")]
    [InlineData("64:ff9b::192.0.2.33", "64:ff9b::c000:221")]
    [InlineData("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304")]
    public void Text_parses_and_formats_canonically(string text, string canonical)
    {
        var address = Ipv6Address.Parse(text);
        Assert.Equal(canonical, address.ToString());
        Assert.Equal(address, Ipv6Address.Parse(canonical));
        Assert.Equal(IPAddress.Parse(text), address.ToIPAddress());
    }

    [Theory]
    [InlineData("")]
    [InlineData(":")]
    [InlineData(":::")]
    [InlineData("1::2::3")]
    [InlineData("::1::")]
    [InlineData(":1::2")]
    [InlineData("1::2:")]
    [InlineData("1:2:3:4:5:6:7")]
    [InlineData("1:2:3:4:5:6:7:8:9")]
    [InlineData("1:2:3:4:5:6:7:8::")]
    [InlineData("::1:2:3:4:5:6:7:8")]
    [InlineData("12345::")]
    [InlineData("g::1")]
    [InlineData("1.2.3.4")]
    [InlineData("::1.2.3")]
    [InlineData("::1.2.3.4.5")]
    [InlineData("::256.1.1.1")]
    [InlineData("::01.2.3.4")]
    [InlineData("::1.2.3.4:5")]
    [InlineData("1:2:3:4:5:6:7:1.2.3.4")]
    [InlineData("fe80::1%eth0")]
    [InlineData("[::1]")]
    [InlineData("2001:db8::/48")]
    [InlineData(" ::1")]
    [InlineData("0000:0000:0000:0000:0000:0000:0000:0000:0")]
    public void Malformed_text_is_refused(string text)
    {
        Assert.False(Ipv6Address.TryParse(text, out var address));
        Assert.Equal(default, address);
        Assert.Throws<FormatException>(() => Ipv6Address.Parse(text));
    }

    [Fact]
    public void An_isatap_address_round_trips_although_dotnet_prints_its_tail_dotted()
    {
        var address = new Ipv6Address(0x2001_0db8_0000_0001, 0x0000_5efe_c000_0201);
        Assert.True(Ipv6Address.TryParse(address.ToString(), out var parsed));
        Assert.Equal(address, parsed);
        Assert.Equal("2001:db8:0:1:0:5efe:192.0.2.1", address.ToIPAddress().ToString());
        Assert.Equal(address, Ipv6Address.FromIPAddress(System.Net.IPAddress.Parse("2001:db8:0:1:0:5efe:192.0.2.1")));
    }

    [Fact]
    public void Random_addresses_round_trip_through_text_bytes_and_ipaddress()
    {
        // Groups drawn mostly from {0, 1, ffff, random} so zero runs of every length and position occur.
        var group = Gen.OneOf(Gen.Const((ushort)0), Gen.Const((ushort)0), Gen.Const((ushort)1), Gen.UShort);
        Gen.Select(group.Array[8], g => g).Sample(groups =>
        {
            var address = new Ipv6Address(
                ((ulong)groups[0] << 48) | ((ulong)groups[1] << 32) | ((ulong)groups[2] << 16) | groups[3],
                ((ulong)groups[4] << 48) | ((ulong)groups[5] << 32) | ((ulong)groups[6] << 16) | groups[7]);
            var text = address.ToString();
            Assert.True(Ipv6Address.TryParse(text, out var parsed), text);
            Assert.Equal(address, parsed);
            for (var i = 0; i < 8; i++)
            {
                Assert.Equal(groups[i], address.GetGroup(i));
            }

            var bytes = new byte[16];
            address.Write(bytes);
            Assert.Equal(address, Ipv6Address.Read(bytes));
            var ip = address.ToIPAddress();
            Assert.Equal(bytes, ip.GetAddressBytes());
            Assert.Equal(address, Ipv6Address.FromIPAddress(ip));

            // .NET writes RFC 5952 text too, except where it picks the dotted tail differently: the deprecated
            // IPv4-compatible ::a.b.c.d, the SIIT ::ffff:0:a.b.c.d, ::ffff:0.0.x.y, which it prints in hex, and any
            // ISATAP interface identifier (group 4 zero, group 5 5efe: x:x:x:x:0:5efe:a.b.c.d), which it prints dotted
            // (drawn once in ~500k addresses: 4 % of runs of this test failed on it).
            var isatap = address.GetGroup(4) == 0 && address.GetGroup(5) == 0x5EFE;
            if (!isatap && (address.Upper != 0 || address.Lower >> 32 is not (0 or 0xFFFF or 0xFFFF_0000)))
            {
                Assert.Equal(ip.ToString(), text);
            }
        }, iter: 20_000);
    }

    [Fact]
    public void Comparison_follows_the_numeric_value_and_ipv4_mapping_is_recognised()
    {
        var low = Ipv6Address.Parse("2001:db8::ffff:ffff:ffff:ffff");
        var high = Ipv6Address.Parse("2001:db8:0:1::");
        Assert.True(low < high);
        Assert.True(high >= low);
        Assert.Equal(-1, low.CompareTo(high));
        Assert.Equal(low.Value + 1, high.Value);
        Assert.Equal(high, Ipv6Address.FromValue(low.Value + 1));

        var mapped = Ipv6Address.MapFromIpv4(Ipv4Address.Parse("192.0.2.1"));
        Assert.True(mapped.IsIpv4Mapped);
        Assert.Equal("::ffff:192.0.2.1", mapped.ToString());
        Assert.False(Ipv6Address.Loopback.IsIpv4Mapped);
        Assert.Throws<ArgumentException>(() => Ipv6Address.FromIPAddress(IPAddress.Loopback));
        Assert.Throws<ArgumentOutOfRangeException>(() => Ipv6Address.Loopback.GetGroup(8));
    }

    [Fact]
    public void Formatting_into_a_short_span_fails_without_writing()
    {
        var address = Ipv6Address.Parse("2001:db8::1");
        var small = new char[10];
        Assert.False(address.TryFormat(small, out var written));
        Assert.Equal(0, written);
        var exact = new char[11];
        Assert.True(address.TryFormat(exact, out written));
        Assert.Equal("2001:db8::1", new string(exact, 0, written));
        Assert.Equal(Ipv6Address.MaxFormattedLength, Ipv6Address.Parse("1111:2222:3333:4444:5555:6666:7777:8888").ToString().Length);
    }
}

public sealed class Ipv6PrefixTests
{
    [Fact]
    public void A_48_is_sliced_into_65536_64s_each_inside_it_and_apart_from_each_other()
    {
        var range = Ipv6Prefix.Parse("2001:db8:abcd::/48");
        Assert.Equal((UInt128)65_536, range.GetSliceCount(64));

        var first = range.GetSlice(64, 0);
        var second = range.GetSlice(64, 1);
        var last = range.GetSlice(64, 0xFFFF);
        Assert.Equal("2001:db8:abcd::/64", first.ToString());
        Assert.Equal("2001:db8:abcd:1::/64", second.ToString());
        Assert.Equal("2001:db8:abcd:ffff::/64", last.ToString());
        Assert.Throws<ArgumentOutOfRangeException>(() => range.GetSlice(64, 65_536));

        foreach (var slice in new[] { first, second, last })
        {
            Assert.True(range.Contains(slice));
            Assert.False(slice.Contains(range));
            Assert.True(range.Contains(slice.Network));
            Assert.True(range.Contains(slice.LastAddress));
        }

        Assert.False(first.Overlaps(second));
        Assert.False(second.Contains(first.LastAddress));
        Assert.True(second.Contains(Ipv6Address.Parse("2001:db8:abcd:1:ffff:ffff:ffff:ffff")));
        Assert.False(range.Contains(Ipv6Address.Parse("2001:db8:abce::")));
        Assert.False(range.Contains(Ipv6Address.Parse("2001:db8:abcc:ffff:ffff:ffff:ffff:ffff")));
        Assert.Equal(Ipv6Address.Parse("2001:db8:abcd:ffff:ffff:ffff:ffff:ffff"), range.LastAddress);

        // Addresses inside a slice: the fake clients of one capture node.
        Assert.Equal(Ipv6Address.Parse("2001:db8:abcd:1::2a"), second.GetAddress(42));
        Assert.Equal(second.LastAddress, second.GetAddress(ulong.MaxValue));
        Assert.Throws<ArgumentOutOfRangeException>(() => second.GetAddress((UInt128)ulong.MaxValue + 1));
    }

    [Fact]
    public void Slices_of_every_length_tile_their_parent_without_gaps()
    {
        Gen.Select(Gen.Int[0, 120], Gen.Int[1, 8], Gen.ULong, Gen.ULong).Sample((length, extra, upper, lower) =>
        {
            var network = Ipv6Address.FromValue(new UInt128(upper, lower) & (length == 0 ? UInt128.Zero : UInt128.MaxValue << (128 - length)));
            var parent = new Ipv6Prefix(network, length);
            var sliceLength = length + extra;
            var count = parent.GetSliceCount(sliceLength);
            Assert.Equal(UInt128.One << extra, count);
            Assert.Equal(parent.Network, parent.GetSlice(sliceLength, 0).Network);
            Assert.Equal(parent.LastAddress, parent.GetSlice(sliceLength, count - 1).LastAddress);
            for (UInt128 i = 0; i + 1 < count; i++)
            {
                Assert.Equal(parent.GetSlice(sliceLength, i).LastAddress.Value + 1, parent.GetSlice(sliceLength, i + 1).Network.Value);
            }
        }, iter: 2_000);
    }

    [Theory]
    [InlineData("::/0", 0)]
    [InlineData("2001:db8::/32", 32)]
    [InlineData("2001:db8::1/128", 128)]
    [InlineData("::ffff:10.0.0.0/104", 104)]
    public void Prefixes_parse_and_print_back(string text, int length)
    {
        var prefix = Ipv6Prefix.Parse(text);
        Assert.Equal(length, prefix.Length);
        Assert.Equal(text, prefix.ToString());
        Assert.True(prefix.Contains(prefix.Network));
        Assert.True(prefix.Contains(prefix));
    }

    [Theory]
    [InlineData("2001:db8::1/64")] // host bits set
    [InlineData("2001:db8::/129")]
    [InlineData("2001:db8::/-1")]
    [InlineData("2001:db8::/048")]
    [InlineData("2001:db8::/")]
    [InlineData("2001:db8::")]
    [InlineData("2001:db8::/ 48")]
    [InlineData("10.0.0.0/8")]
    [InlineData("/48")]
    public void Bad_prefixes_are_refused(string text)
    {
        Assert.False(Ipv6Prefix.TryParse(text, out _));
        Assert.Throws<FormatException>(() => Ipv6Prefix.Parse(text));
    }

    [Fact]
    public void Construction_checks_length_and_host_bits_and_slicing_checks_its_length()
    {
        Assert.Throws<ArgumentException>(() => new Ipv6Prefix(Ipv6Address.Parse("2001:db8::1"), 64));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Ipv6Prefix(Ipv6Address.Any, 129));
        var everything = Ipv6Prefix.Parse("::/0");
        Assert.True(everything.Contains(Ipv6Address.Parse("ffff::1")));
        Assert.Equal(UInt128.One << 64, everything.GetSliceCount(64));
        Assert.Throws<ArgumentOutOfRangeException>(() => everything.GetSliceCount(128));
        var range = Ipv6Prefix.Parse("2001:db8::/48");
        Assert.Throws<ArgumentOutOfRangeException>(() => range.GetSliceCount(47));
        Assert.Throws<ArgumentOutOfRangeException>(() => range.GetSliceCount(129));
        Assert.Equal(range, range.GetSlice(48, 0));
        Assert.Equal(Ipv6Address.Parse("2001:db8::5"), range.GetSlice(128, 5).Network);
    }
}
