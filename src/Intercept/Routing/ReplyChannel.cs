using System.Net.Sockets;
using ReplayCluster.Replay;

namespace ReplayCluster.Intercept.Routing;

/// <summary>
/// The intercept's end of one capture node's reply channel (<see cref="ReplyChannelProtocol"/>): a TCP connection
/// per capture shard (the shard's own thread reads it there), which the <see cref="ReplyRouter"/>'s routing thread
/// writes sealed frames to, straight from its turn. Writes block only when the capture node's receive buffer and the
/// socket's 4 MiB send buffer are both full (over a second of replies at 60k/s); one that has not finished within
/// the send timeout fails, and the router closes the channel (all of its connections) and goes back to remoting
/// for that node. Each shard's route claims come back on its connection; a thread per connection reads them
/// (<see cref="StartReadingClaims"/>).
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

    /// <summary>
    /// Starts the threads that read the capture node's claims frames, one per shard's connection, and hands each to
    /// <paramref name="apply"/> as <see cref="RouteClaims"/> of that shard (the connection is authenticated as that
    /// node, whose shards the offer listed). A frame no capture node writes ends the channel, told to
    /// <paramref name="refused"/>.
    /// </summary>
    public void StartReadingClaims(Action<RouteClaims> apply, Action<string> refused)
    {
        foreach (var link in _links)
        {
            new Thread(() => ReadClaims(link, apply, refused)) { IsBackground = true, Name = $"reply-channel-claims-{link.Shard}" }.Start();
        }
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

    // Reads one connection's claims frames; each must name the connection's shard.
    private void ReadClaims(Link link, Action<RouteClaims> apply, Action<string> refused)
    {
        var header = new byte[ReplyChannelProtocol.ClaimsHeaderSize];
        var frame = new byte[ReplyChannelProtocol.ClaimsFrameSize(256)];
        try
        {
            while (ReplyChannelProtocol.ReadExactly(link.Socket, header))
            {
                if (!ReplyChannelProtocol.TryReadClaimsHeader(header, _shards.Count, out var claimed, out var released, out var shard, out var problem))
                {
                    refused(problem);
                    break;
                }

                if (shard != link.Shard)
                {
                    refused($"a claims frame for shard {shard} on shard {link.Shard}'s connection");
                    break;
                }

                var size = ReplyChannelProtocol.ClaimsFrameSize(claimed + released);
                if (size > frame.Length)
                {
                    frame = new byte[size];
                }

                header.CopyTo(frame, 0);
                if (!ReplyChannelProtocol.ReadExactly(link.Socket, frame.AsSpan(ReplyChannelProtocol.ClaimsHeaderSize, size - ReplyChannelProtocol.ClaimsHeaderSize)))
                {
                    break;
                }

                if (!link.Claims.OpenClaims(frame.AsSpan(0, size), claimed, released, out var claimedEndpoints, out var releasedEndpoints))
                {
                    refused($"claims frame {link.Claims.Frames - 1}'s MAC does not match");
                    break;
                }

                apply(new RouteClaims(_shards[shard], claimedEndpoints, releasedEndpoints));
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // The connection closed (its sends fail next, and the router falls back to remoting).
        }
        finally
        {
            // A connection the capture node closed makes the next send to its shard fail at once: the router then
            // closes the whole channel and connects again later.
            link.Socket.Dispose();
            link.Claims.Dispose();
        }
    }

    // One shard's connection: the socket, the reply frames' MAC state (the routing thread's) and the claims'
    // (its reader thread's).
    private sealed class Link(Socket socket, int shard, ReplyChannelProtocol.ChannelKeys keys) : IDisposable
    {
        public Socket Socket { get; } = socket;

        public int Shard { get; } = shard;

        public ReplyChannelProtocol.FrameMac Mac { get; } = new(keys.Replies);

        public ReplyChannelProtocol.FrameMac Claims { get; } = new(keys.Claims);

        public void Dispose()
        {
            Socket.Dispose();
            Mac.Dispose();
        }
    }
}
