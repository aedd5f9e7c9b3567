using System.Reflection;

namespace ReplayCluster.Lab.Tests.Lab;

public sealed class LongestFirstCollectionOrdererTests
{
    [Fact]
    public void Every_collection_the_table_names_exists_so_a_rename_does_not_silently_reorder_the_suite() =>
        Assert.All(LongestFirstCollectionOrderer.Seconds.Keys, name => Assert.Contains(name, Collections()));

    [Fact]
    public void Every_collection_that_runs_in_parallel_has_its_seconds_in_the_table()
    {
        // One left out counts as UnknownSeconds and may start last: the 101 s of IPv6 replay tests did, in a full suite
        // of 2026-12-02, and ran alone at the end of the parallel phase.
        string[] alone = [MeasuredAloneCollection.Name, Replay.FloodCollection.Name];
        Assert.All(Collections().Except(alone), name => Assert.True(LongestFirstCollectionOrderer.Seconds.ContainsKey(name), $"{name} is not in the table"));
    }

    /// <summary>The named collections and the classes that are a collection of their own.</summary>
    private static HashSet<string> Collections()
    {
        var types = typeof(LongestFirstCollectionOrderer).Assembly.GetTypes();
        var named = types.Select(t => t.GetCustomAttribute<CollectionDefinitionAttribute>()?.Name).OfType<string>();
        var classes = types.Where(t => t.GetMethods().Any(m => m.GetCustomAttribute<FactAttribute>() is not null) && t.GetCustomAttribute<CollectionAttribute>() is null)
            .Select(t => t.Name);
        return named.Concat(classes).ToHashSet(StringComparer.Ordinal);
    }

    [Theory]
    [InlineData("Replay", 209)]
    [InlineData("Test collection for ReplayCluster.Lab.Tests.Trust.RogueMemberLabTests", 50)]
    [InlineData("Test collection for ReplayCluster.Lab.Tests.Somewhere.NewLabTests", LongestFirstCollectionOrderer.UnknownSeconds)]
    [InlineData("measured alone", LongestFirstCollectionOrderer.UnknownSeconds)]
    public void A_collection_is_found_by_its_name_or_its_class(string displayName, int seconds) =>
        Assert.Equal(seconds, LongestFirstCollectionOrderer.ExpectedSeconds(displayName));
}
