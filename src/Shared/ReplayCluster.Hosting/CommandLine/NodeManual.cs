namespace ReplayCluster.CommandLine;

/// <summary>The man-page text of one node executable; <see cref="NodeCommandLine"/> lays it out.</summary>
public sealed record NodeManual
{
    /// <summary>Program name as typed, e.g. <c>replaycluster-capture</c>.</summary>
    public required string Name { get; init; }

    /// <summary>One line for the NAME section.</summary>
    public required string Summary { get; init; }

    /// <summary>DESCRIPTION paragraphs.</summary>
    public required IReadOnlyList<string> Description { get; init; }

    /// <summary>EXAMPLES: (command line, what it does).</summary>
    public IReadOnlyList<(string Command, string Explanation)> Examples { get; init; } = [];
}
