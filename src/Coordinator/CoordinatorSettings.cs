using System.Globalization;
using System.Net;
using Akka.Configuration;
using ReplayCluster.Configuration;

namespace ReplayCluster.Coordinator;

/// <summary>The coordinator's validated settings (<c>replaycluster.coordinator</c>).</summary>
internal sealed record CoordinatorSettings
{
    private const string Section = "replaycluster.coordinator";

    /// <summary>The range divided into capture nodes' slices; null when slicing is off.</summary>
    public IPNetwork? FakeClientRange { get; init; }

    /// <summary>Prefix length of one slice. Defaults to 24.</summary>
    public int SlicePrefix { get; init; } = 24;

    /// <summary>host:port of the status API and /metrics; null when off. Defaults to 127.0.0.1:8080.</summary>
    public string? HttpEndpoint { get; init; } = "127.0.0.1:8080";

    public static CoordinatorSettings Read(Config config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var rangeText = config.GetString($"{Section}.fake-client-range", string.Empty)?.Trim();
        var prefixText = config.GetString($"{Section}.slice-prefix", "24");
        if (!int.TryParse(prefixText, NumberStyles.None, CultureInfo.InvariantCulture, out var prefix) || prefix is < 8 or > 30)
        {
            throw NodeConfigurationException.ForSetting($"{Section}.slice-prefix", $"'{prefixText}' is not a prefix length from 8 to 30");
        }

        var http = config.GetString($"{Section}.http-endpoint", "127.0.0.1:8080")?.Trim();
        var colon = http?.LastIndexOf(':') ?? -1;
        if (!string.IsNullOrEmpty(http) && (colon <= 0
            || !int.TryParse(http[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535))
        {
            throw NodeConfigurationException.ForSetting($"{Section}.http-endpoint", $"'{http}' is not HOST:PORT (empty turns the endpoint off)");
        }

        var httpEndpoint = string.IsNullOrEmpty(http) ? null : http;
        if (string.IsNullOrEmpty(rangeText))
        {
            return new CoordinatorSettings { SlicePrefix = prefix, HttpEndpoint = httpEndpoint };
        }

        if (!IPNetwork.TryParse(rangeText, out var range) || range.BaseAddress.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            throw NodeConfigurationException.ForSetting($"{Section}.fake-client-range", $"'{rangeText}' is not an IPv4 range such as 10.200.0.0/16");
        }

        if (prefix < range.PrefixLength)
        {
            throw NodeConfigurationException.ForSetting($"{Section}.slice-prefix", $"/{prefix} slices do not fit in {range}");
        }

        return new CoordinatorSettings { FakeClientRange = range, SlicePrefix = prefix, HttpEndpoint = httpEndpoint };
    }
}
