using System.Globalization;
using System.Net;
using Akka.Configuration;
using ReplayCluster.Configuration;

namespace ReplayCluster.Coordinator.Http;

/// <summary>
/// The validated settings of the coordinator's HTTP API (<c>replaycluster.coordinator.http-endpoint</c> and
/// <c>replaycluster.coordinator.http</c>): where it listens, where its bearer token lives, which Host names it
/// answers, and its TLS certificate.
/// </summary>
internal sealed record HttpApiSettings
{
    public const string Section = "replaycluster.coordinator.http";
    public const string EndpointSetting = "replaycluster.coordinator.http-endpoint";
    public const string TokenFileSetting = Section + ".token-file";
    public const string AllowedHostsSetting = Section + ".allowed-hosts";
    public const string CertificateSetting = Section + ".tls.certificate";
    public const string KeySetting = Section + ".tls.key";

    /// <summary>Where the token is unless configured: beside the node's state, readable by its user only.</summary>
    public const string DefaultTokenFile = "/var/lib/replaycluster/api-token";

    /// <summary>The largest request body (64 KiB): a whole replay plan is a few hundred bytes.</summary>
    public const long MaxBodyBytes = 64 * 1024;

    /// <summary>The address to bind (loopback by default).</summary>
    public IPAddress Address { get; init; } = IPAddress.Loopback;

    /// <summary>The port to bind; 0 picks a free one (tests only: the HOCON setting wants 1-65535).</summary>
    public int Port { get; init; } = 8080;

    /// <summary>The bearer token's file (<see cref="DefaultTokenFile"/>); created with mode 0600 when missing.</summary>
    public string TokenFile { get; init; } = DefaultTokenFile;

    /// <summary>Host names (without port) the API answers besides localhost, the loopback addresses and the bound address.</summary>
    public IReadOnlyList<string> AllowedHosts { get; init; } = [];

    /// <summary>PEM certificate (chain) for HTTPS; null serves plain HTTP, which only a loopback bind allows.</summary>
    public string? CertificateFile { get; init; }

    /// <summary>PEM private key of <see cref="CertificateFile"/>.</summary>
    public string? KeyFile { get; init; }

    public bool Tls => CertificateFile is not null;

    public string Scheme => Tls ? "https" : "http";

    /// <summary>Reads and validates the section; <paramref name="endpoint"/> is the already validated HOST:PORT.</summary>
    public static HttpApiSettings Read(Config config, string endpoint)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentException.ThrowIfNullOrWhiteSpace(endpoint);
        var colon = endpoint.LastIndexOf(':');
        var host = endpoint[..colon].Trim('[', ']');
        var port = int.Parse(endpoint[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture);

        // A name other than localhost would make Kestrel bind every interface; the names browsers use belong in allowed-hosts.
        var address = string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback
            : IPAddress.TryParse(host, out var parsed) ? parsed
            : throw NodeConfigurationException.ForSetting(EndpointSetting,
                $"'{host}' is not an IP address: bind an address (127.0.0.1, 10.0.0.5 or 0.0.0.0) and list the names clients use in {AllowedHostsSetting}");

        var section = new SettingsSection(config, Section);
        var settings = new HttpApiSettings
        {
            Address = address,
            Port = port,
            TokenFile = section.OptionalText("token-file") ?? DefaultTokenFile,
            AllowedHosts = [.. section.List("allowed-hosts").Select(h => h.Trim()).Where(h => h.Length > 0)],
            CertificateFile = section.OptionalText("tls.certificate"),
            KeyFile = section.OptionalText("tls.key"),
        };
        settings.Validate();
        return settings;
    }

    /// <summary>Throws <see cref="NodeConfigurationException"/> naming the setting that is wrong.</summary>
    public void Validate()
    {
        if (!Path.IsPathFullyQualified(TokenFile))
        {
            throw NodeConfigurationException.ForSetting(TokenFileSetting, $"'{TokenFile}' is not an absolute path");
        }

        if ((CertificateFile is null) != (KeyFile is null))
        {
            throw NodeConfigurationException.ForSetting(CertificateFile is null ? CertificateSetting : KeySetting,
                $"HTTPS needs both {CertificateSetting} and {KeySetting} (PEM files)");
        }

        foreach (var file in new[] { (CertificateSetting, CertificateFile), (KeySetting, KeyFile) })
        {
            if (file.Item2 is { } path && !File.Exists(path))
            {
                throw NodeConfigurationException.ForSetting(file.Item1, $"'{path}' does not exist");
            }
        }

        foreach (var name in AllowedHosts)
        {
            if (name.Contains(':', StringComparison.Ordinal) && !IPAddress.TryParse(name.Trim('[', ']'), out _))
            {
                throw NodeConfigurationException.ForSetting(AllowedHostsSetting, $"'{name}': list host names or addresses without a port");
            }
        }

        // Off loopback the token would cross the network in clear text: anyone on the path could take it.
        if (!IPAddress.IsLoopback(Address) && !Tls)
        {
            throw NodeConfigurationException.ForSetting(CertificateSetting,
                $"{EndpointSetting} binds {Address}, not loopback: the API then needs HTTPS; set {CertificateSetting} and {KeySetting} (PEM files), or bind 127.0.0.1");
        }

        // With a wildcard bind there is no one address a legitimate Host header names.
        if ((Address.Equals(IPAddress.Any) || Address.Equals(IPAddress.IPv6Any)) && AllowedHosts.Count == 0)
        {
            throw NodeConfigurationException.ForSetting(AllowedHostsSetting,
                $"{EndpointSetting} binds every interface ({Address}): list the host names and addresses clients use to reach the API");
        }
    }
}
