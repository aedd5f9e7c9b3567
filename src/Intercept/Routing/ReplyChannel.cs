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
    public static async Task<ReplyChannel> ConnectAsync(ReplyChannelOffer offer, int maxRecords, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(offer);
        using var deadline = new CancellationTokenSource(timeout);
        var connecting = Enumerable.Range(0, offer.Shards.Count).Select(shard => ConnectAsync(offer, shard, deadline.Token)).ToArray();
        try
        {
            return new ReplyChannel(await Task.WhenAll(connecting).ConfigureAwait(false), offer.Shards, maxRecords);
        }
        catch
        {
            foreach (var task in connecting)
            {
                if (task.IsCompletedSuccessfully)
                {
                    task.Result.Dispose();
                }
            }

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

    private static async Task<Link> ConnectAsync(ReplyChannelOffer offer, int shard, CancellationToken cancellation)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, SendBufferSize = SendBufferBytes };
        try
        {
            await socket.ConnectAsync(offer.Host, offer.Port, cancellation).ConfigureAwait(false);
            var greeting = new byte[ReplyChannelProtocol.GreetingSize];
            await ReadExactlyAsync(socket, greeting, cancellation).ConfigureAwait(false);
            var hello = new byte[ReplyChannelProtocol.HelloSize];
            var keys = ReplyChannelProtocol.AnswerGreeting([.. offer.Key], greeting, shard, hello)
                ?? throw new IOException($"{offer.Host}:{offer.Port} does not greet like a reply channel");
            await socket.SendAsync(hello, cancellation).ConfigureAwait(false);
            var answer = new byte[1];
            await ReadExactlyAsync(socket, answer, cancellation).ConfigureAwait(false);
            if (answer[0] != ReplyChannelProtocol.Accepted)
            {
                throw new IOException($"{offer.Host}:{offer.Port} did not accept the channel's key for shard {shard}");
            }

            socket.SendTimeout = (int)SendTimeout.TotalMilliseconds;
            return new Link(socket, shard, keys);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
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

    private static async Task ReadExactlyAsync(Socket socket, Memory<byte> into, CancellationToken cancellation)
    {
        while (into.Length > 0)
        {
            var read = await socket.ReceiveAsync(into, cancellation).ConfigureAwait(false);
            if (read == 0)
            {
                throw new IOException("the capture node closed the reply channel during the handshake");
            }

            into = into[read..];
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
