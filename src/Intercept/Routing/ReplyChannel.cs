using System.Net.Sockets;
using ReplayCluster.Replay;

namespace ReplayCluster.Intercept.Routing;

/// <summary>
/// The intercept's end of one capture node's reply channel (<see cref="ReplyChannelProtocol"/>): a TCP connection
/// the <see cref="ReplyRouter"/> writes sealed frames to, straight from its turn. Writes block only when the capture
/// node's receive buffer and this socket's 4 MiB send buffer are both full (over a second of replies at 60k/s);
/// one that has not finished within the send timeout fails, and the router closes the channel and goes back to
/// remoting for that node. The capture node's route claims come back on the same connection; a thread of the
/// channel reads them (<see cref="StartReadingClaims"/>).
/// </summary>
internal sealed class ReplyChannel : IDisposable
{
    // Replies are small and latency is the point: 4 MiB absorbs a capture node's pause without blocking the router.
    private const int SendBufferBytes = 4 * 1024 * 1024;

    private static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(1);

    private readonly Socket _socket;
    private readonly ReplyChannelProtocol.FrameMac _mac;
    private readonly ReplyChannelProtocol.FrameMac _claimsMac;
    private readonly IReadOnlyList<Akka.Actor.IActorRef> _shards;
    private readonly byte[] _frame;
    private readonly int _maxRecords;

    private ReplyChannel(Socket socket, ReplyChannelProtocol.ChannelKeys keys, IReadOnlyList<Akka.Actor.IActorRef> shards, int maxRecords)
    {
        _socket = socket;
        _mac = new ReplyChannelProtocol.FrameMac(keys.Replies);
        _claimsMac = new ReplyChannelProtocol.FrameMac(keys.Claims);
        _shards = shards;
        _maxRecords = maxRecords;
        _frame = new byte[ReplyChannelProtocol.FrameSize(maxRecords)];
    }

    /// <summary>Frames sent.</summary>
    public ulong Frames => _mac.Frames;

    /// <summary>
    /// Connects to the offered endpoint and proves the key; fails (an exception) when the capture node cannot be
    /// reached, does not greet like one, or does not accept the proof within <paramref name="timeout"/>.
    /// </summary>
    public static async Task<ReplyChannel> ConnectAsync(ReplyChannelOffer offer, int maxRecords, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(offer);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, SendBufferSize = SendBufferBytes };
        try
        {
            using var deadline = new CancellationTokenSource(timeout);
            await socket.ConnectAsync(offer.Host, offer.Port, deadline.Token).ConfigureAwait(false);
            var greeting = new byte[ReplyChannelProtocol.GreetingSize];
            await ReadExactlyAsync(socket, greeting, deadline.Token).ConfigureAwait(false);
            var hello = new byte[ReplyChannelProtocol.HelloSize];
            var keys = ReplyChannelProtocol.AnswerGreeting([.. offer.Key], greeting, hello)
                ?? throw new IOException($"{offer.Host}:{offer.Port} does not greet like a reply channel");
            await socket.SendAsync(hello, deadline.Token).ConfigureAwait(false);
            var answer = new byte[1];
            await ReadExactlyAsync(socket, answer, deadline.Token).ConfigureAwait(false);
            if (answer[0] != ReplyChannelProtocol.Accepted)
            {
                throw new IOException($"{offer.Host}:{offer.Port} did not accept the channel's key");
            }

            socket.SendTimeout = (int)SendTimeout.TotalMilliseconds;
            return new ReplyChannel(socket, keys, offer.Shards, maxRecords);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Sends <paramref name="records"/> to shard <paramref name="shard"/>, in frames of at most the size given at
    /// connect; false when the connection failed (then nothing more may be sent on it).
    /// </summary>
    public bool TrySend(int shard, ReadOnlySpan<ResponseRecord> records)
    {
        try
        {
            while (records.Length > 0)
            {
                var part = records[..Math.Min(records.Length, _maxRecords)];
                var length = _mac.Seal(_frame, shard, part);
                var frame = _frame.AsSpan(0, length);
                while (frame.Length > 0)
                {
                    frame = frame[_socket.Send(frame)..];
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
    /// Starts the thread that reads the capture node's claims frames and hands each to <paramref name="apply"/> as
    /// <see cref="RouteClaims"/> of the shard it names (the channel is authenticated as that node, whose shards the
    /// offer listed). A frame no capture node writes ends the channel, told to <paramref name="refused"/>.
    /// </summary>
    public void StartReadingClaims(Action<RouteClaims> apply, Action<string> refused)
    {
        new Thread(() => ReadClaims(apply, refused)) { IsBackground = true, Name = "reply-channel-claims" }.Start();
    }

    public void Dispose()
    {
        _socket.Dispose();
        _mac.Dispose();
    }

    private void ReadClaims(Action<RouteClaims> apply, Action<string> refused)
    {
        var header = new byte[ReplyChannelProtocol.ClaimsHeaderSize];
        var frame = new byte[ReplyChannelProtocol.ClaimsFrameSize(256)];
        try
        {
            while (ReplyChannelProtocol.ReadExactly(_socket, header))
            {
                if (!ReplyChannelProtocol.TryReadClaimsHeader(header, _shards.Count, out var claimed, out var released, out var shard, out var problem))
                {
                    refused(problem);
                    break;
                }

                var size = ReplyChannelProtocol.ClaimsFrameSize(claimed + released);
                if (size > frame.Length)
                {
                    frame = new byte[size];
                }

                header.CopyTo(frame, 0);
                if (!ReplyChannelProtocol.ReadExactly(_socket, frame.AsSpan(ReplyChannelProtocol.ClaimsHeaderSize, size - ReplyChannelProtocol.ClaimsHeaderSize)))
                {
                    break;
                }

                if (!_claimsMac.OpenClaims(frame.AsSpan(0, size), claimed, released, out var claimedEndpoints, out var releasedEndpoints))
                {
                    refused($"claims frame {_claimsMac.Frames - 1}'s MAC does not match");
                    break;
                }

                apply(new RouteClaims(_shards[shard], claimedEndpoints, releasedEndpoints));
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // The channel closed (its sends fail next, and the router falls back to remoting).
        }
        finally
        {
            _socket.Dispose();
            _claimsMac.Dispose();
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
}
