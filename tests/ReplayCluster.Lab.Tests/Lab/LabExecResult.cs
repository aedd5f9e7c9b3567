namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>The outcome of a command that ran to completion.</summary>
/// <param name="ExitCode">The exit code (128 + signal when a signal ended it).</param>
/// <param name="StdOut">Everything written to stdout.</param>
/// <param name="StdErr">Everything written to stderr.</param>
public sealed record LabExecResult(int ExitCode, string StdOut, string StdErr)
{
    /// <summary>True when the exit code is 0.</summary>
    public bool Succeeded => ExitCode == 0;

    /// <summary>Throws <see cref="LabException"/> with the output when the command failed.</summary>
    public LabExecResult EnsureSuccess(string what) =>
        Succeeded ? this : throw new LabException($"{what} failed with exit code {ExitCode}.\nstdout:\n{StdOut}\nstderr:\n{StdErr}");
}
