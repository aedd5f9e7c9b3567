using System.Diagnostics;
using ReplayCluster.PacketIO;

namespace ReplayCluster.Tests.PacketIO;

/// <summary>Issue 10, finding 7: a capture whose interface disappears ends with a fault naming it, instead of spinning silently.</summary>
[Collection(nameof(NetworkLabCollection))]
public sealed class VanishingInterfaceTests
{
    [Theory]
    [InlineData(false, LiveCaptureReader.Libpcap)]
    [InlineData(true, LiveCaptureReader.Libpcap)]
    [InlineData(false, LiveCaptureReader.Ring)]
    public void A_capture_whose_interface_is_deleted_stops_with_a_fault(bool immediate, LiveCaptureReader reader)
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces and capture");
        using var lab = new NamespacePair();
        using var capture = NetworkNamespace.RunIn(lab.B, () => LiveCapture.Open(new LiveCaptureOptions
        {
            Interface = NamespacePair.DeviceB,
            Filter = "udp",
            Immediate = immediate,
            Reader = reader,
        }));
        Assert.Equal(reader, capture.Reader);
        capture.Start((ReadOnlySpan<byte> _, in FrameInfo _) => { });
        Assert.True(capture.IsRunning);

        NamespacePair.Exec(lab.B, "ip", "link", "del", NamespacePair.DeviceB);
        // Deleting an interface while other tests create and remove namespaces can take seconds (the kernel waits for
        // RCU grace periods); the fault must come, whenever the deletion completes.
        var watch = Stopwatch.StartNew();
        while (capture.IsRunning && watch.Elapsed < TimeSpan.FromSeconds(20))
        {
            Thread.Sleep(20);
        }

        Assert.False(capture.IsRunning, $"the capture loop still runs {watch.Elapsed.TotalSeconds:0} s after its interface was deleted");
        Assert.NotNull(capture.Fault);
        Assert.Contains(NamespacePair.DeviceB, capture.Fault!.Message, StringComparison.Ordinal);
        var stop = Assert.Throws<LiveCaptureException>(capture.Stop);
        Assert.Contains(NamespacePair.DeviceB, stop.Message, StringComparison.Ordinal);
    }
}
