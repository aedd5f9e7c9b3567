using System.Net;
using Akka.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ReplayCluster.Capture.Identities;
using ReplayCluster.Configuration;
using ReplayCluster.Doctor;
using ReplayCluster.PacketIO;

namespace ReplayCluster.Capture.Sending;

/// <summary>Whether the node exempts its replayed flows from the online host's connection tracking.</summary>
internal enum NotrackMode
{
    /// <summary>Install the exemption when the node can (CAP_NET_ADMIN, nft); otherwise warn and go on (`doctor` names it).</summary>
    Auto,

    /// <summary>Install it or refuse to start.</summary>
    On,

    /// <summary>Leave the host's netfilter alone (an operator's own rules exempt the range).</summary>
    Off,
}

/// <summary><c>replaycluster.capture.notrack</c>.</summary>
internal sealed record ConntrackExemptionOptions
{
    public const string Setting = "replaycluster.capture.notrack";

    /// <summary>Default <see cref="NotrackMode.Auto"/>.</summary>
    public NotrackMode Mode { get; init; } = NotrackMode.Auto;

    /// <summary>The node's own fake client ranges (-c), one per family; empty when it takes a slice from the coordinator or keeps real addresses.</summary>
    public IReadOnlyList<IPNetwork> OwnRanges { get; init; } = [];

    public static ConntrackExemptionOptions Read(Config config, IReadOnlyList<IPNetwork> ownRanges)
    {
        ArgumentNullException.ThrowIfNull(config);
        var text = config.GetString(Setting, "auto")?.Trim();
        return new ConntrackExemptionOptions
        {
            Mode = text switch
            {
                "auto" or "" or null => NotrackMode.Auto,
                "on" or "true" or "yes" => NotrackMode.On,
                "off" or "false" or "no" => NotrackMode.Off,
                _ => throw NodeConfigurationException.ForSetting(Setting, $"'{text}' is none of auto, on, off"),
            },
            OwnRanges = ownRanges,
        };
    }
}

/// <summary>
/// Keeps the replayed flows out of the online host's conntrack table (see <see cref="NotrackRuleset"/> for why): at
/// start the node installs its nftables table (one per node process) with its own ranges (both families), adds each
/// identity slice the coordinator grants it (its IPv4 and its IPv6 part),
/// and removes the table when it stops. Registered before the capture pump, so the table exists before capture starts.
/// </summary>
/// <remarks>
/// A slice arrives with the identity lease, which settles readiness; this service wakes on that same signal and adds
/// the slice within milliseconds (one nft run). Until the capture pump also saw the change no session starts, so
/// at most the first few SYNs of a new slice can be tracked (they age out after 120 s). Off the hot path entirely.
/// </remarks>
internal sealed partial class ConntrackExemption(
    ConntrackExemptionOptions options,
    IdentitySource identities,
    CaptureReadiness readiness,
    ILogger<ConntrackExemption> logger) : IHostedService, IDisposable
{
    private readonly string _table = NotrackRuleset.TableFor(Environment.ProcessId);
    private readonly CancellationTokenSource _stopping = new();
    private readonly HashSet<string> _exempt = new(StringComparer.Ordinal);
    private Task _watching = Task.CompletedTask;
    private bool _installed;

    /// <summary>Whether the table is in place (read by tests and the status line).</summary>
    public bool Installed => Volatile.Read(ref _installed);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Mode == NotrackMode.Off)
        {
            Log.Disabled(logger, ConntrackExemptionOptions.Setting);
            return Task.CompletedTask;
        }

        var initial = options.OwnRanges;
        var (listed, tables) = HostTool.Run("nft", ["list", "tables"]);
        var stale = listed == 0 ? NotrackRuleset.StaleTables(tables, pid => Directory.Exists($"/proc/{pid}")) : [];
        var (exit, output) = HostTool.Run("nft", ["-f", "-"], NotrackRuleset.Install(_table, initial, stale));
        if (exit != 0)
        {
            var reason = output.Trim();
            if (options.Mode == NotrackMode.On)
            {
                throw new InvalidOperationException(
                    $"{ConntrackExemptionOptions.Setting} = on, but the nftables table could not be installed: {reason} (needs CAP_NET_ADMIN and nft)");
            }

            Log.NotInstalled(logger, reason);
            return Task.CompletedTask;
        }

        Volatile.Write(ref _installed, true);
        Log.Installed(logger, _table, initial.Count == 0 ? "none yet (the coordinator's slice is added when granted)" : string.Join(", ", initial));
        if (initial.Count == 0)
        {
            _watching = WatchSlicesAsync(_stopping.Token);
        }

        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _watching.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (!Installed)
        {
            return;
        }

        // Stopped after the capture pump (hosted services stop in reverse order): nothing is sent any more.
        var (exit, output) = HostTool.Run("nft", ["-f", "-"], NotrackRuleset.Remove(_table));
        Volatile.Write(ref _installed, false);
        if (exit == 0)
        {
            Log.Removed(logger, _table);
        }
        else
        {
            Log.NotRemoved(logger, _table, output.Trim());
        }
    }

    public void Dispose() => _stopping.Dispose();

    private async Task WatchSlicesAsync(CancellationToken cancellation)
    {
        while (!cancellation.IsCancellationRequested)
        {
            var changed = readiness.WaitForChangeAsync(cancellation);
            if (identities.Slice is { } slice && !_exempt.Contains(slice))
            {
                // Earlier slices stay: sessions running on them keep their identities until they end. A grant is
                // "v4slice" or "v4slice,v6slice" (Plans/FakeClientRanges): each part goes to its family's set.
                var parts = slice.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(IPNetwork.Parse);
                var (exit, output) = HostTool.Run("nft", ["-f", "-"], NotrackRuleset.AddSources(_table, parts));
                if (exit == 0)
                {
                    _exempt.Add(slice);
                    Log.SliceAdded(logger, slice);
                }
                else
                {
                    Log.NotInstalled(logger, output.Trim());
                }
            }

            try
            {
                await changed.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 260, Level = LogLevel.Information,
            Message = "Replayed flows are exempt from this host's conntrack (nft table inet {Table}); sources: {Sources}")]
        public static partial void Installed(ILogger logger, string table, string sources);

        [LoggerMessage(EventId = 261, Level = LogLevel.Information, Message = "Conntrack exemption extended to the identity slice {Slice}")]
        public static partial void SliceAdded(ILogger logger, string slice);

        [LoggerMessage(EventId = 262, Level = LogLevel.Warning,
            Message = "Replayed flows are NOT exempt from this host's conntrack: {Reason}. Every replayed connection then holds a conntrack entry here " +
                "(its replies never come back); a full table drops the production service's own connections. Run `replaycluster-capture doctor` for the rule to install, " +
                "or give the node CAP_NET_ADMIN and nft.")]
        public static partial void NotInstalled(ILogger logger, string reason);

        [LoggerMessage(EventId = 263, Level = LogLevel.Warning, Message = "Conntrack exemption turned off ({Setting} = off): replayed flows are tracked unless the host's own rules exempt them")]
        public static partial void Disabled(ILogger logger, string setting);

        [LoggerMessage(EventId = 264, Level = LogLevel.Information, Message = "Conntrack exemption removed (nft table inet {Table})")]
        public static partial void Removed(ILogger logger, string table);

        [LoggerMessage(EventId = 265, Level = LogLevel.Warning, Message = "Conntrack exemption could not be removed (nft table inet {Table}): {Reason}")]
        public static partial void NotRemoved(ILogger logger, string table, string reason);
    }
}
