using System.Net.Security;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Remote.Transport;
using Google.Protobuf;

namespace ReplayCluster.Cluster.Remoting;

/// <summary>
/// One association of <see cref="ClusterTcpTransport"/>: a connected socket (with TLS once its handshake is done)
/// carrying Akka.Remote's frames, each a 4-byte length and the payload, as Akka's own transport frames them.
/// </summary>
/// <remarks>
/// <para>
/// Writes are queued and sent by one write loop at a time, on the thread of the write that found it idle: a lone
/// message goes out at once, and messages queued while a send is under way go out together in one TLS record
/// and one system call (up to <see cref="BatchBytes"/>). A write never blocks; like Akka's transport, it is
/// accepted until the association closes.
/// </para>
/// <para>
/// Reading starts when Akka registers its listener (<see cref="AssociationHandle.ReadHandlerSource"/>); until
/// then the kernel buffers what arrives. An inbound frame longer than the transport's maximum ends the connection
/// (counted, logged): a peer that sends one is not speaking Akka's protocol.
/// </para>
/// </remarks>
internal sealed class ClusterTcpConnection : AssociationHandle
{
    /// <summary>Bytes gathered into one send (and one TLS record's worth of encryption calls).</summary>
    internal const int BatchBytes = 64 * 1024;

    private const int ReadBufferBytes = 64 * 1024;

    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly ClusterTcpTransport _transport;
    private readonly ClusterTransportSettings _settings;
    // Guards the outbox and the two flags below; held only to queue, to gather a batch, or to mark the close.
    private readonly Lock _gate = new();
    private readonly Queue<ByteString> _outbox = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _readEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private byte[] _batch = [];
    private bool _writing;
    private int _closing;
    private int _disposed;
    private int _notifiedDisassociated;
    private IHandleEventListener? _listener;

    public ClusterTcpConnection(Address localAddress, Address remoteAddress, Socket socket, Stream stream,
        ClusterTcpTransport transport)
        : base(localAddress, remoteAddress)
    {
        _socket = socket;
        _stream = stream;
        _transport = transport;
        _settings = transport.Settings;
        ReadHandlerSource.Task.ContinueWith(static (task, state) => ((ClusterTcpConnection)state!).StartReading(task.Result),
            this, CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <summary>Completes once the socket is closed.</summary>
    public Task Closed => _closed.Task;

    public override bool Write(ByteString payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        lock (_gate)
        {
            if (_closing != 0)
            {
                return false;
            }

            _outbox.Enqueue(payload);
            if (_writing)
            {
                return true;
            }

            _writing = true;
        }

        _ = WriteLoopAsync();
        return true;
    }

    [Obsolete("Use the method that states reasons to make sure disassociation reasons are logged.")]
    public override void Disassociate() => Close(graceful: true);

    /// <summary>
    /// Ends the association: with <paramref name="graceful"/>, what is queued is written first and the peer is told
    /// (TLS close_notify, then a half close), all within <see cref="ClusterTransportSettings.FlushTimeout"/>.
    /// </summary>
    public void Close(bool graceful)
    {
        bool first;
        lock (_gate)
        {
            first = _closing == 0;
            _closing = 1;
            // Drained once no write loop runs: now, or when the running one finds the queue empty.
            if (first && !_writing)
            {
                _drained.TrySetResult();
            }
        }

        if (!graceful)
        {
            Dispose();
        }
        else if (first)
        {
            _ = CloseGracefullyAsync();
        }
    }

    private async Task CloseGracefullyAsync()
    {
        var deadline = _settings.FlushTimeout;
        var started = Environment.TickCount64;
        try
        {
            await _drained.Task.WaitAsync(deadline).ConfigureAwait(false);
            if (_stream is SslStream ssl)
            {
                await ssl.ShutdownAsync().WaitAsync(Remaining()).ConfigureAwait(false);
            }

            _socket.Shutdown(SocketShutdown.Send);
            // The read loop hears the peer close; with no reader registered there is nothing to wait for.
            if (Volatile.Read(ref _listener) is not null)
            {
                await _readEnded.Task.WaitAsync(Remaining()).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is TimeoutException or IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
            // The peer is gone or slow; what was not written by now would not be read.
        }
        finally
        {
            Dispose();
        }

        TimeSpan Remaining() => TimeSpan.FromMilliseconds(Math.Max(0, deadline.TotalMilliseconds - (Environment.TickCount64 - started)));
    }

    private async Task WriteLoopAsync()
    {
        try
        {
            while (true)
            {
                int used;
                lock (_gate)
                {
                    used = Gather();
                    if (used == 0)
                    {
                        _writing = false;
                        if (_closing != 0)
                        {
                            _drained.TrySetResult();
                        }

                        return;
                    }
                }

                await _stream.WriteAsync(_batch.AsMemory(0, used)).ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            // The association is over: refuse further writes in the same step, so none is queued behind a dead loop.
            _transport.WriteFailed(this, ex);
            lock (_gate)
            {
                _writing = false;
                _closing = 1;
            }

            Close(graceful: false);
        }
    }

    // Moves queued frames into the batch buffer, length first; a frame larger than the buffer gets one of its own.
    // Called under _gate by the one running write loop, which alone touches _batch.
    private int Gather()
    {
        var used = 0;
        while (_outbox.TryPeek(out var payload))
        {
            var frame = 4 + payload.Length;
            if (used > 0 && used + frame > BatchBytes)
            {
                break; // one batch is at most BatchBytes, also after a large frame grew the buffer
            }

            if (used + frame > _batch.Length)
            {
                _batch = new byte[Math.Max(frame, BatchBytes)];
            }

            _outbox.TryDequeue(out _);
            _settings.WriteLength(_batch.AsSpan(used, 4), payload.Length);
            payload.Span.CopyTo(_batch.AsSpan(used + 4));
            used += frame;
        }

        if (used == 0 && _batch.Length > BatchBytes)
        {
            _batch = new byte[BatchBytes]; // a large frame's buffer is not kept for the connection's life
        }

        return used;
    }

    private void StartReading(IHandleEventListener listener)
    {
        _listener = listener;
        if (Volatile.Read(ref _disposed) != 0)
        {
            NotifyDisassociated();
            _readEnded.TrySetResult();
            return;
        }

        _ = Task.Run(ReadLoopAsync);
    }

    private async Task ReadLoopAsync()
    {
        var buffer = new byte[ReadBufferBytes];
        int start = 0, end = 0;
        try
        {
            while (true)
            {
                if (end == buffer.Length)
                {
                    buffer = MakeRoom(buffer, ref start, ref end, buffer.Length - start + 1);
                }

                var read = await _stream.ReadAsync(buffer.AsMemory(end)).ConfigureAwait(false);
                if (read == 0)
                {
                    return; // the peer closed
                }

                end += read;
                while (end - start >= 4)
                {
                    var length = _settings.ReadLength(buffer.AsSpan(start, 4));
                    if (length < 0 || length > _settings.MaximumFrameSize)
                    {
                        _transport.RefuseFrame(this, length);
                        return;
                    }

                    if (end - start - 4 < length)
                    {
                        if (buffer.Length - start < 4 + length)
                        {
                            buffer = MakeRoom(buffer, ref start, ref end, 4 + length);
                        }

                        break;
                    }

                    // Payloads after Disassociate are dropped, as Akka's transport drains them.
                    if (Volatile.Read(ref _closing) == 0)
                    {
                        _listener!.Notify(new InboundPayload(ByteString.CopyFrom(buffer, start + 4, length)));
                    }

                    start += 4 + length;
                }

                if (start == end)
                {
                    start = end = 0;
                    if (buffer.Length > ReadBufferBytes)
                    {
                        buffer = new byte[ReadBufferBytes]; // a large frame's buffer is not kept for the connection's life
                    }
                }
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
            // Reset, closed under us, or a TLS record that does not decrypt: the association is over either way.
        }
        finally
        {
            _readEnded.TrySetResult();
            NotifyDisassociated();
            if (Volatile.Read(ref _closing) == 0)
            {
                Close(graceful: false);
            }
        }
    }

    // Moves the unread bytes to the front, growing the buffer when they and `needed` more do not fit.
    private static byte[] MakeRoom(byte[] buffer, ref int start, ref int end, int needed)
    {
        var pending = end - start;
        var target = buffer.Length >= needed ? buffer : new byte[Math.Max(needed, buffer.Length * 2)];
        Buffer.BlockCopy(buffer, start, target, 0, pending);
        start = 0;
        end = pending;
        return target;
    }

    private void NotifyDisassociated()
    {
        if (_listener is { } listener && Interlocked.Exchange(ref _notifiedDisassociated, 1) == 0)
        {
            listener.Notify(new Disassociated(DisassociateInfo.Unknown));
        }
    }

    private void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        lock (_gate)
        {
            _closing = 1;
        }

        try
        {
            _stream.Dispose();
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
            // A TLS close_notify that could not be written while disposing: the socket goes anyway.
        }

        _socket.Dispose();
        _drained.TrySetResult();
        _transport.Forget(this);
        _closed.TrySetResult();
        // Akka hears of the end from the read loop, which the disposed stream ends (or from StartReading, later).
    }
}
