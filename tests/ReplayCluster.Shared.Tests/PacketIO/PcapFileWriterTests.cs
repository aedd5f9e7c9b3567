using System.Net;
using CsCheck;
using ReplayCluster.PacketIO;
using Xunit;

namespace ReplayCluster.Tests.PacketIO;

public sealed class PcapFileWriterTests
{
    [Theory]
    [InlineData(PcapTimestampResolution.Microsecond)]
    [InlineData(PcapTimestampResolution.Nanosecond)]
    public void Round_trip_preserves_frames_and_timestamps_at_the_resolution(PcapTimestampResolution resolution)
    {
        using var dir = new TempDirectory();
        var frameGen = Gen.Byte.Array[0, 2000];
        var timeGen = Gen.Long[0, (long)uint.MaxValue * 1_000_000_000L];
        Gen.Select(frameGen, timeGen, Gen.Int[0, 100]).List[0, 50].Sample(packets =>
        {
            // CsCheck runs samples on several threads: one file per sample.
            var path = dir.File($"roundtrip-{Guid.NewGuid():N}.pcap");
            using (var writer = PcapFileWriter.Create(path, linkType: 101, snapLength: 1500, resolution))
            {
                foreach (var (frame, time, extra) in packets)
                {
                    writer.Write(frame, time, frame.Length + extra);
                }
            }

            using var reader = PcapFileReader.Open(path);
            Assert.Equal(101, reader.LinkType);
            var index = 0;
            while (reader.ReadNext(out var record))
            {
                var (frame, time, extra) = packets[index++];
                var kept = frame.AsSpan(0, Math.Min(frame.Length, 1500));
                Assert.True(kept.SequenceEqual(record.Data));
                var expected = resolution == PcapTimestampResolution.Nanosecond ? time : time / 1000 * 1000;
                Assert.Equal(expected, record.Info.TimestampNanos);
                Assert.Equal(frame.Length + extra, record.Info.OriginalLength);
                Assert.Equal(kept.Length, record.Info.CapturedLength);
            }

            Assert.Equal(packets.Count, index);
        }, iter: 100);
    }

    [Theory]
    [InlineData(PcapTimestampResolution.Microsecond)]
    [InlineData(PcapTimestampResolution.Nanosecond)]
    public void Tcpdump_reads_what_we_write(PcapTimestampResolution resolution)
    {
        ExternalProcess.Require(ExternalProcess.Exists("tcpdump"), "tcpdump is not installed (apt-get install tcpdump)");
        using var dir = new TempDirectory();
        var path = dir.File("for-tcpdump.pcap");
        var nano = resolution == PcapTimestampResolution.Nanosecond;
        var random = new Random(7);
        var expected = new List<(long Time, ushort SourcePort, int PayloadLength)>();
        var time = 1_700_000_000_000_000_000L;
        using (var writer = PcapFileWriter.Create(path, linkType: 1, resolution: resolution))
        {
            for (var i = 0; i < 3000; i++)
            {
                time += random.Next(1, 5_000_000);
                var payload = new byte[random.Next(0, 1400)];
                random.NextBytes(payload);
                var sourcePort = (ushort)(50000 + i); // ephemeral range: tcpdump has no protocol dissector there
                var frame = TestFrames.EthernetIpv4Udp(IPAddress.Parse("10.1.2.3"), IPAddress.Parse("10.4.5.6"), sourcePort, 40000, payload);
                writer.Write(frame, time, frame.Length);
                expected.Add((time, sourcePort, payload.Length));
            }
        }

        var lines = TcpdumpOutput.Read(path, nano);
        Assert.Equal(expected.Count, lines.Length);
        for (var i = 0; i < lines.Length; i++)
        {
            var (t, port, length) = expected[i];
            Assert.Equal(
                $"{TcpdumpOutput.FormatSeconds(t, nano)} IP 10.1.2.3.{port} > 10.4.5.6.40000: UDP, length {length}",
                lines[i]);
        }
    }

    [Fact]
    public void Frames_longer_than_the_snap_length_are_cut_and_keep_their_original_length()
    {
        using var dir = new TempDirectory();
        var path = dir.File("snap.pcap");
        var frame = Enumerable.Range(0, 300).Select(i => (byte)i).ToArray();
        using (var writer = PcapFileWriter.Create(path, 1, snapLength: 100))
        {
            writer.Write(frame, 5_000, frame.Length);
            Assert.Equal(1, writer.PacketsWritten);
        }

        using var reader = PcapFileReader.Open(path);
        Assert.True(reader.ReadNext(out var record));
        Assert.Equal(frame[..100], record.Data.ToArray());
        Assert.Equal(new FrameInfo(5_000, 100, 300, 1), record.Info);
        Assert.False(reader.ReadNext(out _));
    }

    [Fact]
    public void Rejects_an_original_length_shorter_than_the_frame()
    {
        using var dir = new TempDirectory();
        using var writer = PcapFileWriter.Create(dir.File("bad.pcap"), 1);
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.Write(new byte[10], 0, 9));
    }
}
