using System.Buffers.Binary;
using Akka.Configuration;

namespace ReplayCluster.Cluster.Remoting;

/// <summary>
/// What <see cref="ClusterTcpTransport"/> reads from its section of the configuration (<c>akka.remote.dot-netty.tcp</c>,
/// hocon/common.hocon): Akka's own keys with Akka's defaults, so the section means what Akka documents, plus the two
/// timeouts Akka's transport does not have.
/// </summary>
/// <param name="Hostname">The address to listen on (an IP literal or a host name).</param>
/// <param name="PublicHostname">The host this node names itself by to its peers; <paramref name="Hostname"/> when empty.</param>
/// <param name="Port">The port to listen on; 0 takes a free one.</param>
/// <param name="PublicPort">The port this node names itself by; the bound port when 0.</param>
/// <param name="EnableSsl">TLS with the node's certificate (the <c>DotNettySslSetup</c> the node's hosting adds).</param>
/// <param name="MaximumFrameSize">The largest frame sent or accepted; a larger inbound one ends the connection.</param>
/// <param name="SendBufferSize">SO_SNDBUF, bytes; 0 for the system's default.</param>
/// <param name="ReceiveBufferSize">SO_RCVBUF, bytes; 0 for the system's default.</param>
/// <param name="TcpNoDelay">TCP_NODELAY: Nagle's algorithm would hold a lone small message until the last is acknowledged.</param>
/// <param name="TcpKeepAlive">SO_KEEPALIVE.</param>
/// <param name="Backlog">The listen queue.</param>
/// <param name="ConnectionTimeout">How long an outbound TCP connect may take.</param>
/// <param name="TlsHandshakeTimeout">How long a TLS handshake may take, either way; a silent peer holds nothing longer.</param>
/// <param name="FlushTimeout">How long a closing connection may take to write what it holds and hear the peer close.</param>
/// <param name="LittleEndian">The frame length's byte order (Akka's default is little-endian, kept for its wire format).</param>
/// <param name="DnsUseIpv6">A host name resolves to its IPv6 address first.</param>
internal sealed record ClusterTransportSettings(
    string Hostname,
    string PublicHostname,
    int Port,
    int PublicPort,
    bool EnableSsl,
    int MaximumFrameSize,
    int SendBufferSize,
    int ReceiveBufferSize,
    bool TcpNoDelay,
    bool TcpKeepAlive,
    int Backlog,
    TimeSpan ConnectionTimeout,
    TimeSpan TlsHandshakeTimeout,
    TimeSpan FlushTimeout,
    bool LittleEndian,
    bool DnsUseIpv6)
{
    /// <summary>Akka's floor for <c>maximum-frame-size</c> (its reference configuration says "at least 32000 bytes").</summary>
    public const int MinimumFrameSize = 32_000;

    /// <summary>Reads the transport's section; a missing key takes Akka's default.</summary>
    /// <exception cref="ConfigurationException">A value is out of range.</exception>
    public static ClusterTransportSettings Read(Config config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var hostname = config.GetString("hostname", string.Empty) ?? string.Empty;
        var publicHostname = config.GetString("public-hostname", string.Empty);
        var frame = config.GetByteSize("maximum-frame-size", 128_000) ?? 128_000;
        if (frame is < MinimumFrameSize or > int.MaxValue - 4)
        {
            throw new ConfigurationException($"maximum-frame-size must be {MinimumFrameSize} bytes to 2 GiB, not {frame}");
        }

        var byteOrder = config.GetString("byte-order", "little-endian");
        if (!string.Equals(byteOrder, "little-endian", StringComparison.OrdinalIgnoreCase)
            && !string.Equals(byteOrder, "big-endian", StringComparison.OrdinalIgnoreCase))
        {
            throw new ConfigurationException($"byte-order must be little-endian or big-endian, not '{byteOrder}'");
        }

        var settings = new ClusterTransportSettings(
            Hostname: hostname,
            PublicHostname: string.IsNullOrEmpty(publicHostname) ? hostname : publicHostname,
            Port: config.GetInt("port", 2552),
            PublicPort: config.GetInt("public-port", 0),
            EnableSsl: config.GetBoolean("enable-ssl", false),
            MaximumFrameSize: (int)frame,
            SendBufferSize: (int)Math.Clamp(config.GetByteSize("send-buffer-size", 256_000) ?? 0, 0, int.MaxValue),
            ReceiveBufferSize: (int)Math.Clamp(config.GetByteSize("receive-buffer-size", 256_000) ?? 0, 0, int.MaxValue),
            TcpNoDelay: config.GetBoolean("tcp-nodelay", true),
            TcpKeepAlive: config.GetBoolean("tcp-keepalive", true),
            Backlog: config.GetInt("backlog", 4096),
            ConnectionTimeout: config.GetTimeSpan("connection-timeout", TimeSpan.FromSeconds(15), allowInfinite: false),
            TlsHandshakeTimeout: config.GetTimeSpan("tls-handshake-timeout", TimeSpan.FromSeconds(10), allowInfinite: false),
            FlushTimeout: config.GetTimeSpan("close-flush-timeout", TimeSpan.FromSeconds(2), allowInfinite: false),
            LittleEndian: !string.Equals(byteOrder, "big-endian", StringComparison.OrdinalIgnoreCase),
            DnsUseIpv6: config.GetBoolean("dns-use-ipv6", false));
        if (settings.Port is < 0 or > 65535 || settings.PublicPort is < 0 or > 65535)
        {
            throw new ConfigurationException($"port and public-port must be 0-65535, not {settings.Port} and {settings.PublicPort}");
        }

        if (settings.ConnectionTimeout <= TimeSpan.Zero || settings.TlsHandshakeTimeout <= TimeSpan.Zero || settings.FlushTimeout < TimeSpan.Zero)
        {
            throw new ConfigurationException("connection-timeout and tls-handshake-timeout must be positive, close-flush-timeout not negative");
        }

        return settings;
    }

    /// <summary>Writes a frame's length prefix in the configured byte order.</summary>
    public void WriteLength(Span<byte> destination, int length)
    {
        if (LittleEndian)
        {
            BinaryPrimitives.WriteInt32LittleEndian(destination, length);
        }
        else
        {
            BinaryPrimitives.WriteInt32BigEndian(destination, length);
        }
    }

    /// <summary>Reads a frame's length prefix in the configured byte order.</summary>
    public int ReadLength(ReadOnlySpan<byte> source) =>
        LittleEndian ? BinaryPrimitives.ReadInt32LittleEndian(source) : BinaryPrimitives.ReadInt32BigEndian(source);
}
