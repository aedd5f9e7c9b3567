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
/// cluster address, and for each intercept that proves its key (one key per intercept, offered to it alone) it
/// reads frames on a thread of its own and hands each frame's records straight to the shard the frame names, as
/// the same <see cref="ResponseBatch"/> remoting delivers. That is one hand-off (this thread to the shard's) where
/// remoting's path has four on this node. The shards write their route claims back on the same connection
/// (<see cref="TrySendClaims"/>), so an intercept with an open channel needs remoting for neither direction.
/// Anything a peer sends that no intercept sends (no hello in time, a wrong proof, an impossible header, a MAC that
/// does not match) is refused, counted and ends that connection; the listener and other connections go on.
/// </summary>
internal sealed class ReplyChannelListener : IDisposable
{
    /// <summary>Connections served at once (authenticated or not); a node has one per intercept.</summary>
    public const int MaxConnections = 16;

    // A connection must prove the key within this long, or it is refused: a silent peer holds no thread longer.
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(2);

    // The claims a shard sends in one write at most; larger sets go in several frames.
    private const int ClaimsPerFrame = 4096;

    // Bytes one receive may take: ~1,400 records, more than a loaded intercept sends between two receives.
    private const int ReceiveBufferSize = 64 * 1024;

    private readonly Socket _listener;
    private readonly ConcurrentDictionary<Address, byte[]> _keys = new();
    private readonly ConcurrentDictionary<Address, Connection> _open = new();
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

    /// <summary>
    /// The offer for the intercept at <paramref name="intercept"/>: where to connect, a key of its own (a new one
    /// for each offer: an intercept that rejoined proves the new one), and the shards in index order.
    /// </summary>
    public ReplyChannelOffer Offer(Address intercept)
    {
        var key = ReplyChannelProtocol.NewKey();
        _keys[intercept] = key;
        return new ReplyChannelOffer(_publicHost, Port, key, [.. _shards.Refs]);
    }

    /// <summary>The intercept left the cluster: its key is void and its channel closes.</summary>
    public void Forget(Address intercept)
    {
        _keys.TryRemove(intercept, out _);
        if (_open.TryRemove(intercept, out var connection))
        {
            connection.Socket.Dispose();
        }
    }

    /// <summary>Whether the intercept at <paramref name="intercept"/> has an open channel now.</summary>
    public bool IsOpen(Address intercept) => _open.ContainsKey(intercept);

    /// <summary>
    /// Shard threads: sends shard <paramref name="shard"/>'s claims and releases to the intercept at
    /// <paramref name="intercept"/> over its channel; false when it has none or the write failed (then the channel
    /// is closed, and the caller sends them through remoting).
    /// </summary>
    public bool TrySendClaims(Address intercept, int shard, IReadOnlyList<SessionEndpoints> claimed, IReadOnlyList<SessionEndpoints> released)
    {
        ArgumentNullException.ThrowIfNull(claimed);
        ArgumentNullException.ThrowIfNull(released);
        if (!_open.TryGetValue(intercept, out var connection))
        {
            return false;
        }

        lock (connection.SendLock)
        {
            try
            {
                for (var offset = 0; offset < Math.Max(claimed.Count, released.Count); offset += ClaimsPerFrame)
                {
                    var claimedPart = Slice(claimed, offset, connection.Claimed);
                    var releasedPart = Slice(released, offset, connection.Released);
                    var length = connection.Claims.SealClaims(connection.Buffer, shard, claimedPart, releasedPart);
                    var frame = connection.Buffer.AsSpan(0, length);
                    while (frame.Length > 0)
                    {
                        frame = frame[connection.Socket.Send(frame)..];
                    }
                }

                _statistics.CountClaimsByChannel(claimed.Count + released.Count);
                return true;
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                _open.TryRemove(new KeyValuePair<Address, Connection>(intercept, connection));
                connection.Socket.Dispose();
                return false;
            }
        }
    }

    public void Dispose()
    {
        _closed = true;
        _listener.Dispose();
        foreach (var connection in _connections.Keys)
        {
            connection.Dispose();
        }
    }

    private static ReadOnlySpan<SessionEndpoints> Slice(IReadOnlyList<SessionEndpoints> all, int offset, List<SessionEndpoints> scratch)
    {
        scratch.Clear();
        for (var i = offset; i < Math.Min(all.Count, offset + ClaimsPerFrame); i++)
        {
            scratch.Add(all[i]);
        }

        return System.Runtime.InteropServices.CollectionsMarshal.AsSpan(scratch);
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
        Connection? channel = null;
        var reason = "closed by the intercept";
        try
        {
            if (Handshake(connection, remote) is not { } accepted)
            {
                return;
            }

            mac = new ReplyChannelProtocol.FrameMac(accepted.Keys.Replies);
            channel = new Connection(connection, new ReplyChannelProtocol.FrameMac(accepted.Keys.Claims));

            // Claims to this intercept go through here from now on (a channel it had before is replaced: it reconnected).
            if (_open.TryGetValue(accepted.Intercept, out var previous))
            {
                previous.Socket.Dispose();
            }

            _open[accepted.Intercept] = channel;
            opened = true;
            _statistics.ReplyChannelOpened();
            CaptureLog.ReplyChannelOpened(_logger, $"{remote} ({accepted.Intercept})");
            reason = ReadFrames(connection, remote, mac);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException)
        {
            reason = _closed ? "node stopping" : ex.Message;
        }
        finally
        {
            _connections.TryRemove(connection, out _);
            if (channel is not null)
            {
                foreach (var (address, open) in _open)
                {
                    if (open == channel)
                    {
                        _open.TryRemove(new KeyValuePair<Address, Connection>(address, open));
                    }
                }

                lock (channel.SendLock)
                {
                    channel.Claims.Dispose();
                }
            }

            connection.Dispose();
            if (opened)
            {
                _statistics.ReplyChannelClosed();
                CaptureLog.ReplyChannelClosed(_logger, remote, mac!.Frames, reason);
            }

            mac?.Dispose();
        }
    }

    // Greets, reads the hello within the timeout and checks its proof against each intercept's key; the intercept
    // and the connection's keys when one holds.
    private (Address Intercept, ReplyChannelProtocol.ChannelKeys Keys)? Handshake(Socket connection, string remote)
    {
        connection.ReceiveTimeout = (int)HandshakeTimeout.TotalMilliseconds;
        connection.SendTimeout = (int)HandshakeTimeout.TotalMilliseconds;
        Span<byte> greeting = stackalloc byte[ReplyChannelProtocol.GreetingSize];
        ReplyChannelProtocol.WriteGreeting(greeting);
        connection.Send(greeting);
        Span<byte> hello = stackalloc byte[ReplyChannelProtocol.HelloSize];
        try
        {
            if (!ReplyChannelProtocol.ReadExactly(connection, hello))
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

        (Address Intercept, ReplyChannelProtocol.ChannelKeys Keys)? accepted = null;
        foreach (var (intercept, key) in _keys)
        {
            if (ReplyChannelProtocol.CheckHello(key, greeting, hello) is { } keys)
            {
                accepted = (intercept, keys);
                break;
            }
        }

        if (accepted is null)
        {
            Refuse(remote, RefusalReasons.BadHandshake, "the hello does not prove the key of any intercept");
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

        // Claims are small and a session's replies wait for its claim: no Nagle delay. A write that cannot finish
        // within a second (the intercept stopped reading) fails, and the shard falls back to remoting.
        connection.NoDelay = true;
        connection.SendTimeout = 1000;
        return accepted;
    }

    // Reads frames until the intercept closes or sends what it never sends; returns why the connection ends.
    // One receive takes whatever the socket holds: under load several frames, each checked in turn, whose records
    // reach each shard as one batch per receive. A burst then costs one system call and one shard wake-up per shard
    // instead of two calls (header, body) and a wake-up per frame, which made this thread a third of the capture
    // node's CPU at keep-alive 50 connections (perf record, 1.3-3.6 records per frame). Nothing waits for company:
    // what was received is delivered before the next receive blocks.
    private string ReadFrames(Socket connection, string remote, ReplyChannelProtocol.FrameMac mac)
    {
        // Grows to the largest frame seen (the intercept's batch-size bounds it: 256 records = 11.5 KB by default).
        var buffer = new byte[Math.Max(ReceiveBufferSize, ReplyChannelProtocol.FrameSize(256))];
        var shards = _shards.Refs;
        var gathered = new List<ResponseRecord>[shards.Count];
        for (var i = 0; i < gathered.Length; i++)
        {
            gathered[i] = [];
        }

        var start = 0;
        var end = 0;
        while (true)
        {
            while (end - start >= ReplyChannelProtocol.HeaderSize)
            {
                if (!ReplyChannelProtocol.TryReadHeader(buffer.AsSpan(start), shards.Count, out var count, out var shard, out var problem))
                {
                    Deliver(shards, gathered);
                    Refuse(remote, RefusalReasons.BadFrame, problem);
                    return $"refused {problem}";
                }

                var size = ReplyChannelProtocol.FrameSize(count);
                if (end - start < size)
                {
                    if (size > buffer.Length)
                    {
                        var larger = new byte[size];
                        buffer.AsSpan(start, end - start).CopyTo(larger);
                        (buffer, end, start) = (larger, end - start, 0);
                    }

                    break;
                }

                if (gathered[shard].Count + count > ResponseBatch.MaxRecords)
                {
                    Deliver(shards, gathered);
                }

                if (!mac.TryOpen(buffer.AsSpan(start, size), count, gathered[shard]))
                {
                    Deliver(shards, gathered);
                    Refuse(remote, RefusalReasons.BadFrame, $"frame {mac.Frames - 1}'s MAC does not match");
                    return "refused a frame whose MAC does not match";
                }

                _statistics.CountByChannel(count);
                start += size;
            }

            Deliver(shards, gathered);
            if (start == end)
            {
                (start, end) = (0, 0);
            }
            else if (end == buffer.Length)
            {
                buffer.AsSpan(start, end - start).CopyTo(buffer);
                (end, start) = (end - start, 0);
            }

            var read = connection.Receive(buffer.AsSpan(end));
            if (read == 0)
            {
                return start == end ? "closed by the intercept" : "closed by the intercept inside a frame";
            }

            end += read;
        }
    }

    // One batch per shard of what the last receive brought, in the order the frames came.
    private static void Deliver(IReadOnlyList<IActorRef> shards, List<ResponseRecord>[] gathered)
    {
        for (var shard = 0; shard < gathered.Length; shard++)
        {
            if (gathered[shard].Count > 0)
            {
                shards[shard].Tell(new ResponseBatch([.. gathered[shard]]), ActorRefs.NoSender);
                gathered[shard].Clear();
            }
        }
    }

    // An open channel as the shards write to it: the claims MAC state and a frame buffer, both under the lock.
    private sealed class Connection(Socket socket, ReplyChannelProtocol.FrameMac claims)
    {
        public Socket Socket { get; } = socket;

        public ReplyChannelProtocol.FrameMac Claims { get; } = claims;

        public Lock SendLock { get; } = new();

        public byte[] Buffer { get; } = new byte[ReplyChannelProtocol.ClaimsFrameSize(2 * ClaimsPerFrame)];

        public List<SessionEndpoints> Claimed { get; } = [];

        public List<SessionEndpoints> Released { get; } = [];
    }

    private void Refuse(string remote, string reason, string detail) =>
        _statistics.Refusals.Refuse(_logger, "reply channel", remote, reason, detail);
}
