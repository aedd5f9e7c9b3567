namespace ReplayCluster.PacketIO;

/// <summary>
/// A capture file is truncated or corrupt. The message names the file and the byte offset at which the
/// offending header or block starts; every complete packet before that offset has already been delivered.
/// </summary>
public sealed class PcapFormatException : Exception
{
    public PcapFormatException()
    {
        FilePath = string.Empty;
    }

    public PcapFormatException(string message)
        : base(message)
    {
        FilePath = string.Empty;
    }

    public PcapFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
        FilePath = string.Empty;
    }

    /// <summary>Creates the exception with a message of the form "PATH: at byte offset N: DETAIL".</summary>
    public PcapFormatException(string filePath, long offset, string detail)
        : base($"{filePath}: at byte offset {offset}: {detail}")
    {
        FilePath = filePath;
        Offset = offset;
    }

    /// <summary>Path of the file that failed to parse.</summary>
    public string FilePath { get; }

    /// <summary>Byte offset (from the start of the file) of the header or block that is truncated or corrupt.</summary>
    public long Offset { get; }
}
