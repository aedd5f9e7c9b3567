namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>What curl did: its exit code (0 = transfer done, 7 = connect failed, 28 = timed out), the HTTP status
/// (0 when there was no response) and the body.</summary>
public sealed record CurlResult(int ExitCode, int HttpStatus, string Body, string StdErr)
{
    /// <summary>True when curl completed a transfer (whatever the status).</summary>
    public bool Connected => ExitCode == 0;
}
