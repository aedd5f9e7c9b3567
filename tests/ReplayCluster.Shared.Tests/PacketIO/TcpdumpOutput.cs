using System.Globalization;

namespace ReplayCluster.Tests.PacketIO;

/// <summary>Reads what the real tcpdump prints, so our files are judged by the reference implementation.</summary>
internal static class TcpdumpOutput
{
    /// <summary>Formats a timestamp the way <c>tcpdump -tt</c> (or <c>-tt --nano</c>) prints it.</summary>
    public static string FormatSeconds(long timestampNanos, bool nano)
    {
        var seconds = timestampNanos / 1_000_000_000L;
        var fraction = timestampNanos % 1_000_000_000L;
        return nano
            ? string.Create(CultureInfo.InvariantCulture, $"{seconds}.{fraction:D9}")
            : string.Create(CultureInfo.InvariantCulture, $"{seconds}.{fraction / 1000:D6}");
    }

    /// <summary>Runs <c>tcpdump -r FILE -nn -tt [--nano]</c> and returns its packet lines.</summary>
    public static string[] Read(string path, bool nano)
    {
        var arguments = nano ? new[] { "-r", path, "-nn", "-tt", "--nano" } : ["-r", path, "-nn", "-tt"];
        var output = ExternalProcess.Run("tcpdump", arguments);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }
}
