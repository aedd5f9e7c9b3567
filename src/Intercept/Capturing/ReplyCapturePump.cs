using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ReplayCluster.Intercept.Routing;
using ReplayCluster.Packets;
using ReplayCluster.PacketIO;
using ReplayCluster.Protocol;

namespace ReplayCluster.Intercept.Capturing;

/// <summary>
/// Captures the target's replies on the sink interface and turns each into a <see cref="ResponseRecord"/>:
/// headers only, the payload length taken from the IP total length. The capture thread routes and sends them
/// itself (<see cref="ReplyForwarder"/>): each record on arrival into its owner's batch, every batch at the end
/// of the burst, and the router's commands between bursts.
/// </summary>
internal sealed partial class ReplyCapturePump(
    InterceptNodeSettings settings,
    InterceptStatistics statistics,
    ReplyForwarder forwarder,
    ActorRegistry registry,
    ILogger<ReplyCapturePump> logger,
    IHostApplicationLifetime lifetime) : IHostedService
{
    private LiveCapture? _capture;
    private volatile bool _stopping;
    private volatile bool _open;

    /// <summary>Null once replies are captured and routed (for the node's <c>/readyz</c>), else why not.</summary>
    public string? NotReadyReason => _open ? null : _stopping ? "stopping" : "reply capture not open yet";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var router = await registry.GetAsync<ReplyRouter>(cancellationToken);
        _capture = LiveCapture.Open(new LiveCaptureOptions
        {
            Interface = settings.Interface,
            Filter = settings.Filter,
            BufferSizeBytes = settings.CaptureBufferSize,
            // Only headers travel on; 256 bytes hold any IPv4+TCP header with options behind a link header.
            SnapLength = 256,
            // See capture-immediate in hocon/intercept.hocon: per-packet wake-up instead of a block timeout.
            Immediate = settings.CaptureImmediate,
            ReadTimeoutMs = (int)settings.CaptureBlockTimeout.TotalMilliseconds,
        });
        InterceptLog.Capturing(logger, settings.Interface, settings.Filter);
        _capture.Faulted += OnCaptureFaulted;
        _capture.Start(OnFrame, forwarder.EndOfBurst, forwarder);
        forwarder.Attach(_capture.Wake, router);
        _open = true;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        _open = false;
        if (_capture is not null)
        {
            try
            {
                _capture.Stop();
                var kernel = _capture.Statistics;
                InterceptLog.KernelStatistics(logger, kernel.Received, kernel.KernelDropped, kernel.InterfaceDropped);
            }
            catch (LiveCaptureException)
            {
                // The capture had failed already and said so (OnCaptureFaulted).
            }

            _capture.Dispose();
        }

        // The capture thread has ended: nothing routes any more.
        forwarder.Close();

        return Task.CompletedTask;
    }

    /// <summary>
    /// The sink interface vanished (or libpcap failed): no reply can reach any capture node any more, and every
    /// replayed session would wait on retransmissions. The node says why and stops with a failure status; the
    /// capture nodes see the intercept leave and stop starting sessions until one is back.
    /// </summary>
    private void OnCaptureFaulted(LiveCapture capture, Exception fault)
    {
        _open = false;
        if (_stopping)
        {
            return;
        }

        Log.CaptureFailed(logger, fault, capture.Options.Interface, fault.Message);
        Environment.ExitCode = 1;
        lifetime.StopApplication();
    }

    private void OnFrame(ReadOnlySpan<byte> frame, in FrameInfo info)
    {
        // The replies of IPv6 sessions too: the default filter ("tcp") lets both families through.
        var result = PacketParser.TryParseAny(frame, LinkTypes.FromPcap(info.LinkType), out var packet);
        if (result == ParseResult.Ok)
        {
            Route(info, packet.DestinationAddress, packet.DestinationPort, packet.SourceAddress, packet.SourcePort, packet.Sequence,
                packet.Acknowledgment, packet.Window, packet.Flags, packet.PayloadLength, packet.Options);
            return;
        }

        statistics.CountRejected(result);
    }

    private void Route(in FrameInfo info, NetAddress client, ushort clientPort, NetAddress target, ushort targetPort, uint sequence,
        uint acknowledgment, ushort window, TcpFlags flags, int payloadLength, in TcpOptions options)
    {
        statistics.CountCaptured();
        var record = new ResponseRecord
        {
            ClientAddress = client,
            ClientPort = clientPort,
            TargetAddress = target,
            TargetPort = targetPort,
            Sequence = sequence,
            Acknowledgment = acknowledgment,
            Window = window,
            Flags = (byte)flags,
            PayloadLength = (ushort)payloadLength,
            Mss = options.HasMss ? options.Mss : (ushort)0,
            WindowScale = options.HasWindowScale ? options.WindowScale : ResponseRecord.NoWindowScale,
            HasTimestamp = options.HasTimestamp,
            SackPermitted = options.SackPermitted,
            TsVal = options.TsVal,
            TsEcr = options.TsEcr,
            CapturedAtNanos = info.TimestampNanos,
        };
        forwarder.Route(record);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 320, Level = LogLevel.Error, Message = "Reply capture on {Interface} ended: {Reason}; stopping (no reply could reach a capture node)")]
        public static partial void CaptureFailed(ILogger logger, Exception exception, string @interface, string reason);
    }
}
