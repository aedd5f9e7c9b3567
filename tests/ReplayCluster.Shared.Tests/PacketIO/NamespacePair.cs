using System.Diagnostics;
using System.Net;

namespace ReplayCluster.Tests.PacketIO;

/// <summary>
/// Two fresh network namespaces joined by a veth pair (<c>veth-a</c> 10.77.0.1/24 in A, <c>veth-b</c> 10.77.0.2/24 in B).
/// Nothing is created in the root namespace; both namespaces (and every process started through this object) are
/// removed on dispose.
/// </summary>
internal sealed class NamespacePair : IDisposable
{
    public static readonly IPAddress AddressA = IPAddress.Parse("10.77.0.1");
    public static readonly IPAddress AddressB = IPAddress.Parse("10.77.0.2");
    public const string DeviceA = "veth-a";
    public const string DeviceB = "veth-b";

    private readonly List<Process> _processes = [];

    public NamespacePair()
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        A = $"rc-pio-{id}-a";
        B = $"rc-pio-{id}-b";
        try
        {
            ExternalProcess.Run("ip", "netns", "add", A);
            ExternalProcess.Run("ip", "netns", "add", B);

            // Created inside A and its peer moved straight to B: the root namespace never sees either end.
            ExternalProcess.Run("ip", "-n", A, "link", "add", DeviceA, "type", "veth", "peer", "name", DeviceB, "netns", B);
            ExternalProcess.Run("ip", "-n", A, "addr", "add", "10.77.0.1/24", "dev", DeviceA);
            ExternalProcess.Run("ip", "-n", B, "addr", "add", "10.77.0.2/24", "dev", DeviceB);
            foreach (var (ns, device) in new[] { (A, DeviceA), (B, DeviceB) })
            {
                ExternalProcess.Run("ip", "-n", ns, "link", "set", "lo", "up");
                ExternalProcess.Run("ip", "-n", ns, "link", "set", device, "up");
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string A { get; }

    public string B { get; }

    /// <summary>Runs a command inside a namespace to completion.</summary>
    public static string Exec(string ns, params string[] command) => ExternalProcess.Run("ip", ["netns", "exec", ns, .. command]);

    /// <summary>Starts a long-running command inside a namespace; it is stopped by PID on dispose.</summary>
    public Process Start(string ns, params string[] command)
    {
        var process = ExternalProcess.Start("ip", ["netns", "exec", ns, .. command]);
        _processes.Add(process);
        return process;
    }

    public void Dispose()
    {
        foreach (var process in _processes)
        {
            ExternalProcess.StopByPid(process);
            process.Dispose();
        }

        foreach (var ns in new[] { A, B })
        {
            if (File.Exists($"/var/run/netns/{ns}"))
            {
                ExternalProcess.TryRun(TimeSpan.FromSeconds(10), "ip", "netns", "del", ns);
            }
        }
    }
}
