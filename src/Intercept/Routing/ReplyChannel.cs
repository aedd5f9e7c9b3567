using System.Net.Sockets;
using ReplayCluster.Protocol;

namespace ReplayCluster.Intercept.Routing;

/// <summary>
/// The intercept's end of one capture node's reply channel (<see cref="ReplyChannelProtocol"/>): a TCP connection
/// per capture shard (the shard's own thread reads it there), which the <see cref="ReplyRouter"/>'s routing thread
/// writes sealed frames to, straight from its turn. Writes block only when the capture node's receive buffer and the
/// socket's 4 MiB send buffer are both full (over a second of replies at 60k/s); one that has not finished within
/// the send timeout fails, and the router closes the channel (all of its connections) and goes back to remoting
/// for that node. Each shard's route claims come back on its connection, and the same thread reads them when its
/// capture loop sees the socket readable (<see cref="ReadClaims"/>): a claims reader thread of its own per
/// connection was a wake-up of that thread and then of the capture thread for every claims frame.
/// </summary>
internal sealed class ReplyChannel : IDisposable
{
    // Replies are small and latency is the point: 4 MiB absorbs a capture node's pause without blocking the router.
    private const int SendBufferBytes = 4 * 1024 * 1024;

    private static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(1);

    private readonly Link[] _links;
    private readonly IReadOnlyList<Akka.Actor.IActorRef> _shards;
    private readonly byte[] _frame;
    private readonly int _maxRecords;

    private ReplyChannel(Link[] links, IReadOnlyList<Akka.Actor.IActorRef> shards, int maxRecords)
    {
        _links = links;
        _shards = shards;
        _maxRecords = maxRecords;
        _frame = new byte[ReplyChannelProtocol.FrameSize(maxRecords)];
    }

    /// <summary>Frames sent, over all the shards' connections.</summary>
    public ulong Frames => _links.Aggregate(0UL, (sum, link) => sum + link.Mac.Frames);

    /// <summary>
    /// Connects to the offered endpoint once per shard of the offer, each connection proving the key for its shard
    /// (all at once); fails (an exception, and no connection stays open) when the capture node cannot be reached,
    /// does not greet like one, or does not accept every proof within <paramref name="timeout"/>.
    /// </summary>
    /// <remarks>
    /// Runs on a thread of its own, with blocking calls only: a socket .NET ever used asynchronously stays in its
    /// async engine, where every later blocking receive is a wake-up of the engine's epoll thread, then of a
    /// thread-pool worker, then of the reader (at ~1k sessions/s each claim and each release is a frame: the
    /// intercept's thread pool and epoll thread were half of its CPU, bench/README.md "Claims without the async
    /// engine"). A plain blocking socket wakes only its reader.
    /// </remarks>
    public static Task<ReplyChannel> ConnectAsync(ReplyChannelOffer offer, int maxRecords, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(offer);
        return Task.Factory.StartNew(() => Connect(offer, maxRecords, timeout), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    private static ReplyChannel Connect(ReplyChannelOffer offer, int maxRecords, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var links = new List<Link>(offer.Shards.Count);
        try
        {
            for (var shard = 0; shard < offer.Shards.Count; shard++)
            {
                links.Add(Connect(offer, shard, deadline));
            }

            return new ReplyChannel([.. links], offer.Shards, maxRecords);
        }
        catch
        {
            links.ForEach(link => link.Dispose());
            throw;
        }
    }

    /// <summary>
    /// Sends <paramref name="records"/> to shard <paramref name="shard"/> on its connection, in frames of at most the
    /// size given at connect; false when the connection failed (then nothing more may be sent on the channel).
    /// </summary>
    public bool TrySend(int shard, ReadOnlySpan<ResponseRecord> records)
    {
        var link = _links[shard];
        try
        {
            while (records.Length > 0)
            {
                var part = records[..Math.Min(records.Length, _maxRecords)];
                var length = link.Mac.Seal(_frame, shard, part);
                var frame = _frame.AsSpan(0, length);
                while (frame.Length > 0)
                {
                    frame = frame[link.Socket.Send(frame)..];
                }

                records = records[part.Length..];
            }

            return true;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>The shards' connections (one per shard of the offer).</summary>
    public int Links => _links.Length;

    /// <summary>The socket descriptor of shard <paramref name="link"/>'s connection, to wait on for its claims frames.</summary>
    public int Descriptor(int link) => (int)_links[link].Socket.Handle;

    /// <summary>
    /// Reads what shard <paramref name="link"/>'s connection has (never waits: call it when the descriptor is
    /// readable) and hands each whole claims frame to <paramref name="apply"/> as <see cref="RouteClaims"/> of that
    /// shard (the connection is authenticated as that node, whose shards the offer listed); a partial frame waits for
    /// the rest. <see cref="ClaimsRead.Closed"/>: the capture node closed the connection or it failed;
    /// <see cref="ClaimsRead.Refused"/>: a frame no capture node writes (<paramref name="problem"/> names it). Either
    /// way the channel is done.
    /// </summary>
    public ClaimsRead ReadClaims(int link, Action<RouteClaims> apply, out string problem)
    {
        ArgumentNullException.ThrowIfNull(apply);
        problem = string.Empty;
        var l = _links[link];
        nint read;
        int errno;
        try
        {
            read = PacketIO.LibC.ReceiveNow(Descriptor(link), l.ClaimsBuffer.AsSpan(l.ClaimsFilled), out errno);
        }
        catch (ObjectDisposedException)
        {
            return ClaimsRead.Closed;
        }

        if (read < 0)
        {
            return errno is PacketIO.LibC.EAgain or PacketIO.LibC.EIntr ? ClaimsRead.Open : ClaimsRead.Closed;
        }

        if (read == 0)
        {
            return ClaimsRead.Closed;
        }

        l.ClaimsFilled += (int)read;
        var buffer = l.ClaimsBuffer.AsSpan(0, l.ClaimsFilled);
        var offset = 0;
        while (buffer.Length - offset >= ReplyChannelProtocol.ClaimsHeaderSize)
        {
            if (!ReplyChannelProtocol.TryReadClaimsHeader(buffer[offset..], _shards.Count, out var claimed, out var released, out var shard, out problem))
            {
                return ClaimsRead.Refused;
            }

            if (shard != l.Shard)
            {
                problem = $"a claims frame for shard {shard} on shard {l.Shard}'s connection";
                return ClaimsRead.Refused;
            }

            var size = ReplyChannelProtocol.ClaimsFrameSize(claimed + released);
            if (buffer.Length - offset < size)
            {
                break;
            }

            if (!l.Claims.OpenClaims(buffer.Slice(offset, size), claimed, released, out var claimedEndpoints, out var releasedEndpoints))
            {
                problem = $"claims frame {l.Claims.Frames - 1}'s MAC does not match";
                return ClaimsRead.Refused;
            }

            apply(new RouteClaims(_shards[shard], claimedEndpoints, releasedEndpoints));
            offset += size;
        }

        // The partial frame that is left moves to the front (the buffer holds the largest frame whole).
        buffer[offset..].CopyTo(l.ClaimsBuffer);
        l.ClaimsFilled -= offset;
        return ClaimsRead.Open;
    }

    public void Dispose()
    {
        foreach (var link in _links)
        {
            link.Dispose();
        }
    }

    private static Link Connect(ReplyChannelOffer offer, int shard, DateTime deadline)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, SendBufferSize = SendBufferBytes };
        try
        {
            ConnectBefore(socket, offer.Host, offer.Port, deadline);
            var greeting = new byte[ReplyChannelProtocol.GreetingSize];
            ReadExactlyBefore(socket, greeting, deadline);
            var hello = new byte[ReplyChannelProtocol.HelloSize];
            var keys = ReplyChannelProtocol.AnswerGreeting([.. offer.Key], greeting, shard, hello)
                ?? throw new IOException($"{offer.Host}:{offer.Port} does not greet like a reply channel");
            socket.SendTimeout = Remaining(deadline);
            socket.Send(hello);
            var answer = new byte[1];
            ReadExactlyBefore(socket, answer, deadline);
            if (answer[0] != ReplyChannelProtocol.Accepted)
            {
                throw new IOException($"{offer.Host}:{offer.Port} did not accept the channel's key for shard {shard}");
            }

            // The claims reader waits for as long as the node has nothing to claim.
            socket.ReceiveTimeout = 0;
            socket.SendTimeout = (int)SendTimeout.TotalMilliseconds;
            return new Link(socket, shard, keys);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    // A blocking connect has no timeout of its own: a timer closes the socket at the deadline, which ends it. (Not
    // non-blocking plus poll: .NET then keeps the socket non-blocking, and its receives wait in the async engine.)
    private static void ConnectBefore(Socket socket, string host, int port, DateTime deadline)
    {
        var address = System.Net.IPAddress.TryParse(host, out var parsed) ? parsed : System.Net.Dns.GetHostAddresses(host)[0];
        var timedOut = 0;
        using var timer = new Timer(_ =>
        {
            Interlocked.Exchange(ref timedOut, 1);
            socket.Dispose();
        }, null, Remaining(deadline), Timeout.Infinite);
        try
        {
            socket.Connect(address, port);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException && Volatile.Read(ref timedOut) == 1)
        {
            throw new TimeoutException($"{host}:{port} did not accept a connection in time", ex);
        }
    }

    private static void ReadExactlyBefore(Socket socket, Span<byte> into, DateTime deadline)
    {
        socket.ReceiveTimeout = Remaining(deadline);
        if (!ReplyChannelProtocol.ReadExactly(socket, into))
        {
            throw new IOException("the capture node closed the reply channel during the handshake");
        }
    }

    // Milliseconds left before the deadline, at least 1 (0 would mean no timeout to a socket).
    private static int Remaining(DateTime deadline)
    {
        var left = (deadline - DateTime.UtcNow).TotalMilliseconds;
        return left <= 0 ? throw new TimeoutException("the reply channel's handshake took too long") : Math.Max(1, (int)left);
    }

    // One shard's connection: the socket, the reply frames' MAC state, the claims frames' MAC state and the claims
    // read so far (all the routing thread's).
    private sealed class Link(Socket socket, int shard, ReplyChannelProtocol.ChannelKeys keys) : IDisposable
    {
        public Socket Socket { get; } = socket;

        public int Shard { get; } = shard;

        public ReplyChannelProtocol.FrameMac Mac { get; } = new(keys.Replies);

        public ReplyChannelProtocol.FrameMac Claims { get; } = new(keys.Claims);

        /// <summary>Claims bytes received and not yet taken: at most one partial frame between reads.</summary>
        public byte[] ClaimsBuffer { get; } = new byte[ReplyChannelProtocol.ClaimsFrameSize(RouteClaims.MaxEntries)];

        public int ClaimsFilled { get; set; }

        public void Dispose()
        {
            Socket.Dispose();
            Mac.Dispose();
            Claims.Dispose();
        }
    }
}

/// <summary>What <see cref="ReplyChannel.ReadClaims"/> found.</summary>
internal enum ClaimsRead
{
    /// <summary>The connection stays open (frames applied, or a partial frame waits).</summary>
    Open,

    /// <summary>The capture node closed the connection, or it failed.</summary>
    Closed,

    /// <summary>A frame no capture node writes: the stream can no longer be trusted.</summary>
    Refused,
}
