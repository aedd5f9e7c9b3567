using System.Text;
using ReplayCluster.CommandLine;

namespace ReplayCluster.Tests.CommandLine;

public sealed class Gen0BudgetTests
{
    [Fact]
    public void Unset_only_when_neither_name_is_in_the_environment()
    {
        Assert.False(Gen0Budget.IsSet(_ => null));
        Assert.True(Gen0Budget.IsSet(name => name == "DOTNET_GCgen0size" ? "0x1000000" : null));
        Assert.True(Gen0Budget.IsSet(name => name == "COMPlus_GCgen0size" ? "400000" : null));

        // 0 is a choice too (the runtime's own budget): the node must not overwrite it.
        Assert.True(Gen0Budget.IsSet(name => name == "DOTNET_GCgen0size" ? "0" : null));
    }

    [Fact]
    public void A_proc_list_splits_into_its_entries_empty_ones_kept()
    {
        var entries = Gen0Budget.SplitNul("dotnet\0replaycluster-capture.dll\0--set\0\0-i\0eth0\0"u8);
        Assert.Equal(["dotnet", "replaycluster-capture.dll", "--set", "", "-i", "eth0"], entries.Select(e => Encoding.UTF8.GetString(e)));
    }

    [Fact]
    public void A_proc_list_without_a_last_terminator_keeps_its_last_entry_and_bytes_stay_as_they_were()
    {
        var entries = Gen0Budget.SplitNul([(byte)'a', 0, 0xff, 0xfe]);
        Assert.Equal(2, entries.Count);
        Assert.Equal([(byte)'a'], entries[0]);
        Assert.Equal([0xff, 0xfe], entries[1]);
        Assert.Empty(Gen0Budget.SplitNul([]));
    }
}
