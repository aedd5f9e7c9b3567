using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace ReplayCluster.Coordinator.Tests.Http;

/// <summary>
/// Headless Chromium driven over the DevTools protocol (a WebSocket, no driver package): the tests that need more than a
/// dumped DOM (a pointer hovering a chart, a screenshot of that) use it. Chromium, its profile folder and the socket are
/// the test's and go on dispose.
/// </summary>
internal sealed partial class DevToolsBrowser : IAsyncDisposable
{
    public const string Chromium = "/usr/bin/chromium";

    private readonly Process _process;
    private readonly ClientWebSocket _socket;
    private readonly string _profile;
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _receiving;
    private int _nextId;

    private DevToolsBrowser(Process process, ClientWebSocket socket, string profile)
    {
        _process = process;
        _socket = socket;
        _profile = profile;
        _receiving = Task.Run(ReceiveAsync);
    }

    public static async Task<DevToolsBrowser> StartAsync(int width, int height, CancellationToken cancellation)
    {
        var profile = Directory.CreateTempSubdirectory("replaycluster-chromium-").FullName;
        var start = new ProcessStartInfo(Chromium)
        {
            ArgumentList =
            {
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", $"--user-data-dir={profile}", $"--window-size={width},{height}",
                "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "about:blank",
            },
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        var process = Process.Start(start)!;
        try
        {
            // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID": the port it chose.
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            string? port = null;
            while (port is null)
            {
                var line = await process.StandardError.ReadLineAsync(timeout.Token) ?? throw new InvalidOperationException("chromium exited before it listened");
                port = Listening().Match(line) is { Success: true } m ? m.Groups["port"].Value : null;
            }

            _ = process.StandardError.ReadToEndAsync(CancellationToken.None);
            _ = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            var targets = JsonNode.Parse(await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/json/list"), timeout.Token))!.AsArray();
            var page = targets.First(t => (string?)t!["type"] == "page")!;
            var socket = new ClientWebSocket();
            await socket.ConnectAsync(new Uri((string)page["webSocketDebuggerUrl"]!), timeout.Token);
            return new DevToolsBrowser(process, socket, profile);
        }
        catch
        {
            process.Kill(entireProcessTree: true);
            process.Dispose();
            throw;
        }
    }

    /// <summary>Sends one protocol command and returns its result.</summary>
    public async Task<JsonElement> SendAsync(string method, object? parameters, CancellationToken cancellation)
    {
        var id = Interlocked.Increment(ref _nextId);
        var answer = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = answer;
        var message = JsonSerializer.SerializeToUtf8Bytes(new { id, method, @params = parameters ?? new { } });
        await _socket.SendAsync(message, WebSocketMessageType.Text, endOfMessage: true, cancellation);
        return await answer.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellation);
    }

    public Task NavigateAsync(Uri url, CancellationToken cancellation) => SendAsync("Page.navigate", new { url = url.ToString() }, cancellation);

    /// <summary>The value of a JavaScript expression in the page (promises awaited), as JSON.</summary>
    public async Task<JsonElement> EvaluateAsync(string expression, CancellationToken cancellation)
    {
        var result = await SendAsync("Runtime.evaluate", new { expression, returnByValue = true, awaitPromise = true }, cancellation);
        if (result.TryGetProperty("exceptionDetails", out var exception))
        {
            throw new InvalidOperationException($"the page threw: {exception}");
        }

        return result.GetProperty("result").GetProperty("value").Clone();
    }

    /// <summary>Moves the mouse pointer to a point of the viewport (CSS pixels), as a user's mouse would.</summary>
    public Task MoveMouseAsync(double x, double y, CancellationToken cancellation) =>
        SendAsync("Input.dispatchMouseEvent", new { type = "mouseMoved", x, y }, cancellation);

    public async Task ScreenshotAsync(string path, CancellationToken cancellation)
    {
        var shot = await SendAsync("Page.captureScreenshot", new { format = "png" }, cancellation);
        await File.WriteAllBytesAsync(path, Convert.FromBase64String(shot.GetProperty("data").GetString()!), cancellation);
    }

    private async Task ReceiveAsync()
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var part = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (part.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                message.Write(buffer, 0, part.Count);
                if (!part.EndOfMessage)
                {
                    continue;
                }

                using (var json = JsonDocument.Parse(message.ToArray()))
                {
                    // Events (no id) are not needed; answers complete their command.
                    if (json.RootElement.TryGetProperty("id", out var id) && _pending.TryRemove(id.GetInt32(), out var answer))
                    {
                        if (json.RootElement.TryGetProperty("error", out var error))
                        {
                            answer.SetException(new InvalidOperationException($"DevTools: {error}"));
                        }
                        else
                        {
                            answer.SetResult(json.RootElement.GetProperty("result").Clone());
                        }
                    }
                }

                message.SetLength(0);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException)
        {
            // Disposed, or chromium went away: the commands waiting fail below.
        }

        foreach (var answer in _pending.Values)
        {
            answer.TrySetException(new InvalidOperationException("the DevTools connection closed"));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _socket.Abort();
        _socket.Dispose();
        await _receiving;
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync(CancellationToken.None);
        }

        _process.Dispose();
        _stop.Dispose();
        Directory.Delete(_profile, recursive: true);
    }

    [GeneratedRegex(@"DevTools listening on ws://[^:]+:(?<port>\d+)/", RegexOptions.CultureInvariant)]
    private static partial Regex Listening();
}
