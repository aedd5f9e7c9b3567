using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ReplayCluster.Health;

/// <summary>
/// A deliberately tiny HTTP/1.1 responder for <c>GET /healthz</c> (alive: 200) and <c>GET /readyz</c> (200 when
/// ready, 503 otherwise; the <see cref="ReadinessReport"/> as JSON in both cases), on the capture and intercept nodes
/// that have no web server of their own (and on the coordinator, so every role answers the same way).
/// </summary>
/// <remarks>
/// Not Kestrel: the ASP.NET Core framework would add its assemblies and threads to nodes that only need to answer
/// probes. One socket, one pending accept (no thread, no timer while idle), one connection at a time read into a
/// fixed 1 KiB buffer with a 2 s deadline, answered and closed: a probe costs nothing between probes, and a slow or
/// hostile client costs at most that buffer and that deadline. Measured (README of this change, lab nodes idle 60 s):
/// see hocon/common.hocon, <c>health</c>.
/// </remarks>
internal sealed class HealthEndpoint(IPEndPoint endpoint, NodeHealth health, ILogger<HealthEndpoint> logger) : IHostedService, IDisposable
{
    private const int RequestLimit = 1024;
    private static readonly TimeSpan RequestDeadline = TimeSpan.FromSeconds(2);

    private readonly CancellationTokenSource _stopping = new();
    private Socket? _listener;
    private Task _loop = Task.CompletedTask;

    /// <summary>Where it listens (the bound port when 0 was asked for); null before start.</summary>
    public IPEndPoint? BoundEndpoint => _listener?.LocalEndPoint as IPEndPoint;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Bound before the host goes on: a port in use stops the node at start, naming the address.
        var listener = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Bind(endpoint);
            listener.Listen(16);
        }
        catch (SocketException ex)
        {
            listener.Dispose();
            throw new InvalidOperationException($"the health endpoint cannot listen on {endpoint}: {ex.Message}", ex);
        }

        _listener = listener;
        HealthLog.Listening(logger, BoundEndpoint!.ToString());
        _loop = Task.Run(() => AcceptLoopAsync(listener, _stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        _listener?.Dispose();
        await _loop.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public void Dispose()
    {
        _stopping.Dispose();
        _listener?.Dispose();
    }

    private async Task AcceptLoopAsync(Socket listener, CancellationToken stopping)
    {
        var buffer = new byte[RequestLimit];
        while (!stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(stopping);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            using (client)
            {
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                deadline.CancelAfter(RequestDeadline);
                try
                {
                    await AnswerAsync(client, buffer, deadline.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or IOException)
                {
                    HealthLog.Dropped(logger, client.RemoteEndPoint?.ToString() ?? "?", ex.Message);
                }
            }
        }
    }

    private async Task AnswerAsync(Socket client, byte[] buffer, CancellationToken cancellationToken)
    {
        var length = 0;
        while (length < buffer.Length && buffer.AsSpan(0, length).IndexOf("\r\n\r\n"u8) < 0)
        {
            var read = await client.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                break;
            }

            length += read;
        }

        var (status, body) = Respond(buffer.AsSpan(0, length));
        var head = Encoding.ASCII.GetBytes(
            $"HTTP/1.1 {status}\r\nContent-Type: {(body.Length > 0 && body[0] == (byte)'{' ? "application/json" : "text/plain")}\r\nContent-Length: {body.Length}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n");
        await client.SendAsync(head, SocketFlags.None, cancellationToken);
        await client.SendAsync(body, SocketFlags.None, cancellationToken);
        client.Shutdown(SocketShutdown.Send);
    }

    /// <summary>The status line's code and reason, and the body, for a request's bytes.</summary>
    internal (string Status, byte[] Body) Respond(ReadOnlySpan<byte> request)
    {
        var lineEnd = request.IndexOf("\r\n"u8);
        var line = lineEnd < 0 ? request : request[..lineEnd];
        if (!line.StartsWith("GET "u8))
        {
            return ("405 Method Not Allowed", "GET /healthz or /readyz\n"u8.ToArray());
        }

        var target = line[(line.IndexOf((byte)' ') + 1)..];
        var end = target.IndexOfAny((byte)' ', (byte)'?');
        var path = end < 0 ? target : target[..end];
        if (path.SequenceEqual("/healthz"u8))
        {
            return health.Alive ? ("200 OK", "alive\n"u8.ToArray()) : ("503 Service Unavailable", "terminated\n"u8.ToArray());
        }

        if (path.SequenceEqual("/readyz"u8))
        {
            var report = health.Evaluate();
            return (report.Ready ? "200 OK" : "503 Service Unavailable", report.ToJson());
        }

        return ("404 Not Found", "GET /healthz or /readyz\n"u8.ToArray());
    }
}
