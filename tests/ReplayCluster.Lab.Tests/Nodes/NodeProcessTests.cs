using ReplayCluster.Lab.Tests.Coordinator;
using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Lab.Tests.Replay;

namespace ReplayCluster.Lab.Tests.Nodes;

/// <summary>Which lab tests run the nodes as users run them, and which start them cheaply (no lab needed).</summary>
public sealed class NodeProcessTests
{
    [Fact]
    public void Tests_that_measure_latency_pace_or_drain_run_the_product_the_others_start_nodes_cheaply()
    {
        Assert.True(NodeProcesses.MeasuresCostIn(MeasuredAloneCollection.Name, typeof(RelayLatencyLabTests)));
        Assert.True(NodeProcesses.MeasuresCostIn(MeasuredAloneCollection.Name, typeof(PostgresPaceLabTests)));
        Assert.True(NodeProcesses.MeasuresCostIn(FloodCollection.Name, testClass: null)); // its collection fixture starts the nodes
        Assert.False(NodeProcesses.MeasuresCostIn(MeasuredAloneCollection.Name, typeof(AddedCaptureNodeLabTests)));
        Assert.False(NodeProcesses.MeasuresCostIn("Replay", typeof(SessionReplayLabTests)));
        Assert.False(NodeProcesses.MeasuresCostIn(collection: null, testClass: null));
    }

    [Fact]
    public void A_functional_test_starts_its_nodes_tiered_without_pgo()
    {
        // This class measures nothing, so its nodes would get the quick start unless the whole run asks for the product's.
        if (Environment.GetEnvironmentVariable("REPLAYCLUSTER_LAB_JIT") == "product")
        {
            Assert.Equal(["dotnet"], NodeProcesses.Dotnet);
            return;
        }

        Assert.Equal(["env", .. NodeProcesses.QuickStart, "dotnet"], NodeProcesses.Dotnet);
        Assert.Contains("DOTNET_TieredCompilation=1", NodeProcesses.QuickStart);
        Assert.Contains("DOTNET_TieredPGO=0", NodeProcesses.QuickStart);
        Assert.Contains("DOTNET_EnableWriteXorExecute=0", NodeProcesses.QuickStart);
    }
}
