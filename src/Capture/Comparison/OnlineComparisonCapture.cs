using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ReplayCluster.Capture.Plans;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Comparison;
using ReplayCluster.Packets;
using ReplayCluster.PacketIO;
using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Comparison;

/// <summary>
/// A second, small live capture beside the replay's, open only while the plan compares sessions: both directions of
/// the planned online services (the replay's capture sees only client to server), of which only the connections
/// <see cref="ComparisonSelector"/> chooses go on to the <see cref="ComparisonCollector"/>. It shares nothing with the
/// replay's capture thread, so with comparison off (the default) the replay's hot path is exactly as before, and with it
/// on the replay never waits on comparison: the queue to the collector is bounded in bytes, its overflow counted.
/// </summary>
internal sealed class OnlineComparisonCapture(
    CaptureNodeSettings settings,
    PlanInEffect plan,
    CaptureComparisonCounters counters,
    ComparisonCollectorOptions options,
    ComparisonSwitch comparing,
    ActorRegistry registry,
    ILogger<OnlineComparisonCapture> logger) : IHostedService
{
    // Bytes queued to the collector by every capture of the process (one per node).
    private static long _queuedBytes;

    private readonly Lock _lock = new();
    private LiveCapture? _live;
    private string? _filter;
    private IActorRef? _collector;
    private volatile TargetMapping? _targets;
    private double _percent;
    private bool _stopping;

    /// <summary>
    /// The filter of the online reply capture while comparison runs, null while it is off: the capture node's
    /// <c>/readyz</c> detail <c>comparisonFilter</c>.
    /// </summary>
    public string? ActiveFilter => Volatile.Read(ref _filter);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (settings.Interface is null)
        {
            return; // a pcap file replay: the file holds no online replies to compare with
        }

        _collector = await registry.GetAsync<ComparisonCollector>(cancellationToken);
        plan.Changed += OnPlanChanged;
        Apply(plan.Current);
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        plan.Changed -= OnPlanChanged;
        lock (_lock)
        {
            _stopping = true;
            Close();
        }

        return Task.CompletedTask;
    }

    /// <summary>The collector took a packet off the queue.</summary>
    public static void Dequeued(OnlinePacket packet) => Interlocked.Add(ref _queuedBytes, -(packet.Payload.Length + 64));

    /// <summary>
    /// The capture filter: both directions of the planned services' connections that <see cref="ComparisonSelector"/>
    /// chooses at <paramref name="percent"/>, and of those only what changes a stream (its start, bytes and end; pure
    /// ACKs are most packets of a download); null without targets.
    /// </summary>
    internal static string? FilterOf(TargetMapping? targets, double percent)
    {
        if (targets is null || targets.Routes.Count == 0)
        {
            return null;
        }

        // The client is the source of a packet to the service and the destination of one from it; each family's
        // term reads its own header (ip[] and tcp[] match IPv4 packets only, ip6[] IPv6 ones, whose TCP header is 40
        // bytes in wherever "tcp" matches).
        var toService = Either(ComparisonSelector.FilterTerm("ip[12:4]", "tcp[0:2]", percent),
            ComparisonSelector.FilterTerm(ComparisonSelector.Ipv6KeyTerm(8), "ip6[40:2]", percent));
        var fromService = Either(ComparisonSelector.FilterTerm("ip[16:4]", "tcp[2:2]", percent),
            ComparisonSelector.FilterTerm(ComparisonSelector.Ipv6KeyTerm(24), "ip6[42:2]", percent));
        static string? Either(string? ipv4, string? ipv6) => ipv4 is null ? null : $"({ipv4} or {ipv6})";
        // Parenthesized throughout: in a capture filter "and" and "or" bind alike, left to right.
        string Chosen(string service, string? term) => term is null ? $"({service})" : $"({service} and {term})";
        var services = targets.Routes
            .Select(r => (Port: r.OnlinePort, Host: r.OnlineAddress.IsUnspecified ? null : r.OnlineAddress.ToString()))
            .Distinct()
            .Select(r => r.Host is null
                ? $"{Chosen($"dst port {r.Port}", toService)} or {Chosen($"src port {r.Port}", fromService)}"
                : $"{Chosen($"dst host {r.Host} and dst port {r.Port}", toService)} or {Chosen($"src host {r.Host} and src port {r.Port}", fromService)}");
        return $"tcp and ({string.Join(" or ", services)}) and {StreamChangeFilter.Term}";
    }

    private void OnPlanChanged(AppliedPlan previous, AppliedPlan next) => _ = Task.Run(() => Apply(next));

    private void Apply(AppliedPlan applied)
    {
        lock (_lock)
        {
            if (_stopping)
            {
                return;
            }

            var percent = ComparisonPlan.Percent(applied.Plan);
            var filter = FilterOf(applied.Targets, percent);
            Volatile.Write(ref _percent, percent);
            _targets = applied.Targets;
            if (percent <= 0 || filter is null)
            {
                if (_live is not null)
                {
                    Close();
                    ComparisonLog.OnlineCaptureStopped(logger);
                }

                return;
            }

            try
            {
                if (_live is null)
                {
                    _live = LiveCapture.Open(new LiveCaptureOptions
                    {
                        Interface = settings.Interface!,
                        Filter = filter,
                        // Small: it carries a share of the sessions, and a full ring drops here, not in the replay's capture.
                        BufferSizeBytes = 8 * 1024 * 1024,
                    });
                    _live.Start(OnFrame);
                    ComparisonLog.OnlineCapturing(logger, settings.Interface!, filter);
                }
                else if (filter != _filter)
                {
                    _live.ChangeFilter(filter);
                    ComparisonLog.OnlineCapturing(logger, settings.Interface!, filter);
                }

                _filter = filter;
                comparing.On = true;
                _collector!.Tell(ComparisonTurnedOn.Instance, ActorRefs.NoSender);
            }
            catch (LiveCaptureException ex)
            {
                ComparisonLog.OnlineCaptureFailed(logger, settings.Interface!, ex.Message);
                Close();
            }
        }
    }

    private void Close()
    {
        comparing.On = false;
        if (_live is null)
        {
            return;
        }

        try
        {
            _live.Stop();
        }
        catch (LiveCaptureException)
        {
            // It failed already; closing is all that is left.
        }

        _live.Dispose();
        _live = null;
        _filter = null;
    }

    private void OnFrame(ReadOnlySpan<byte> frame, in FrameInfo info)
    {
        if (PacketParser.TryParseAny(frame, LinkTypes.FromPcap(info.LinkType), out var packet) != ParseResult.Ok || packet.Truncated
            || _targets is not { } targets)
        {
            return;
        }

        OnlineConnection connection;
        bool fromClient;
        if (targets.TryMap(packet.DestinationAddress, packet.DestinationPort, out _))
        {
            connection = new OnlineConnection(packet.SourceAddress, packet.SourcePort, packet.DestinationAddress, packet.DestinationPort);
            fromClient = true;
        }
        else if (targets.TryMap(packet.SourceAddress, packet.SourcePort, out _))
        {
            connection = new OnlineConnection(packet.DestinationAddress, packet.DestinationPort, packet.SourceAddress, packet.SourcePort);
            fromClient = false;
        }
        else
        {
            return;
        }

        if (!ComparisonSelector.Chooses(connection.ClientAddress, connection.ClientPort, Volatile.Read(ref _percent)))
        {
            return;
        }

        // Only what changes a stream: its start, its bytes, its end. Pure ACKs are most packets of a download.
        if (packet.PayloadLength == 0 && (packet.Flags & (TcpFlags.Syn | TcpFlags.Fin | TcpFlags.Rst)) == 0)
        {
            return;
        }

        var cost = packet.PayloadLength + 64;
        if (Interlocked.Add(ref _queuedBytes, cost) > options.MaxQueuedBytes)
        {
            Interlocked.Add(ref _queuedBytes, -cost);
            counters.Count(CaptureComparisonDrop.OnlineQueueFull);
            return;
        }

        var payload = packet.PayloadLength == 0 ? [] : frame.Slice(packet.PayloadOffset, packet.PayloadLength).ToArray();
        _collector!.Tell(new OnlinePacket(connection, fromClient, packet.Sequence, packet.Flags, payload), ActorRefs.NoSender);
    }
}
