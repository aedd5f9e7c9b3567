using System.Diagnostics;
using ReplayCluster.Statistics;

namespace ReplayCluster.Tests.Statistics;

public sealed class StatisticsReporterTests
{
    [Fact]
    public void Resident_bytes_from_statm_agree_with_the_process_working_set()
    {
        using var process = Process.GetCurrentProcess();
        var fromProcess = process.WorkingSet64;

        var fromStatm = NodeMetrics.ResidentBytes();

        // Both read the kernel's RSS a moment apart; allow for what the test itself allocates in between.
        Assert.InRange(fromStatm, fromProcess * 0.8, fromProcess * 1.25);
    }
}
