using Xunit.Sdk;
using Xunit.v3;

[assembly: TestCollectionOrderer(typeof(ReplayCluster.Lab.Tests.Lab.LongestFirstCollectionOrderer))]

namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>
/// Starts the longest lab test collections first. xUnit v3 starts every parallel collection at once, in the orderer's
/// order, and each test then waits for one of three slots on this project's 2-core machines (xunit.runner.json: 1.5
/// per core), so the order decides the first round and a long collection queued late can still be the phase's tail
/// (split such a class: RogueMemberLabTests and ForeignRoleCertificateLabTests). Two at a time left the cores 43 % idle
/// over the lab project (nodes waiting on joins, fixed-rate loads; 659 s, 2026-12-03), three took it to 593 s with the
/// parallel phase CPU-bound; four at a time (669 to 528 s) failed tests with a time budget, an intercept restart
/// within a session's retransmissions and a capture with no kernel drops, in 2 of 4 suites on 2026-12-02 (the first
/// now holds its retransmissions while no intercept is up, the second runs alone). By default the order is a hash: in the full suite of 2026-12-01 (main at
/// 7b37391) the 57 s demo collection started last and ran alone for 46 s at the end of the parallel phase, which took
/// 478 s for 740 s of tests. Longest first (the classic LPT schedule) leaves short collections to fill the gaps at the end.
/// </summary>
/// <remarks>
/// The durations are the seconds each collection took in that suite (its trx file), rounded, with a collection
/// fixture's own time where it is long. A collection missing from
/// the table counts as <see cref="UnknownSeconds"/>; a wrong entry costs minutes of suite time, never a result. The
/// collections that run alone (<see cref="MeasuredAloneCollection"/>, the flood) come after the parallel ones whatever
/// their place here.
/// </remarks>
public sealed class LongestFirstCollectionOrderer : ITestCollectionOrderer
{
    /// <summary>What a collection not in the table is taken to last.</summary>
    public const int UnknownSeconds = 20;

    /// <summary>Seconds per collection: a named collection's name, or a test class's name for the class's own collection.</summary>
    internal static readonly IReadOnlyDictionary<string, int> Seconds = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        // Seconds in the full suite of 2026-12-02 18:05 (main at 92c5ea2, a slower VM than the first table's: lab
        // project 910 s, its parallel phase 636 s), from the first test's start to the last one's end.
        ["Replay"] = 209,

        // One publish of the three nodes, then ~50 s of tests. The publish took ~150 s beside the other collection in
        // that suite; as one MSBuild run (30 s alone where three took 70 s) the collection took 117 s (the suite of
        // 18:57, main at ce4f53a); since the suite's build compiles what publish.sh compiles (the single-file analyzer,
        // Directory.Build.props), the publish takes ~10 s.
        ["Publish"] = 65,
        // Its cluster fixture (~10 s), then two fixed-rate loads of 10 and 15 s with their drains (2026-12-03).
        ["DistributedRunLabTests"] = 65,
        ["Ipv6ReplayLabTests"] = 101,
        // 96 s as one class; its two tests are two classes now, so they can run side by side.
        ["RogueMemberLabTests"] = 50,
        ["ForeignRoleCertificateLabTests"] = 46,
        ["StatusApiLabTests"] = 92,
        ["DemoScriptTests"] = 89,
        ["Lab"] = 66,
        ["InterceptRestartLabTests"] = 56,
        ["IdentitySliceLabTests"] = 49,
        ["ReplayPlanLabTests"] = 48,
        ["CoordinatorRestartLabTests"] = 46,
        ["ComparisonLabTests"] = 43,
        ["MultiplierSamplingLabTests"] = 38,
        ["PostgresLabTests"] = 26,
        ["DoctorLabTests"] = 25,
        ["ShardCaptureLabTests"] = 20, // added 2026-12-03: 18 s alone (its own lab and three nodes)
        ["ReadinessLabTests"] = 16,
        ["LabLifecycleTests"] = 15,
        ["Ipv6PacketIOLabTests"] = 2,
        ["PgbenchPaceTests"] = 1,
        ["NodeProcessTests"] = 1,
        ["LongestFirstCollectionOrdererTests"] = 1,
    };

    public IReadOnlyCollection<TTestCollection> OrderTestCollections<TTestCollection>(IReadOnlyCollection<TTestCollection> testCollections)
        where TTestCollection : ITestCollection =>
        [.. testCollections.OrderByDescending(c => ExpectedSeconds(c.TestCollectionDisplayName)).ThenBy(c => c.TestCollectionDisplayName, StringComparer.Ordinal)];

    /// <summary>
    /// The table's seconds for a collection's display name: a named collection's name, or the class name of a test
    /// class's own collection ("Test collection for NAMESPACE.CLASS").
    /// </summary>
    public static int ExpectedSeconds(string displayName)
    {
        ArgumentNullException.ThrowIfNull(displayName);
        const string PerClass = "Test collection for ";
        var name = displayName.StartsWith(PerClass, StringComparison.Ordinal) ? displayName[(displayName.LastIndexOf('.') + 1)..] : displayName;
        var space = name.IndexOf(' ', StringComparison.Ordinal);
        return Seconds.GetValueOrDefault(space < 0 ? name : name[..space], UnknownSeconds);
    }
}
