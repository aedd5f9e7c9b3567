namespace ReplayCluster.Benchmarks;

internal static class Program
{
    private static int Main(string[] args)
    {
        // Console modes first (measurements that need a live lab, not BenchmarkDotNet); everything else is a benchmark filter.
        if (args is [CaptureRate.Command, ..])
        {
            return CaptureRate.Run(args);
        }

        if (args is [Fuzz.FuzzCommand.Command, ..])
        {
            return Fuzz.FuzzCommand.Run(args);
        }

        BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
