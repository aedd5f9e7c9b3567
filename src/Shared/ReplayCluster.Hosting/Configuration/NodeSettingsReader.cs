using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Akka.Actor;
using Akka.Configuration;

namespace ReplayCluster.Configuration;

/// <summary>
/// Reads and validates <see cref="NodeSettings"/> from layered HOCON. Kept apart from the model so the
/// rules live in one place; every failure names the HOCON path and where its value came from.
/// </summary>
internal static partial class NodeSettingsReader
{
    private const string HostnamePath = "replaycluster.node.hostname";
    private const string PublicHostnamePath = "replaycluster.node.public-hostname";
    private const string PortPath = "replaycluster.node.port";
    private const string SystemNamePath = "replaycluster.cluster.system-name";
    private const string SeedsPath = "replaycluster.cluster.seeds";
    private const string TlsPath = "replaycluster.cluster.tls";
    private const string TlsEnabledPath = "replaycluster.cluster.tls.enabled";
    private const string TlsCaPath = "replaycluster.cluster.tls.ca-certificate";
    private const string TlsCertificatePath = "replaycluster.cluster.tls.certificate";
    private const string TlsKeyPath = "replaycluster.cluster.tls.private-key";

    /// <summary>Reads the settings of a node with the given role.</summary>
    /// <exception cref="NodeConfigurationException">A value is missing or invalid.</exception>
    public static NodeSettings Read(string role, Config config, NodeConfigOverrides? overrides = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        overrides ??= new NodeConfigOverrides();

        var systemName = RequireString(config, SystemNamePath, SystemNamePath);
        if (!SystemNamePattern().IsMatch(systemName))
        {
            throw NodeConfigurationException.ForSetting(SystemNamePath,
                $"'{systemName}' is not a valid actor system name (letters, digits, '-' and '_', starting with a letter or digit)");
        }

        var hostnameSource = Describe(HostnamePath, overrides.SourceOf(nameof(NodeConfigOverrides.Hostname), "--hostname, REPLAYCLUSTER_HOSTNAME or HOCON"));
        var hostname = RequireString(config, HostnamePath, hostnameSource);
        ValidateHost(hostname, hostnameSource);

        var publicSource = Describe(PublicHostnamePath, overrides.SourceOf(nameof(NodeConfigOverrides.PublicHostname), "--public-hostname, REPLAYCLUSTER_PUBLIC_HOSTNAME or HOCON"));
        var publicHostname = config.GetString(PublicHostnamePath, string.Empty) ?? string.Empty;
        if (publicHostname.Length == 0)
        {
            if (IsWildcard(hostname))
            {
                throw NodeConfigurationException.ForSetting(publicSource,
                    $"must be set when the node binds to {hostname}: other nodes cannot connect to a wildcard address");
            }

            publicHostname = hostname;
        }
        else
        {
            ValidateHost(publicHostname, publicSource);
            if (IsWildcard(publicHostname))
            {
                throw NodeConfigurationException.ForSetting(publicSource, $"'{publicHostname}' is a wildcard address; give one that other nodes can reach");
            }
        }

        var portSource = Describe(PortPath, overrides.SourceOf(nameof(NodeConfigOverrides.Port), "--port, REPLAYCLUSTER_PORT or HOCON"));
        var portText = RequireString(config, PortPath, portSource);
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            throw NodeConfigurationException.ForSetting(portSource, $"'{portText}' is not a port number (0-65535; 0 picks a free port)");
        }

        var tls = ReadTls(config);
        var seedsSource = Describe(SeedsPath, overrides.SourceOf(nameof(NodeConfigOverrides.Seeds), "--seed, REPLAYCLUSTER_SEEDS or HOCON"));
        var seeds = ReadSeeds(config, systemName, tls.Protocol, seedsSource);
        if (seeds.Count == 0 && role != NodeRoles.Coordinator)
        {
            throw NodeConfigurationException.ForSetting(seedsSource,
                $"a {role} node needs at least one seed to join (the coordinator, e.g. --seed 10.0.0.1:4053)");
        }

        var joinWarning = new SettingsSection(config, "replaycluster.cluster").Duration("join-warning-interval");
        return new NodeSettings
        {
            Role = role,
            SystemName = systemName,
            Hostname = hostname,
            PublicHostname = publicHostname,
            Port = port,
            Seeds = seeds,
            JoinWarningInterval = joinWarning,
            Tls = tls,
        };
    }

    /// <summary>
    /// Turns <c>host:port</c> or a full address into a full seed address of <paramref name="protocol"/>
    /// (<c>akka.ssl.tcp</c> with TLS, <c>akka.tcp</c> without; see <see cref="ClusterTlsSettings.Protocol"/>).
    /// </summary>
    public static string NormalizeSeed(string seed, string systemName, string setting, string protocol = "akka.ssl.tcp")
    {
        ArgumentNullException.ThrowIfNull(seed);
        var text = seed.Trim();
        if (text.Contains("://", StringComparison.Ordinal))
        {
            Address address;
            try
            {
                address = Address.Parse(text);
            }
            catch (Exception ex) when (ex is UriFormatException or ArgumentException or FormatException)
            {
                throw NodeConfigurationException.ForSetting(setting, $"'{seed}' is not an actor system address: {ex.Message}", ex);
            }

            if (address.Protocol != protocol)
            {
                throw NodeConfigurationException.ForSetting(setting, address.Protocol is "akka.tcp" or "akka.ssl.tcp"
                    ? $"'{seed}' uses protocol '{address.Protocol}', but this node speaks {protocol} ({TlsPath}); give HOST:PORT"
                    : $"'{seed}' uses protocol '{address.Protocol}'; only {protocol} is supported");
            }

            if (address.System != systemName)
            {
                throw NodeConfigurationException.ForSetting(setting,
                    $"'{seed}' names actor system '{address.System}', but this cluster is '{systemName}' ({SystemNamePath})");
            }

            if (address.Host is null || address.Port is null or <= 0)
            {
                throw NodeConfigurationException.ForSetting(setting, $"'{seed}' must include a host and a non-zero port");
            }

            return address.ToString();
        }

        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            throw NodeConfigurationException.ForSetting(setting, $"'{seed}' is not HOST:PORT");
        }

        var host = text[..colon].Trim('[', ']');
        var portText = text[(colon + 1)..];
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            throw NodeConfigurationException.ForSetting(setting, $"'{seed}' has no valid port (1-65535)");
        }

        ValidateHost(host, setting);
        return $"{protocol}://{systemName}@{host}:{port.ToString(CultureInfo.InvariantCulture)}";
    }

    private static List<string> ReadSeeds(Config config, string systemName, string protocol, string setting)
    {
        IList<string> raw;
        try
        {
            if (config.HasPath(SeedsPath) && config.GetValue(SeedsPath).IsString())
            {
                throw new FormatException("not a list");
            }

            raw = config.HasPath(SeedsPath) ? config.GetStringList(SeedsPath) : [];
        }
        catch (Exception ex) when (ex is not NodeConfigurationException)
        {
            throw NodeConfigurationException.ForSetting(setting, "expected a list of HOST:PORT strings, e.g. [\"10.0.0.1:4053\"]", ex);
        }

        return [.. raw.Select((seed, i) => NormalizeSeed(seed, systemName, $"{setting}[{i}]", protocol)).Distinct()];
    }

    /// <summary>
    /// Reads <c>replaycluster.cluster.tls</c>: either the section, or the single value <c>off</c> (the
    /// development opt-out). With TLS on, the three files are required and must exist, so a node without
    /// them stops here, naming the setting, instead of failing at its first connection.
    /// </summary>
    private static ClusterTlsSettings ReadTls(Config config)
    {
        if (config.HasPath(TlsPath) && config.GetValue(TlsPath) is { } value && value.IsString())
        {
            var text = value.GetString()?.Trim() ?? string.Empty;
            return text.ToUpperInvariant() is "OFF" or "FALSE" or "NO"
                ? ClusterTlsSettings.Off
                : throw NodeConfigurationException.ForSetting(TlsPath,
                    $"'{text}': give the section {{ ca-certificate, certificate, private-key }} or 'off' (development only)");
        }

        bool enabled;
        try
        {
            enabled = config.GetBoolean(TlsEnabledPath, true);
        }
        catch (Exception ex)
        {
            throw NodeConfigurationException.ForSetting(TlsEnabledPath, "expected on or off", ex);
        }

        if (!enabled)
        {
            return ClusterTlsSettings.Off;
        }

        return new ClusterTlsSettings
        {
            Enabled = true,
            CaCertificatePath = RequireTlsFile(config, TlsCaPath, "the cluster CA certificate (PEM), from `replaycluster-coordinator certs init`"),
            CertificatePath = RequireTlsFile(config, TlsCertificatePath, "this node's certificate (PEM), from `replaycluster-coordinator certs issue`"),
            PrivateKeyPath = RequireTlsFile(config, TlsKeyPath, "this node's private key (PEM), from `replaycluster-coordinator certs issue`"),
        };
    }

    private static string RequireTlsFile(Config config, string path, string what)
    {
        var file = config.GetString(path, string.Empty)?.Trim() ?? string.Empty;
        if (file.Length == 0)
        {
            throw NodeConfigurationException.ForSetting(path,
                $"is required while cluster TLS is on: {what}. For development only, switch TLS off with {TlsPath} = off");
        }

        var full = Path.GetFullPath(file);
        return File.Exists(full)
            ? full
            : throw NodeConfigurationException.ForSetting(path, $"'{file}' does not exist ({what})");
    }

    private static string RequireString(Config config, string path, string setting)
    {
        string? value;
        try
        {
            value = config.HasPath(path) ? config.GetString(path) : null;
        }
        catch (Exception ex)
        {
            throw NodeConfigurationException.ForSetting(setting, $"expected a single value: {ex.Message}", ex);
        }

        if (string.IsNullOrWhiteSpace(value))
        {
            throw NodeConfigurationException.ForSetting(setting, "is required and empty");
        }

        return value.Trim();
    }

    private static void ValidateHost(string host, string setting)
    {
        if (IPAddress.TryParse(host, out _))
        {
            return;
        }

        if (Uri.CheckHostName(host) != UriHostNameType.Dns)
        {
            throw NodeConfigurationException.ForSetting(setting, $"'{host}' is neither an IP address nor a host name");
        }
    }

    private static bool IsWildcard(string host) =>
        IPAddress.TryParse(host, out var address) && (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any));

    private static string Describe(string path, string source) => $"{path} ({source})";

    [GeneratedRegex("^[a-zA-Z0-9][a-zA-Z0-9_-]*$", RegexOptions.CultureInvariant)]
    private static partial Regex SystemNamePattern();
}
