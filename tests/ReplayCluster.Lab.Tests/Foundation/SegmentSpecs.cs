using ReplayCluster.Packets;

namespace ReplayCluster.Lab.Tests.Foundation;

/// <summary>Parsed packets back into what the builders take, to rebuild them byte for byte (both IP families).</summary>
internal static class SegmentSpecs
{
    /// <summary><paramref name="spec"/> with the TCP options a parser read (absent ones stay absent).</summary>
    public static TcpSegmentSpec WithOptionsOf(this TcpSegmentSpec spec, in TcpOptions options) => spec with
    {
        Mss = options.HasMss ? options.Mss : null,
        WindowScale = options.HasWindowScale ? options.WindowScale : null,
        SackPermitted = options.SackPermitted,
        Timestamp = options.HasTimestamp ? new TcpTimestamp(options.TsVal, options.TsEcr) : null,
    };
}
