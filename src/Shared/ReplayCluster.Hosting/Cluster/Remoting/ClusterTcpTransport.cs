using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using Akka.Remote;
using Akka.Remote.Transport;
using Akka.Remote.Transport.DotNetty;

namespace ReplayCluster.Cluster.Remoting;

/// <summary>
/// The cluster's transport under Akka.Remote (<c>akka.remote.dot-netty.tcp.transport-class</c>): TCP with mutual TLS
/// through <see cref="SslStream"/>, framed as Akka's own DotNetty transport frames (a 4-byte length in
/// <c>byte-order</c>, then the payload), configured by the same keys, and never stopping the node for a peer's fault.
/// </summary>
/// <remarks>
/// <para>
/// Why not Akka's: since Akka.NET 1.5.50 its transport runs CoordinatedShutdown (exit 79) on any failed TLS
/// handshake of an outbound connection, and DotNetty reports a connection the peer closes before the handshake
/// ends as such a failure. A capture node that stops, crashes or exits on a bad argument while the coordinator or
/// an intercept connects to it (they do as soon as it joins, and again after every lost connection) therefore took
/// the coordinator or the intercept down with it: seen in the lab suite, where a capture node that refuses its pcap
/// file right after joining stopped the fixture's coordinator and intercept (exit 79). Here a failed handshake, in
/// either direction, fails that one connection: inbound, it is logged and counted; outbound, the association fails
/// and Akka retries it after <c>akka.remote.retry-gate-closed-for</c>. A node's own certificate is checked before
/// it listens (<see cref="ClusterTransportSecurity"/>), so a misconfigured node still stops at start, naming the
/// setting.
/// </para>
/// <para>
/// The rest follows Akka's transport: the certificate, mutual authentication and the validator come from the
/// <see cref="DotNettySslSetup"/> the node's hosting adds; the validator sees each peer's certificate with the
/// peer's IP endpoint (inbound) or actor system address (outbound). Differences: an inbound connection is offered
/// to Akka only after its handshake (Akka's offers it at accept), a handshake that takes longer than
/// <c>tls-handshake-timeout</c> is cut, and <see cref="Shutdown"/> closes the listening socket before the
/// connections, so peers that connect while a node stops are refused outright instead of cut mid-handshake.
/// </para>
/// </remarks>
internal sealed class ClusterTcpTransport : Akka.Remote.Transport.Transport
{
    private const byte TlsHandshakeRecord = 22;

    private readonly ILoggingAdapter _log;
    private readonly DotNettySslSetup? _tls;
    private readonly SslStreamCertificateContext? _certificateContext;
    private readonly TaskCompletionSource<IAssociationEventListener> _associationListener = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<ClusterTcpConnection, byte> _connections = new();
    private readonly CancellationTokenSource _stopping = new();
    private Socket? _listener;
    private long _failedOutbound;
    private long _refusedFrames;

    /// <summary>Created by Akka.Remote from <c>transport-class</c> with its section of the configuration.</summary>
    /// <exception cref="ConfigurationException">A setting is out of range, or TLS is on without the node's certificate setup.</exception>
    public ClusterTcpTransport(ActorSystem system, Config config)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(config);
        System = system;
        Config = config;
        Settings = ClusterTransportSettings.Read(config);
        _log = Logging.GetLogger(system, typeof(ClusterTcpTransport));
        if (Settings.EnableSsl)
        {
            var setup = system.Settings.Setup.Get<DotNettySslSetup>();
            _tls = setup.HasValue && setup.Value.Certificate is not null
                ? setup.Value
                : throw new ConfigurationException("enable-ssl is on but the actor system has no DotNettySslSetup with the node's certificate");
            _certificateContext = SslStreamCertificateContext.Create(_tls.Certificate, additionalCertificates: null, offline: true);
        }

        SchemeIdentifier = Settings.EnableSsl ? "ssl.tcp" : "tcp";
        MaximumPayloadBytes = Settings.MaximumFrameSize;
    }

    /// <summary>The transport's settings.</summary>
    public ClusterTransportSettings Settings { get; }

    /// <summary>This node's address on the transport, once it listens.</summary>
    public Address? LocalAddress { get; private set; }

    // This transport's own counts (tests run several in one process); ClusterConnectionFailures has the process's.

    /// <summary>Outbound associations that failed (refused, timed out, TLS failed).</summary>
    public long FailedOutbound => Interlocked.Read(ref _failedOutbound);

    /// <summary>Connections ended for a frame longer than <c>maximum-frame-size</c> (or a negative length).</summary>
    public long RefusedFrames => Interlocked.Read(ref _refusedFrames);

    /// <summary>Open associations.</summary>
    public int OpenConnections => _connections.Count;

    public override bool IsResponsibleFor(Address remote) => true;

    public override async Task<(Address, TaskCompletionSource<IAssociationEventListener>)> Listen()
    {
        if (string.IsNullOrEmpty(Settings.Hostname))
        {
            throw new ConfigurationException("akka.remote.dot-netty.tcp.hostname is empty: a cluster node listens on a named address");
        }

        var bind = await ResolveAsync(Settings.Hostname, Settings.Port, _stopping.Token).ConfigureAwait(false);
        var socket = new Socket(bind.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            Configure(socket);
            socket.Bind(bind);
            socket.Listen(Settings.Backlog);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new RemoteTransportException($"Failed to bind to [{bind}]: {ex.Message}", ex);
        }

        _listener = socket;
        var bound = (IPEndPoint)socket.LocalEndPoint!;
        LocalAddress = new Address(SchemeIdentifier, System.Name, AddressHost(Settings.PublicHostname, bound.Address),
            Settings.PublicPort > 0 ? Settings.PublicPort : bound.Port);
        _ = AcceptLoopAsync(socket);
        return (LocalAddress, _associationListener);
    }

    public override async Task<AssociationHandle> Associate(Address remoteAddress)
    {
        ArgumentNullException.ThrowIfNull(remoteAddress);
        if (_listener is null || _stopping.IsCancellationRequested)
        {
            throw new InvalidAssociationException($"Association to [{remoteAddress}] not attempted: the transport is not listening");
        }

        if (remoteAddress.Host is not { } host || remoteAddress.Port is not { } port)
        {
            throw new InvalidAssociationException($"Association to [{remoteAddress}] not attempted: the address names no host and port");
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        deadline.CancelAfter(Settings.ConnectionTimeout);
        Socket? socket = null;
        Stream? stream = null;
        var step = "connect";
        try
        {
            var endpoint = await ResolveAsync(host, port, deadline.Token).ConfigureAwait(false);
            socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            Configure(socket);
            await socket.ConnectAsync(endpoint, deadline.Token).ConfigureAwait(false);
            stream = new NetworkStream(socket, ownsSocket: false);
            if (_tls is not null)
            {
                step = "TLS handshake";
                deadline.CancelAfter(Settings.TlsHandshakeTimeout);
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                await ssl.AuthenticateAsClientAsync(ClientOptions(host, remoteAddress.ToString()), deadline.Token).ConfigureAwait(false);
            }

            var connection = new ClusterTcpConnection(SocketAddress((IPEndPoint)socket.LocalEndPoint!, Settings.Hostname),
                remoteAddress, socket, stream, this);
            if (!Track(connection))
            {
                throw new InvalidAssociationException($"Association to [{remoteAddress}] dropped: the transport is shutting down");
            }

            return connection;
        }
        catch (Exception ex) when (ex is not InvalidAssociationException)
        {
            stream?.Dispose();
            socket?.Dispose();
            if (!_stopping.IsCancellationRequested)
            {
                Interlocked.Increment(ref _failedOutbound);
                ClusterConnectionFailures.Outbound();
            }

            var why = ex is OperationCanceledException
                ? _stopping.IsCancellationRequested ? "the transport is shutting down" : $"the {step} timed out"
                : $"the {step} failed: {Describe(ex)}";
            // Akka logs the failed association and retries it after the gate; this is the detail it lacks.
            if (ex is AuthenticationException)
            {
                _log.Warning("Cluster connection to [{0}] refused: {1}", remoteAddress, why);
            }

            throw new InvalidAssociationException($"Association to [{remoteAddress}] failed: {why}", ex);
        }
    }

    public override async Task<bool> Shutdown()
    {
        // Refuse new connections first: a peer connecting now hears "refused" instead of a handshake cut short.
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        var connections = _connections.Keys.ToArray();
        foreach (var connection in connections)
        {
            connection.Close(graceful: true);
        }

        try
        {
            await Task.WhenAll(connections.Select(c => c.Closed)).WaitAsync(Settings.FlushTimeout + TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            foreach (var connection in _connections.Keys)
            {
                connection.Close(graceful: false);
            }
        }

        return true;
    }

    internal void Forget(ClusterTcpConnection connection) => _connections.TryRemove(connection, out _);

    internal void RefuseFrame(ClusterTcpConnection connection, int length)
    {
        Interlocked.Increment(ref _refusedFrames);
        ClusterConnectionFailures.FrameTooLarge();
        _log.Warning("Cluster connection with [{0}] closed: a frame of {1} bytes (at most {2} are accepted)",
            connection.RemoteAddress, length, Settings.MaximumFrameSize);
    }

    internal void WriteFailed(ClusterTcpConnection connection, Exception ex) =>
        _log.Debug("Cluster connection with [{0}] closed: a write failed: {1}", connection.RemoteAddress, Describe(ex));

    private bool Track(ClusterTcpConnection connection)
    {
        _connections.TryAdd(connection, 0);
        if (!_stopping.IsCancellationRequested)
        {
            return true;
        }

        connection.Close(graceful: false);
        return false;
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        IAssociationEventListener events;
        try
        {
            // Akka hands over its listener after Listen returns; connections wait in the backlog until then.
            events = await _associationListener.Task.WaitAsync(_stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        while (!_stopping.IsCancellationRequested)
        {
            Socket accepted;
            try
            {
                accepted = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                // Out of descriptors or memory: wait a little instead of spinning on the error.
                _log.Warning("Cluster transport could not accept a connection: {0}", ex.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(100)).ConfigureAwait(false);
                continue;
            }

            _ = AcceptAsync(accepted, events);
        }
    }

    private async Task AcceptAsync(Socket socket, IAssociationEventListener events)
    {
        IPEndPoint? peer = null;
        Stream? stream = null;
        try
        {
            peer = socket.RemoteEndPoint as IPEndPoint;
            stream = new NetworkStream(socket, ownsSocket: false);
            Configure(socket);
            if (_tls is not null)
            {
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
                deadline.CancelAfter(Settings.TlsHandshakeTimeout);
                // A TLS client opens with a handshake record (content type 22). Anything else is most likely a node with
                // cluster TLS off, and saying so helps more than SslStream's "corrupted frame".
                var first = new byte[1];
                if (await socket.ReceiveAsync(first, SocketFlags.Peek, deadline.Token).ConfigureAwait(false) == 0)
                {
                    throw new IOException("it closed the connection before its TLS handshake");
                }

                if (first[0] != TlsHandshakeRecord)
                {
                    throw new AuthenticationException("not a TLS record (a node with replaycluster.cluster.tls = off, or not a cluster node at all)");
                }

                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                await ssl.AuthenticateAsServerAsync(ServerOptions(peer?.ToString() ?? "unknown"), deadline.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            // Whatever failed (the peer's bytes, its certificate, the socket), only this connection pays: nothing
            // escapes this task, and the socket is closed now rather than by a finalizer.
            stream?.Dispose();
            socket.Dispose();
            if (!_stopping.IsCancellationRequested)
            {
                ClusterConnectionFailures.InboundHandshake();
                _log.Warning("Refused a cluster connection from [{0}]: {1}", peer,
                    ex is OperationCanceledException ? "its TLS handshake took longer than " + Settings.TlsHandshakeTimeout
                    : ex is AuthenticationException && ex.InnerException is null ? ex.Message
                    : "its TLS handshake failed: " + Describe(ex));
            }

            return;
        }

        if (peer is null)
        {
            stream!.Dispose();
            socket.Dispose();
            return;
        }

        // The peer's name here is its socket's; Akka's handshake that follows tells its actor system's address.
        var connection = new ClusterTcpConnection(SocketAddress((IPEndPoint)socket.LocalEndPoint!, Settings.Hostname),
            SocketAddress(peer, hostname: null), socket, stream, this);
        if (Track(connection))
        {
            events.Notify(new InboundAssociation(connection));
        }
    }

    private SslServerAuthenticationOptions ServerOptions(string peer) => new()
    {
        ServerCertificateContext = _certificateContext,
        ClientCertificateRequired = _tls!.RequireMutualAuthentication,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
            (certificate is null && !_tls.RequireMutualAuthentication) || Validate(certificate, chain, errors, peer),
    };

    private SslClientAuthenticationOptions ClientOptions(string host, string peer) => new()
    {
        TargetHost = host.Trim('[', ']'),
        ClientCertificateContext = _tls!.RequireMutualAuthentication ? _certificateContext : null,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, certificate, chain, errors) => Validate(certificate, chain, errors, peer),
    };

    // A peer without a certificate goes to the validator too, which logs the refusal with the peer's name.
    private bool Validate(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors, string peer)
    {
        var certificate2 = certificate is null ? null
            : certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        if (_tls!.CustomValidator is { } validator)
        {
            try
            {
                return validator(certificate2, chain, peer, errors, _log);
            }
            catch (CryptographicException ex)
            {
                // A certificate whose extensions do not decode: refused like any other the cluster CA did not sign.
                _log.Warning("Refused cluster peer {0}: its certificate does not decode ({1})", peer, ex.Message);
                return false;
            }
        }

        if (certificate2 is null)
        {
            return false;
        }

        if (!_tls.ValidateCertificateHostname)
        {
            errors &= ~SslPolicyErrors.RemoteCertificateNameMismatch;
        }

        return _tls.SuppressValidation || errors == SslPolicyErrors.None;
    }

    private void Configure(Socket socket)
    {
        socket.NoDelay = Settings.TcpNoDelay;
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, Settings.TcpKeepAlive);
        if (Settings.SendBufferSize > 0)
        {
            socket.SendBufferSize = Settings.SendBufferSize;
        }

        if (Settings.ReceiveBufferSize > 0)
        {
            socket.ReceiveBufferSize = Settings.ReceiveBufferSize;
        }
    }

    private async Task<IPEndPoint> ResolveAsync(string host, int port, CancellationToken cancellation)
    {
        if (IPAddress.TryParse(host.Trim('[', ']'), out var literal))
        {
            return new IPEndPoint(literal, port);
        }

        var addresses = await Dns.GetHostAddressesAsync(host, cancellation).ConfigureAwait(false);
        var preferred = Settings.DnsUseIpv6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork;
        var address = addresses.FirstOrDefault(a => a.AddressFamily == preferred) ?? addresses.FirstOrDefault()
            ?? throw new SocketException((int)SocketError.HostNotFound);
        return new IPEndPoint(address, port);
    }

    private Address SocketAddress(IPEndPoint endpoint, string? hostname) =>
        new(SchemeIdentifier, System.Name, AddressHost(hostname, endpoint.Address), endpoint.Port);

    // Akka's form: a host name as given, an IPv6 address in brackets.
    private static string AddressHost(string? hostname, IPAddress fallback)
    {
        if (!string.IsNullOrEmpty(hostname) && !IPAddress.TryParse(hostname.Trim('[', ']'), out _))
        {
            return hostname;
        }

        var address = string.IsNullOrEmpty(hostname) ? fallback : IPAddress.Parse(hostname.Trim('[', ']'));
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
    }

    private static string Describe(Exception ex)
    {
        var innermost = ex;
        while (innermost.InnerException is { } inner)
        {
            innermost = inner;
        }

        return ReferenceEquals(innermost, ex) ? ex.Message : $"{ex.Message} ({innermost.Message})";
    }
}
