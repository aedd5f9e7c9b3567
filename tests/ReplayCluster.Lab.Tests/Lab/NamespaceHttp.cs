using System.Net;
using System.Net.Sockets;
using ReplayCluster.PacketIO;

namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>
/// HTTP requests from the test host into a lab namespace, without a child process: the connection's socket is created
/// inside the namespace (<see cref="NetworkNamespace.RunIn{T}(string, Func{T})"/>) and used from here. A node's
/// readiness probe used to be <c>ip netns exec NS curl</c>: two programs started per probe, ~25 ms of CPU on an idle
/// machine (20 probes 0.5 s, 2026-12-03) and more under load, every 200 ms for every node a lab test starts.
/// </summary>
internal static class NamespaceHttp
{
    /// <summary>
    /// <c>GET http://ENDPOINT/PATH</c> from inside <paramref name="namespace"/>: the status code and the body, whatever
    /// the status (as <c>curl -s</c> prints it). Throws <see cref="HttpRequestException"/> when nothing answers and
    /// <see cref="TaskCanceledException"/> after <paramref name="timeout"/>.
    /// </summary>
    public static async Task<(HttpStatusCode Status, string Body)> GetAsync(string @namespace, IPEndPoint endpoint, string path,
        TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        using var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectCallback = async (_, cancel) =>
            {
                var socket = NetworkNamespace.RunIn(@namespace, () => new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp));
                try
                {
                    await socket.ConnectAsync(endpoint, cancel);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        using var client = new HttpClient(handler) { Timeout = timeout };
        using var response = await client.GetAsync(new Uri($"http://{endpoint}{path}"), cancellationToken);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken));
    }
}
