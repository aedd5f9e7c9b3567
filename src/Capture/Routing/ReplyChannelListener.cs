using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Microsoft.Extensions.Logging;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Membership;
using ReplayCluster.Replay;

namespace ReplayCluster.Capture.Routing;

/// <summary>
/// The capture node's end of the reply channel (<see cref="ReplyChannelProtocol"/>): it listens on the node's
/// cluster address, and for each intercept that proves the key it reads frames on a thread of its own and hands
/// each frame's records straight to the shard the frame names, as the same <see cref="ResponseBatch"/> remoting
/// delivers. That is one hand-off (this thread to the shard's) where remoting's path has four on this node.
/// Anything a peer sends that no intercept sends (no hello in time, a wrong proof, an impossible header, a MAC that
/// does not match) is refused, counted and ends that connection; the listener and other connections go on.
/// </summary>
internal sealed class ReplyChannelListener : IDisposable
{
    /// <summary>Connections served at once (authenticated or not); a node has one per intercept.</summary>
    public const int MaxConnections = 16;

    // A connection must prove the key within this long, or it is refused: a silent peer holds no thread longer.
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(2);

    private readonly Socket _listener;
    private readonly byte[] _key = ReplyChannelProtocol.NewKey();
    private readonly SessionShards _shards;
    private readonly CaptureNodeStatistics _statistics;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<Socket, byte> _connections = new();
    private readonly string _publicHost;
    private volatile bool _closed;

    private ReplyChannelListener(Socket listener, string publicHost, SessionShards shards, CaptureNodeStatistics statistics, ILogger logger)
    {
        _listener = listener;
        _publicHost = publicHost;
        _shards = shards;
        _statistics = statistics;
        _logger = logger;
    }

    /// <summary>The port the listener took.</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

    /// <summary>
    /// Binds to <paramref name="bindHost"/>:<paramref name="port"/> (the node's remoting bind address; 0 takes a free
    /// port) and starts accepting. <paramref name="publicHost"/> is what intercepts are told to connect to.
    /// </summary>
    public static ReplyChannelListener Start(string bindHost, int port, string publicHost, SessionShards shards, CaptureNodeStatistics statistics, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(shards);
        var address = IPAddress.TryParse(bindHost, out var parsed) ? parsed : Dns.GetHostAddresses(bindHost).First(a => a.AddressFamily == AddressFamily.InterNetwork);
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(address, port));
            socket.Listen(MaxConnections);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var listener = new ReplyChannelListener(socket, publicHost, shards, statistics, logger);
        CaptureLog.ReplyChannelListening(logger, socket.LocalEndPoint!.ToString()!, publicHost, listener.Port);
        new Thread(listener.AcceptLoop) { IsBackground = true, Name = "reply-channel-accept" }.Start();
        return listener;
    }

    /// <summary>The offer for an intercept: where to connect, the key, and the shards in index order.</summary>
    public ReplyChannelOffer Offer() => new(_publicHost, Port, _key, [.. _shards.Refs]);

    public void Dispose()
    {
        _closed = true;
        _listener.Dispose();
        foreach (var connection in _connections.Keys)
        {
            connection.Dispose();
        }
    }

    private void AcceptLoop()
    {
        while (!_closed)
        {
            Socket connection;
            try
            {
                connection = _listener.Accept();
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                if (_closed)
                {
                    return;
                }

                // A connection reset before it was accepted, or descriptors exhausted: try the next one.
                Thread.Sleep(10);
                continue;
            }

            var remote = connection.RemoteEndPoint?.ToString() ?? "?";
            if (_connections.Count >= MaxConnections)
            {
                _statistics.Refusals.Refuse(_logger, "reply channel connection", remote, RefusalReasons.TooManyConnections,
                    $"{MaxConnections} connections are open already");
                connection.Dispose();
                continue;
            }

            _connections[connection] = 0;
            new Thread(() => Serve(connection, remote)) { IsBackground = true, Name = "reply-channel" }.Start();
        }
    }

    private void Serve(Socket connection, string remote)
    {
        var opened = false;
        ReplyChannelProtocol.FrameMac? mac = null;
        var reason = "closed by the intercept";
        try
        {
            mac = Handshake(connection, remote);
            if (mac is null)
            {
                return;
            }

            opened = true;
            _statistics.ReplyChannelOpened();
            CaptureLog.ReplyChannelOpened(_logger, remote);
            reason = ReadFrames(connection, remote, mac);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException)
        {
            reason = _closed ? "node stopping" : ex.Message;
        }
        finally
        {
            _connections.TryRemove(connection, out _);
            connection.Dispose();
            if (opened)
            {
                _statistics.ReplyChannelClosed();
                CaptureLog.ReplyChannelClosed(_logger, remote, mac!.Frames, reason);
            }

            mac?.Dispose();
        }
    }

    // Greets, reads the hello within the timeout and checks its proof; the frame MAC state when it holds.
    private ReplyChannelProtocol.FrameMac? Handshake(Socket connection, string remote)
    {
        connection.ReceiveTimeout = (int)HandshakeTimeout.TotalMilliseconds;
        connection.SendTimeout = (int)HandshakeTimeout.TotalMilliseconds;
        Span<byte> greeting = stackalloc byte[ReplyChannelProtocol.GreetingSize];
        ReplyChannelProtocol.WriteGreeting(greeting);
        connection.Send(greeting);
        Span<byte> hello = stackalloc byte[ReplyChannelProtocol.HelloSize];
        try
        {
            if (!ReadExactly(connection, hello))
            {
                Refuse(remote, RefusalReasons.BadHandshake, "closed before its hello");
                return null;
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.TimedOut)
        {
            Refuse(remote, RefusalReasons.BadHandshake, $"no hello within {HandshakeTimeout.TotalSeconds:F0} s");
            return null;
        }

        if (ReplyChannelProtocol.CheckHello(_key, greeting, hello) is not { } frameKey)
        {
            Refuse(remote, RefusalReasons.BadHandshake, "the hello does not prove the channel's key");
            return null;
        }

        connection.Send([ReplyChannelProtocol.Accepted]);

        // From here on the intercept may be quiet for as long as the target is: no receive timeout. Keep-alive
        // probes find an intercept host that vanished without a FIN, so its reader thread ends.
        connection.ReceiveTimeout = 0;
        connection.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        connection.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, 30);
        connection.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 10);
        connection.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 3);
        return new ReplyChannelProtocol.FrameMac(frameKey);
    }

    // Reads frames until the intercept closes or sends what it never sends; returns why the connection ends.
    private string ReadFrames(Socket connection, string remote, ReplyChannelProtocol.FrameMac mac)
    {
        // Grows to the largest frame seen (the intercept's batch-size bounds it: 256 records = 11.5 KB by default).
        var buffer = new byte[ReplyChannelProtocol.FrameSize(256)];
        while (true)
        {
            if (!ReadExactly(connection, buffer.AsSpan(0, ReplyChannelProtocol.HeaderSize)))
            {
                return "closed by the intercept";
            }

            var shards = _shards.Refs;
            if (!ReplyChannelProtocol.TryReadHeader(buffer, shards.Count, out var count, out var shard, out var problem))
            {
                Refuse(remote, RefusalReasons.BadFrame, problem);
                return $"refused {problem}";
            }

            var size = ReplyChannelProtocol.FrameSize(count);
            if (size > buffer.Length)
            {
                var larger = new byte[size];
                buffer.AsSpan(0, ReplyChannelProtocol.HeaderSize).CopyTo(larger);
                buffer = larger;
            }

            if (!ReadExactly(connection, buffer.AsSpan(ReplyChannelProtocol.HeaderSize, size - ReplyChannelProtocol.HeaderSize)))
            {
                return "closed by the intercept inside a frame";
            }

            if (mac.Open(buffer.AsSpan(0, size), count) is not { } records)
            {
                Refuse(remote, RefusalReasons.BadFrame, $"frame {mac.Frames - 1}'s MAC does not match");
                return "refused a frame whose MAC does not match";
            }

            _statistics.CountByChannel(records.Length);
            shards[shard].Tell(new ResponseBatch(records), ActorRefs.NoSender);
        }
    }

    private void Refuse(string remote, string reason, string detail) =>
        _statistics.Refusals.Refuse(_logger, "reply channel", remote, reason, detail);

    // False when the peer closed before the span was full.
    private static bool ReadExactly(Socket connection, Span<byte> into)
    {
        while (into.Length > 0)
        {
            var read = connection.Receive(into);
            if (read == 0)
            {
                return false;
            }

            into = into[read..];
        }

        return true;
    }
}
