using ReplayCluster.Lab.Tests.Lab;
using LabHost = ReplayCluster.Lab.Tests.Lab.Lab;

namespace ReplayCluster.Lab.Tests.Deploy;

/// <summary>
/// Runs deploy/publish.sh once (self-contained single-file binaries, capabilities on capture and
/// intercept) into a folder every user can read, as a deployment would install them; shared by the tests of
/// <see cref="PublishCollection"/>.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PublishFixture : IAsyncLifetime
{
    public string Output { get; } = Path.Combine(Path.GetTempPath(), $"replaycluster-publish-{Guid.NewGuid():N}");

    public string Repository { get; } = LabHost.FindRepositoryRoot();

    public string Binary(string node) => Path.Combine(Output, node, $"replaycluster-{node}");

    public async ValueTask InitializeAsync()
    {
        var result = await CommandRunner.RunAsync("bash", [Path.Combine(Repository, "deploy", "publish.sh"), "--output", Output, "--setcap"],
            TimeSpan.FromMinutes(5), cancellationToken: TestContext.Current.CancellationToken);
        if (result.ExitCode != 0)
        {
            throw new LabException($"deploy/publish.sh failed ({result.ExitCode}):{Environment.NewLine}{result.StdOut}{result.StdErr}");
        }

        // Capability-bearing binaries run as an unprivileged user must be reachable by it.
        foreach (var directory in new[] { Output }.Concat(Directory.GetDirectories(Output, "*", SearchOption.AllDirectories)))
        {
            File.SetUnixFileMode(directory, (UnixFileMode)0b111_101_101);
        }
    }

    public ValueTask DisposeAsync()
    {
        if (Directory.Exists(Output))
        {
            Directory.Delete(Output, recursive: true);
        }

        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// The tests of the published binaries share one publish (~60 s of both cores): as a class fixture of each class it ran
/// twice at once (2026-12-01 suite, 64 s in which the two classes' tests waited and nothing else ran).
/// </summary>
[CollectionDefinition(Name)]
public sealed class PublishCollection : ICollectionFixture<PublishFixture>
{
    public const string Name = "Publish";
}
