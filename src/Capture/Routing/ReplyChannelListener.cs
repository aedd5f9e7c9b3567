using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Microsoft.Extensions.Logging;
using ReplayCluster.Capture.Sending;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Membership;
using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Routing;

/// <summary>
/// The capture node's end of the reply channel (<see cref="ReplyChannelProtocol"/>): it listens on the node's
/// cluster address, and each intercept that proves its key (one key per intercept, offered to it alone) opens one
/// connection per shard. After the handshake the connection belongs to its shard's thread
/// (<see cref="ShardThreadExecutor"/>), which polls it beside its work queue, opens the frames and hands their
/// records to the shard as the same <see cref="ResponseBatch"/> remoting delivers: no thread hand-off at all on this
/// node, where remoting's path has four and a reader thread per channel had one (two wake-ups per frame). The shard
/// writes its route claims back on its own connection (<see cref="TrySendClaims"/>), so an intercept with open
/// channels needs remoting for neither direction. Anything a peer sends that no intercept sends (no hello in time,
/// a wrong proof, a shard the node does not have, an impossible header, a frame for another shard, a MAC that does
/// not match) is refused, counted and ends that connection; the listener and other connections go on.
/// </summary>
/// <remarks>
/// A shard actor that does not run on a <see cref="ShardThreadExecutor"/> (shard threads turned off) has its
/// connections polled by a thread of this listener per shard instead, which delivers to the shard by Tell.
/// </remarks>
internal sealed class ReplyChannelListener : IDisposable
{
    /// <summary>Intercepts served at once; each has a connection per shard.</summary>
    public const int MaxIntercepts = 16;

    // A connection must prove the key within this long, or it is refused: a silent peer holds no thread longer.
    private static readonly TimeSpan DefaultHandshakeTimeout = TimeSpan.FromSeconds(2);

    // The claims a shard sends in one write at most; larger sets go in several frames.
    private const int ClaimsPerFrame = 4096;

    // Bytes one receive may take: ~1,400 records, more than a loaded intercept sends between two receives.
    private const int ReceiveBufferSize = 64 * 1024;

    // Bytes a shard thread reads from one connection per turn at most, so one busy intercept cannot hold the
    // shard's other work back (the rest is read in the next turn: the poll is level-triggered).
    private const int ReceiveBytesPerTurn = 4 * ReceiveBufferSize;

    // A claims write that cannot finish within this long (the intercept stopped reading) fails, and the shard falls
    // back to remoting; the socket is non-blocking (its shard thread polls it), so the wait is a poll for space.
    private static readonly TimeSpan ClaimsSendTimeout = TimeSpan.FromSeconds(1);

    private readonly Socket _listener;
    private readonly ConcurrentDictionary<Address, byte[]> _keys = new();
    private readonly ConcurrentDictionary<(Address Intercept, int Shard), Connection> _open = new();
    private readonly SessionShards _shards;
    private readonly CaptureNodeStatistics _statistics;
    private readonly ILogger _logger;
    private readonly string _publicHost;
    private readonly ShardThreadExecutor?[] _fallbackHosts;
    private readonly Lock _fallbackLock = new();
    private readonly TimeSpan _handshakeTimeout;
    private int _connections;
    private volatile bool _closed;

    private ReplyChannelListener(Socket listener, string publicHost, SessionShards shards, CaptureNodeStatistics statistics, ILogger logger, TimeSpan handshakeTimeout)
    {
        _listener = listener;
        _handshakeTimeout = handshakeTimeout;
        _publicHost = publicHost;
        _shards = shards;
        _statistics = statistics;
        _logger = logger;
        _fallbackHosts = new ShardThreadExecutor?[shards.Count];
        MaxConnections = MaxIntercepts * shards.Count;
    }

    /// <summary>The port the listener took.</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

    /// <summary>
    /// Told the intercept's address whenever one of its connections proved its key (on the thread that checked it):
    /// an intercept connects only once it has accepted this node's offer, so this is that acceptance.
    /// </summary>
    public Action<Address>? Connected { get; set; }

    /// <summary>Connections served at once (authenticated or not): <see cref="MaxIntercepts"/> times the shards.</summary>
    public int MaxConnections { get; }

    /// <summary>
    /// Binds to <paramref name="bindHost"/>:<paramref name="port"/> (the node's remoting bind address; 0 takes a free
    /// port) and starts accepting. <paramref name="publicHost"/> is what intercepts are told to connect to. A connection
    /// that has not proved its key within <paramref name="handshakeTimeout"/> (default 2 s) is refused.
    /// </summary>
    public static ReplyChannelListener Start(string bindHost, int port, string publicHost, SessionShards shards, CaptureNodeStatistics statistics, ILogger logger,
        TimeSpan? handshakeTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(shards);
        var address = IPAddress.TryParse(bindHost, out var parsed) ? parsed : Dns.GetHostAddresses(bindHost).First(a => a.AddressFamily == AddressFamily.InterNetwork);
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(address, port));
            socket.Listen(MaxIntercepts * shards.Count);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var listener = new ReplyChannelListener(socket, publicHost, shards, statistics, logger, handshakeTimeout ?? DefaultHandshakeTimeout);
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

    /// <summary>The intercept left the cluster: its key is void and its connections close.</summary>
    public void Forget(Address intercept)
    {
        _keys.TryRemove(intercept, out _);
        foreach (var (key, connection) in _open)
        {
            if (key.Intercept == intercept && _open.TryRemove(new KeyValuePair<(Address, int), Connection>(key, connection)))
            {
                connection.RequestClose("the intercept left the cluster");
            }
        }
    }

    /// <summary>Whether the intercept at <paramref name="intercept"/> has an open connection for <paramref name="shard"/> now.</summary>
    public bool IsOpen(Address intercept, int shard) => _open.TryGetValue((intercept, shard), out var connection) && connection.CloseReason is null;

    /// <summary>
    /// Shard threads: sends shard <paramref name="shard"/>'s claims and releases to the intercept at
    /// <paramref name="intercept"/> over that shard's connection; false when there is none or the write failed (then
    /// the connection closes, and the caller sends them through remoting).
    /// </summary>
    public bool TrySendClaims(Address intercept, int shard, IReadOnlyList<SessionEndpoints> claimed, IReadOnlyList<SessionEndpoints> released)
    {
        ArgumentNullException.ThrowIfNull(claimed);
        ArgumentNullException.ThrowIfNull(released);
        if (!_open.TryGetValue((intercept, shard), out var connection))
        {
            return false;
        }

        if (!connection.TrySendClaims(claimed, released))
        {
            _open.TryRemove(new KeyValuePair<(Address, int), Connection>((intercept, shard), connection));
            return false;
        }

        _statistics.CountClaimsByChannel(claimed.Count + released.Count);
        return true;
    }

    public void Dispose()
    {
        _closed = true;
        _listener.Dispose();
        foreach (var connection in _open.Values)
        {
            connection.RequestClose("node stopping");
        }

        _open.Clear();
        lock (_fallbackLock)
        {
            foreach (var host in _fallbackHosts)
            {
                host?.Shutdown();
            }
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
            if (Interlocked.Increment(ref _connections) > MaxConnections)
            {
                Interlocked.Decrement(ref _connections);
                _statistics.Refusals.Refuse(_logger, "reply channel connection", remote, RefusalReasons.TooManyConnections,
                    $"{MaxConnections} connections are open already");
                connection.Dispose();
                continue;
            }

            // The handshake waits for the peer (up to its timeout) on a thread of its own, which ends with it: the
            // connection's reading then belongs to its shard's thread.
            new Thread(() => Serve(connection, remote)) { IsBackground = true, Name = "reply-channel-hello" }.Start();
        }
    }

    private void Serve(Socket socket, string remote)
    {
        Connection? connection = null;
        try
        {
            if (Handshake(socket, remote) is not { } accepted)
            {
                return;
            }

            var shard = accepted.Keys.Shard;
            connection = new Connection(this, socket, $"{remote} ({accepted.Intercept}, shard {shard})", accepted.Intercept, shard, accepted.Keys);

            // Claims of this shard to this intercept go through here from now on (a connection it had before is
            // replaced: it reconnected).
            var key = (accepted.Intercept, shard);
            if (_open.TryGetValue(key, out var previous))
            {
                previous.RequestClose("replaced: the intercept connected again");
            }

            _open[key] = connection;
            _statistics.ReplyChannelOpened();
            CaptureLog.ReplyChannelOpened(_logger, connection.Name);
            HandOver(connection);
            Connected?.Invoke(accepted.Intercept);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException)
        {
            if (connection is null)
            {
                Refuse(remote, RefusalReasons.BadHandshake, _closed ? "node stopping" : ex.Message);
            }
        }
        finally
        {
            if (connection is null)
            {
                socket.Dispose();
                Interlocked.Decrement(ref _connections);
            }
        }
    }

    // The connection goes to the thread of its shard's dispatcher, which adopts the socket itself. A shard on another
    // dispatcher gets a polling thread of this listener.
    private void HandOver(Connection connection) =>
        ShardThreadExecutor.RunOnThreadOf(_shards.Refs[connection.Shard], host => connection.AdoptBy(host ?? FallbackHost(connection.Shard)));

    private ShardThreadExecutor FallbackHost(int shard)
    {
        lock (_fallbackLock)
        {
            return _fallbackHosts[shard] ??= new ShardThreadExecutor($"reply-channel-{shard}", $"reply-channel-{shard}", static () => { }, null);
        }
    }

    // Greets, reads the hello within the timeout and checks its proof against each intercept's key and its shard
    // against the node's; the intercept and the connection's keys when both hold.
    private (Address Intercept, ReplyChannelProtocol.ChannelKeys Keys)? Handshake(Socket connection, string remote)
    {
        connection.ReceiveTimeout = (int)_handshakeTimeout.TotalMilliseconds;
        connection.SendTimeout = (int)_handshakeTimeout.TotalMilliseconds;
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
            Refuse(remote, RefusalReasons.BadHandshake, $"no hello within {_handshakeTimeout.TotalSeconds:F0} s");
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

        if (accepted.Value.Keys.Shard >= _shards.Count)
        {
            Refuse(remote, RefusalReasons.BadHandshake, $"a connection for shard {accepted.Value.Keys.Shard} of {_shards.Count}");
            return null;
        }

        connection.Send([ReplyChannelProtocol.Accepted]);

        // From here on the intercept may be quiet for as long as the target is. Keep-alive probes find an intercept
        // host that vanished without a FIN, so its connection ends.
        connection.ReceiveTimeout = 0;
        connection.SendTimeout = 0;
        connection.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        connection.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, 30);
        connection.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 10);
        connection.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 3);

        // Claims are small and a session's replies wait for its claim: no Nagle delay. The shard thread polls the
        // socket and must never block in a read.
        connection.NoDelay = true;
        connection.Blocking = false;
        return accepted;
    }

    private void Refuse(string remote, string reason, string detail) =>
        _statistics.Refusals.Refuse(_logger, "reply channel", remote, reason, detail);

    private static ReadOnlySpan<SessionEndpoints> Slice(IReadOnlyList<SessionEndpoints> all, int offset, List<SessionEndpoints> scratch)
    {
        scratch.Clear();
        for (var i = offset; i < Math.Min(all.Count, offset + ClaimsPerFrame); i++)
        {
            scratch.Add(all[i]);
        }

        return System.Runtime.InteropServices.CollectionsMarshal.AsSpan(scratch);
    }

    /// <summary>
    /// One shard's connection from one intercept. Its shard thread reads it (<see cref="OnReadable"/>) and closes
    /// it; the shard writes claims to it under <see cref="_sendLock"/>; any thread may ask it to close.
    /// </summary>
    private sealed class Connection : IShardSocket
    {
        private readonly ReplyChannelListener _listener;
        private readonly Socket _socket;
        private readonly IActorRef _shardRef;
        private readonly ReplyChannelProtocol.FrameMac _mac;
        private readonly ReplyChannelProtocol.FrameMac _claims;
        private readonly Lock _sendLock = new();
        private readonly byte[] _claimsBuffer = new byte[ReplyChannelProtocol.ClaimsFrameSize(2 * ClaimsPerFrame)];
        private readonly List<SessionEndpoints> _claimed = [];
        private readonly List<SessionEndpoints> _released = [];
        private readonly List<ResponseRecord> _gathered = [];
        private byte[] _buffer = new byte[Math.Max(ReceiveBufferSize, ReplyChannelProtocol.FrameSize(256))];
        private int _start;
        private int _end;
        private volatile string? _closeReason;
        private ShardThreadExecutor? _host;
        private bool _closed;

        public Connection(ReplyChannelListener listener, Socket socket, string name, Address intercept, int shard, ReplyChannelProtocol.ChannelKeys keys)
        {
            _listener = listener;
            _socket = socket;
            Name = name;
            Intercept = intercept;
            Shard = shard;
            _shardRef = listener._shards.Refs[shard];
            _mac = new ReplyChannelProtocol.FrameMac(keys.Replies);
            _claims = new ReplyChannelProtocol.FrameMac(keys.Claims);
            Descriptor = (int)socket.Handle;
        }

        public string Name { get; }

        public Address Intercept { get; }

        public int Shard { get; }

        public int Descriptor { get; }

        public string? CloseReason => _closeReason;

        /// <summary>Any thread: the shard thread closes the connection at its next turn (at once when it has none yet).</summary>
        public void RequestClose(string reason)
        {
            _closeReason ??= reason;
            Volatile.Read(ref _host)?.Wake();
        }

        /// <summary>The connection's thread from now on: it polls, reads and closes the socket.</summary>
        public void AdoptBy(ShardThreadExecutor host)
        {
            Volatile.Write(ref _host, host);
            host.Adopt(this);
        }

        public bool TrySendClaims(IReadOnlyList<SessionEndpoints> claimed, IReadOnlyList<SessionEndpoints> released)
        {
            lock (_sendLock)
            {
                if (_closed || _closeReason is not null)
                {
                    return false;
                }

                try
                {
                    var deadline = Environment.TickCount64 + (long)ClaimsSendTimeout.TotalMilliseconds;
                    for (var offset = 0; offset < Math.Max(claimed.Count, released.Count); offset += ClaimsPerFrame)
                    {
                        var claimedPart = Slice(claimed, offset, _claimed);
                        var releasedPart = Slice(released, offset, _released);
                        var length = _claims.SealClaims(_claimsBuffer, Shard, claimedPart, releasedPart);
                        if (!SendAll(_claimsBuffer.AsSpan(0, length), deadline))
                        {
                            RequestClose("a claims write did not finish within a second");
                            return false;
                        }
                    }

                    return true;
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                    RequestClose(ex.Message);
                    return false;
                }
            }
        }

        public string? OnReadable()
        {
            var taken = 0;
            while (taken < ReceiveBytesPerTurn)
            {
                if (_end == _buffer.Length)
                {
                    // Only a frame's beginning is left here (the rest was opened): move it to the front.
                    _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
                    (_end, _start) = (_end - _start, 0);
                }

                var read = _socket.Receive(_buffer.AsSpan(_end), SocketFlags.None, out var error);
                if (error == SocketError.WouldBlock)
                {
                    return null;
                }

                if (error != SocketError.Success)
                {
                    return error.ToString();
                }

                if (read == 0)
                {
                    return _start == _end ? "closed by the intercept" : "closed by the intercept inside a frame";
                }

                _end += read;
                taken += read;
                if (OpenFrames() is { } refused)
                {
                    return refused;
                }
            }

            return null;
        }

        public void Close(string reason)
        {
            lock (_sendLock)
            {
                _closed = true;
                _socket.Dispose();
                _claims.Dispose();
            }

            _listener._open.TryRemove(new KeyValuePair<(Address, int), Connection>((Intercept, Shard), this));
            Interlocked.Decrement(ref _listener._connections);
            _listener._statistics.ReplyChannelClosed();
            CaptureLog.ReplyChannelClosed(_listener._logger, Name, _mac.Frames, _listener._closed ? "node stopping" : reason);
            _mac.Dispose();
        }

        // Opens the whole frames received and hands their records to the shard as one batch (or a few, when more
        // than a batch came): one receive under load holds several frames, each checked in turn. Nothing waits for
        // company: what was received is delivered before the thread polls again. Returns why the connection ends.
        private string? OpenFrames()
        {
            try
            {
                while (_end - _start >= ReplyChannelProtocol.HeaderSize)
                {
                    if (!ReplyChannelProtocol.TryReadHeader(_buffer.AsSpan(_start), _listener._shards.Count, out var count, out var shard, out var problem))
                    {
                        _listener.Refuse(Name, RefusalReasons.BadFrame, problem);
                        return $"refused {problem}";
                    }

                    if (shard != Shard)
                    {
                        problem = $"a frame for shard {shard} on shard {Shard}'s connection";
                        _listener.Refuse(Name, RefusalReasons.BadFrame, problem);
                        return $"refused {problem}";
                    }

                    var size = ReplyChannelProtocol.FrameSize(count);
                    if (_end - _start < size)
                    {
                        if (size > _buffer.Length)
                        {
                            // Grows to the largest frame seen (the intercept's batch-size bounds it: 256 records = 11.5 KB by default).
                            var larger = new byte[size];
                            _buffer.AsSpan(_start, _end - _start).CopyTo(larger);
                            (_buffer, _end, _start) = (larger, _end - _start, 0);
                        }

                        break;
                    }

                    if (_gathered.Count + count > ResponseBatch.MaxRecords)
                    {
                        Deliver();
                    }

                    if (!_mac.TryOpen(_buffer.AsSpan(_start, size), count, _gathered))
                    {
                        _listener.Refuse(Name, RefusalReasons.BadFrame, $"frame {_mac.Frames - 1}'s MAC does not match");
                        return "refused a frame whose MAC does not match";
                    }

                    _listener._statistics.CountByChannel(count);
                    _start += size;
                }

                if (_start == _end)
                {
                    (_start, _end) = (0, 0);
                }

                return null;
            }
            finally
            {
                Deliver();
            }
        }

        private void Deliver()
        {
            if (_gathered.Count > 0)
            {
                _shardRef.Tell(new ResponseBatch([.. _gathered]) { Origin = Intercept }, ActorRefs.NoSender);
                _gathered.Clear();
            }
        }

        // Writes all of a frame to the non-blocking socket, waiting for space until the deadline; false when it
        // passed (part of a frame may be out: the connection cannot be used again).
        private bool SendAll(ReadOnlySpan<byte> frame, long deadline)
        {
            while (frame.Length > 0)
            {
                var sent = _socket.Send(frame, SocketFlags.None, out var error);
                if (error == SocketError.WouldBlock)
                {
                    var left = deadline - Environment.TickCount64;
                    if (left <= 0 || !_socket.Poll(TimeSpan.FromMilliseconds(left), SelectMode.SelectWrite))
                    {
                        return false;
                    }

                    continue;
                }

                if (error != SocketError.Success)
                {
                    throw new SocketException((int)error);
                }

                frame = frame[sent..];
            }

            return true;
        }
    }
}
