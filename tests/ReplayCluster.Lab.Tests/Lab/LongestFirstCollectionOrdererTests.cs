using System.Reflection;

namespace ReplayCluster.Lab.Tests.Lab;

public sealed class LongestFirstCollectionOrdererTests
{
    [Fact]
    public void Every_collection_the_table_names_exists_so_a_rename_does_not_silently_reorder_the_suite()
    {
        var types = typeof(LongestFirstCollectionOrderer).Assembly.GetTypes();
        var named = types.Select(t => t.GetCustomAttribute<CollectionDefinitionAttribute>()?.Name).OfType<string>();
        var classes = types.Where(t => t.GetMethods().Any(m => m.GetCustomAttribute<FactAttribute>() is not null) && t.GetCustomAttribute<CollectionAttribute>() is null)
            .Select(t => t.Name);
        var existing = named.Concat(classes).ToHashSet(StringComparer.Ordinal);

        Assert.All(LongestFirstCollectionOrderer.Seconds.Keys, name => Assert.Contains(name, existing));
    }

    [Theory]
    [InlineData("Replay", 190)]
    [InlineData("Test collection for ReplayCluster.Lab.Tests.Trust.RogueMemberLabTests", 85)]
    [InlineData("Test collection for ReplayCluster.Lab.Tests.Somewhere.NewLabTests", LongestFirstCollectionOrderer.UnknownSeconds)]
    [InlineData("measured alone", LongestFirstCollectionOrderer.UnknownSeconds)]
    public void A_collection_is_found_by_its_name_or_its_class(string displayName, int seconds) =>
        Assert.Equal(seconds, LongestFirstCollectionOrderer.ExpectedSeconds(displayName));
}
