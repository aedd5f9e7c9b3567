using System.Diagnostics;
using ReplayCluster.PacketIO;
using Xunit;

namespace ReplayCluster.Tests.PacketIO;

/// <summary>Files written by tcpdump and converted by editcap, read back and compared with tcpdump's own reading.</summary>
[Collection(nameof(NetworkLabCollection))]
public sealed class ToolCaptureTests
{
    [Fact]
    public void Reads_a_tcpdump_capture_of_real_http_traffic_and_its_editcap_pcapng_conversion()
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces and tcpdump");
        ExternalProcess.Require(ExternalProcess.Exists("tcpdump") && ExternalProcess.Exists("editcap"), "tcpdump and editcap are needed (apt-get install tcpdump wireshark-common)");
        using var dir = new TempDirectory();
        var pcap = dir.File("http.pcap");
        var pcapng = dir.File("http.pcapng");
        File.WriteAllText(dir.File("index.html"), new string('x', 200_000));

        using (var lab = new NamespacePair())
        {
            lab.Start(lab.A, "python3", "-m", "http.server", "8080", "--bind", "127.0.0.1", "--directory", dir.Path);
            // -Z root: tcpdump otherwise drops to user tcpdump, which may not write into our temp directory.
            var tcpdump = lab.Start(lab.A, "tcpdump", "-Z", "root", "--immediate-mode", "-i", "lo", "-w", pcap, "tcp port 8080");
            WaitFor(() => File.Exists(pcap));
            for (var i = 0; i < 3; i++)
            {
                RetryUntilServing(lab.A);
            }

            Thread.Sleep(200);
            ExternalProcess.StopByPid(tcpdump);
        }

        ExternalProcess.Run("editcap", "-F", "pcapng", pcap, pcapng);
        var lines = TcpdumpOutput.Read(pcap, nano: false);
        Assert.True(lines.Length > 20, $"tcpdump saw only {lines.Length} packets");

        var fromPcap = ReadStamps(pcap, expectPcapNg: false);
        var fromPcapNg = ReadStamps(pcapng, expectPcapNg: true);
        Assert.Equal(lines.Select(line => line.Split(' ')[0]), fromPcap.Select(p => p.Stamp));
        Assert.Equal(fromPcap, fromPcapNg);
    }

    private static List<(string Stamp, int Length, int Hash)> ReadStamps(string path, bool expectPcapNg)
    {
        using var reader = PcapFileReader.Open(path);
        Assert.Equal(expectPcapNg, reader.IsPcapNg);
        Assert.Equal(1, reader.LinkType);
        var result = new List<(string, int, int)>();
        reader.ReadAll(
            (ReadOnlySpan<byte> frame, in FrameInfo info) =>
            {
                var hash = new HashCode();
                hash.AddBytes(frame);
                result.Add((TcpdumpOutput.FormatSeconds(info.TimestampNanos, nano: false), info.OriginalLength, hash.ToHashCode()));
            },
            TestContext.Current.CancellationToken);
        return result;
    }

    private static void RetryUntilServing(string ns)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var (exit, _, _) = ExternalProcess.TryRun(TimeSpan.FromSeconds(10), "ip", "netns", "exec", ns, "curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:8080/index.html");
            if (exit == 0)
            {
                return;
            }

            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), "python http.server did not start");
            Thread.Sleep(100);
        }
    }

    private static void WaitFor(Func<bool> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!condition() && watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            Thread.Sleep(50);
        }

        // tcpdump creates the file before it has attached the filter; give it a moment to start listening.
        Thread.Sleep(300);
    }
}
