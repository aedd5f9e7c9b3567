using System.Net;
using System.Net.Sockets;

namespace ReplayCluster.Tests.TestSupport;

/// <summary>Loopback ports for in-process servers (an exporter, a health endpoint, a seed node).</summary>
internal static class FreePorts
{
    /// <summary>A TCP port the kernel just handed out on 127.0.0.1 and took back: free unless another binds it first.</summary>
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
