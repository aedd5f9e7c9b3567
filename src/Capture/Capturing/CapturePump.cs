using System.Diagnostics;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ReplayCluster.Capture.Plans;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Packets;
using ReplayCluster.PacketIO;

namespace ReplayCluster.Capture.Capturing;

/// <summary>
/// Feeds captured client packets to the session shards: live from libpcap on its own thread, or from a
/// pcap file paced by the recorded timestamps. Per packet it only parses, resolves the target, copies the
/// payload once and hands the packet to the shard of its connection, so capture never waits on session
/// work (a full kernel ring is request loss). On stop it stops capturing first and lets the sessions
/// finish what they hold (bounded by the drain timeout) before the node leaves.
/// </summary>
internal sealed class CapturePump(
    CaptureNodeSettings settings,
    PlanInEffect plan,
    CaptureNodeStatistics statistics,
    SessionShards shards,
    CaptureReadiness readiness,
    ActorRegistry registry,
    ILogger<CapturePump> logger,
    IHostApplicationLifetime lifetime) : IHostedService
{
    private readonly Lock _filterLock = new();
    private LiveCapture? _live;
    private ShardCapture? _onShards;
    private volatile string? _activeFilter;
    private Thread? _fileThread;
    private readonly CancellationTokenSource _stopped = new();
    private volatile bool _stopping;
    private uint _sequenceOffset;

    private static readonly TimeSpan NotReadyLogInterval = TimeSpan.FromSeconds(5);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Capture only once replies can come back: every session started before an intercept node
        // knows our routes would wait on SYN retransmissions, and a fast pcap replay would lose them.
        _ = Task.Run(StartWhenReadySafelyAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task StartWhenReadySafelyAsync()
    {
        try
        {
            await StartWhenReadyAsync(_stopped.Token);
        }
        catch (OperationCanceledException) when (_stopping)
        {
        }
        catch (Exception ex) when ((ex is LiveCaptureException or PcapFormatException or IOException or DllNotFoundException) && !_stopping)
        {
            // The node is useless without its capture: say why and stop with a failure status.
            CaptureLog.CaptureFailed(logger, ex, ex.Message);
            Environment.ExitCode = 1;
            lifetime.StopApplication();
        }
    }

    private async Task StartWhenReadyAsync(CancellationToken cancellationToken)
    {
        // Readiness is pushed by the actors that know; this loop only wakes on a change, or to say
        // every few seconds what capture still waits for.
        var waitStarted = Stopwatch.StartNew();
        var said = (Reason: string.Empty, At: TimeSpan.MinValue);
        while (!cancellationToken.IsCancellationRequested && !readiness.IsReady)
        {
            // Say why when the reason changes, and every few seconds while it stays.
            var reason = readiness.Reason;
            if (reason != said.Reason || waitStarted.Elapsed - said.At >= NotReadyLogInterval)
            {
                CaptureLog.NotReady(logger, (long)waitStarted.Elapsed.TotalSeconds, reason);
                said = (reason, waitStarted.Elapsed);
            }

            try
            {
                await readiness.WaitForChangeAsync(cancellationToken).WaitAsync(NotReadyLogInterval, cancellationToken);
            }
            catch (TimeoutException)
            {
            }
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return;
        }

        var current = plan.Current;
        var targets = Describe(current);
        if (settings.Interface is { } captureInterface)
        {
            // Under the lock StopAsync stops the capture with, and not at all once it began: a stop that came while
            // readiness was awaited must not find nothing to stop and leave a capture opened after it running.
            lock (_filterLock)
            {
                if (_stopping)
                {
                    return;
                }

                var options = new LiveCaptureOptions
                {
                    Interface = captureInterface,
                    Filter = current.Filter,
                    BufferSizeBytes = settings.CaptureBufferSize,
                    Reader = settings.CaptureReader,
                    RingBlockSizeBytes = settings.CaptureRingBlockSize,
                };
                if (settings.CaptureOnShardThreads && settings.ShardThreads && FanoutCapture.Supports(options))
                {
                    // Each shard thread reads the connections the kernel gives its ring (ShardCapture).
                    var fanout = FanoutCapture.Open(options, shards.Count);
                    try
                    {
                        _onShards = ShardCapture.Start(fanout, shards, ReaderOfShard, OnShardCaptureFaulted);
                    }
                    catch
                    {
                        fanout.Dispose();
                        throw;
                    }

                    var onShards = _onShards;
                    statistics.Kernel = () => onShards.Statistics;
                    CaptureLog.CapturingOnShardThreads(logger, captureInterface, shards.Count, $"{settings.CaptureBufferSize / shards.Count / 1024} KiB");
                }
                else
                {
                    _live = LiveCapture.Open(options);
                    var live = _live;
                    statistics.Kernel = () => live.Statistics;
                    live.Faulted += OnCaptureFaulted;
                    _live.Start(OnFrame, EndOfBurst);
                }

                CaptureLog.CapturingLive(logger, captureInterface, current.Filter ?? string.Empty, targets);
                _activeFilter = current.Filter ?? string.Empty;
                statistics.CapturingLive = true;
                plan.Changed += OnPlanChanged;
                readiness.SetCaptureOpen(true);
            }

            // A plan that arrived between reading it and subscribing must not leave the old filter on.
            if (plan.Current.Filter != current.Filter)
            {
                OnPlanChanged(current, plan.Current);
            }
        }
        else
        {
            CaptureLog.ReplayingFile(logger, settings.PcapFile!, settings.Speed, settings.Loop, targets);
            _fileThread = new Thread(ReplayFile) { IsBackground = true, Name = "pcap-replay" };
            _fileThread.Start();
            readiness.SetCaptureOpen(true);
        }
    }

    /// <summary>
    /// The capture thread ended on a failure (the interface was deleted, or went away with its namespace): the node
    /// would go on looking healthy with nothing captured. It says why and stops with a failure status, so a
    /// supervisor (systemd Restart=on-failure, Kubernetes) restarts it and the restart says whether the interface is back.
    /// </summary>
    private void OnCaptureFaulted(LiveCapture live, Exception fault)
    {
        // On the capture thread, its loop over: what the last burst staged still reaches its shards.
        shards.Flush();
        StopOnCaptureFailure(live.Options.Interface, fault);
    }

    // A shard thread's ring ended on a failure (its interface went away): as above. Its thread flushed what it staged.
    private void OnShardCaptureFaulted(Exception fault) => StopOnCaptureFailure(settings.Interface!, fault);

    private void StopOnCaptureFailure(string captureInterface, Exception fault)
    {
        if (_stopping)
        {
            return;
        }

        statistics.Kernel = null; // the kernel counters of a vanished interface cannot be read; the statistics line must not fail
        statistics.CapturingLive = false;
        readiness.SetCaptureOpen(false);
        CaptureLog.CaptureFailed(logger, fault, $"capture on {captureInterface} ended: {fault.Message}");
        Environment.ExitCode = 1;
        lifetime.StopApplication();
    }

    private static string Describe(AppliedPlan applied) => applied.Targets is not { } mapping ? "(none)" : string.Join(", ", mapping.Routes.Select(r =>
        $"{(r.OnlineAddress.IsUnspecified ? "*" : r.OnlineAddress.ToEndpointString())}:{r.OnlinePort}->{r.TargetAddress.ToEndpointString()}:{r.TargetPort}"));

    // Raised on the session manager's thread; re-filtering pauses the capture thread, so not there.
    private void OnPlanChanged(AppliedPlan previous, AppliedPlan next)
    {
        if (next.Filter is not { } filter || filter == previous.Filter)
        {
            return;
        }

        _ = Task.Run(() =>
        {
            lock (_filterLock)
            {
                if (_stopping || (_live is null && _onShards is null) || plan.Current.Filter != filter)
                {
                    return;
                }

                try
                {
                    if (_onShards is { } onShards)
                    {
                        onShards.ChangeFilter(filter);
                    }
                    else
                    {
                        _live!.ChangeFilter(filter);
                    }

                    _activeFilter = filter;
                    CaptureLog.FilterChanged(logger, filter, Describe(next));
                }
                catch (LiveCaptureException ex)
                {
                    CaptureLog.FilterChangeFailed(logger, ex, filter, ex.Message);
                }
            }
        });
    }

    /// <summary>The BPF filter the live capture runs now (after a plan's targets re-filtered it); null until it opened.</summary>
    public string? ActiveFilter => _activeFilter;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        readiness.SetCaptureOpen(false);
        _stopped.Cancel();
        plan.Changed -= OnPlanChanged;
        lock (_filterLock)
        {
            StopLive();
        }

        _fileThread?.Join(TimeSpan.FromSeconds(2));
        await DrainAsync(cancellationToken);
        await StopSessionsAndReportAsync();
    }

    /// <summary>
    /// Stops the shards (their sessions end first: whatever is still pending is reset at the target and
    /// counted lost, as Aborted) and sends the final counters while the node is still in the cluster.
    /// </summary>
    private async Task StopSessionsAndReportAsync()
    {
        try
        {
            await Task.WhenAll(shards.Refs.Select(shard => shard.GracefulStop(TimeSpan.FromSeconds(5))));
            if (registry.TryGet<Statistics.StatisticsReporter>(out var reporter))
            {
                await reporter.Ask<object>(Statistics.StatisticsReporter.ReportNow.Instance, TimeSpan.FromSeconds(2));
            }
        }
        catch (Exception ex) when (ex is TaskCanceledException or AskTimeoutException)
        {
            // Shutting down anyway; the coordinator keeps the last report it got.
        }

        CaptureLog.Statistics(logger, statistics.Summary());
    }

    /// <summary>
    /// A planned stop loses nothing that could finish: with capture stopped, waits until no captured
    /// request is in flight (the target acknowledged it, or its session ended) or the drain timeout passed.
    /// Sessions still running after that are aborted by the actor system's shutdown and count as lost.
    /// </summary>
    private async Task DrainAsync(CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var before = statistics.RequestsInFlight;
        var quietChecks = 0;
        while (clock.Elapsed < settings.DrainTimeout && !cancellationToken.IsCancellationRequested)
        {
            // Two quiet readings a progress interval apart: a session's counters reach the node's within it.
            quietChecks = statistics.RequestsInFlight == 0 && shards.QueuedPackets == 0 ? quietChecks + 1 : 0;
            if (quietChecks >= 2)
            {
                break;
            }

            try
            {
                await Task.Delay(SessionActor.ProgressInterval, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        CaptureLog.Drained(logger, before, statistics.RequestsInFlight, clock.Elapsed.TotalSeconds, statistics.LiveSessions);
    }

    private void StopLive()
    {
        if (_onShards is { } onShards)
        {
            // Each shard thread hands its shard what it read, then lets go of its ring; the drain waits for the rest.
            if (!onShards.Stop())
            {
                CaptureLog.CaptureFailed(logger, new TimeoutException(), "a shard thread did not stop reading its capture ring in time; its ring stays mapped until the node exits");
            }

            var kernel = onShards.Statistics;
            CaptureLog.KernelStatistics(logger, kernel.Received, kernel.KernelDropped, kernel.InterfaceDropped);
            statistics.Kernel = null;
            onShards.Dispose();
            _onShards = null;
        }

        if (_live is not null)
        {
            try
            {
                _live.Stop();
                // The capture thread has ended (Stop joins it); a stop inside a burst left its packets staged, and
                // the drain waits for every queued packet to be taken.
                shards.Flush();
                var kernel = _live.Statistics;
                CaptureLog.KernelStatistics(logger, kernel.Received, kernel.KernelDropped, kernel.InterfaceDropped);
            }
            catch (LiveCaptureException)
            {
                // The capture had failed already and said so (OnCaptureFaulted); the drain and final report still run.
            }

            statistics.Kernel = null;
            _live.Dispose();
            _live = null;
        }
    }

    private void OnFrame(ReadOnlySpan<byte> frame, in FrameInfo info) => OnFrame(frame, info, shard: -1);

    // The handler of shard thread `shard`'s ring: the kernel chose the shard (by connection), so the packet stays there.
    private FrameHandler ReaderOfShard(int shard) => (ReadOnlySpan<byte> frame, in FrameInfo info) => OnFrame(frame, info, shard);

    // shard: the shard whose thread read the frame, or -1 (the capture thread): the shard the connection hashes to.
    private void OnFrame(ReadOnlySpan<byte> frame, in FrameInfo info, int shard)
    {
        // The capture filter selects TCP ports of both families: an IPv6 client of a dual-stack service is replayed
        // like an IPv4 one (its session takes its target's family: SessionShard).
        var result = PacketParser.TryParseAny(frame, LinkTypes.FromPcap(info.LinkType), out var packet);
        if (result == ParseResult.Ok)
        {
            Stage(frame, info, packet, shard);
            return;
        }

        statistics.CountRejected(result);
    }

    private void Stage(ReadOnlySpan<byte> frame, in FrameInfo info, in AnyTcpPacket packet, int shard)
    {
        if (packet.Truncated)
        {
            // Bytes the snap length cut off are gone; the session would wait for them as a gap.
            statistics.CountTruncated();
            return;
        }

        if (plan.Current.Targets is not { } targets || targets.IndexOf(packet.DestinationAddress, packet.DestinationPort) is not (>= 0 and var routeIndex))
        {
            statistics.CountIgnored();
            return;
        }

        statistics.CountCaptured();
        var segment = new CapturedSegment
        {
            Sequence = packet.Sequence + _sequenceOffset,
            Acknowledgment = packet.Acknowledgment,
            Flags = packet.Flags,
            Payload = packet.PayloadLength == 0 ? ReadOnlyMemory<byte>.Empty : frame.Slice(packet.PayloadOffset, packet.PayloadLength).ToArray(),
            Mss = packet.Options.HasMss ? packet.Options.Mss : (ushort)0,
            TsVal = packet.Options.HasTimestamp ? packet.Options.TsVal : null,
            CapturedAtNanos = info.TimestampNanos,
        };
        var connection = new OnlineConnection(packet.SourceAddress, packet.SourcePort, packet.DestinationAddress, packet.DestinationPort);
        var captured = new CapturedPacket(connection, segment, targets, routeIndex);
        if (!(shard < 0 ? shards.TryStage(captured) : shards.TryStage(captured, shard)))
        {
            statistics.CountRefusedQueueFull();
        }
    }

    // After each burst the capture handed over: every shard gets its packets of the burst in one message, so it
    // wakes once per burst, not once per packet (bench/README.md, "Captured packets per burst").
    private CaptureWait EndOfBurst()
    {
        shards.Flush();
        return CaptureWait.None;
    }

    private void ReplayFile()
    {
        try
        {
            long packets = 0;
            for (var round = 0; round < settings.Loop && !_stopping; round++)
            {
                // Each round must look like new connections to the target (and to our sessions).
                _sequenceOffset = (uint)round * 0x1000_0000u;
                packets += ReplayFileOnce();
            }

            CaptureLog.FileFinished(logger, packets);
        }
        catch (Exception ex) when (ex is PcapFormatException or IOException or UnauthorizedAccessException)
        {
            // An unreadable or damaged file ends the replay with a failure status, never with an unhandled
            // exception on this thread (which would kill the process before it drained and reported).
            CaptureLog.CaptureFailed(logger, ex, ex.Message);
            Environment.ExitCode = 1;
            lifetime.StopApplication();
        }
    }

    private long ReplayFileOnce()
    {
        using var reader = PcapFileReader.Open(settings.PcapFile!);
        var clock = Stopwatch.StartNew();
        var pacing = new PcapReplayClock(settings.Speed);
        long count = 0;
        while (!_stopping && reader.ReadNext(out var record))
        {
            if (!pacing.TryNext(record.Info.TimestampNanos, out var due, out var refusal))
            {
                throw new PcapFormatException(settings.PcapFile!, count, $"record {count + 1}: {refusal} ({count} records replayed)");
            }

            // In slices of at most a second, so that a stop is not held up by a long recorded pause.
            for (var wait = due - clock.Elapsed.TotalSeconds; wait > 0.001 && !_stopping; wait = due - clock.Elapsed.TotalSeconds)
            {
                Thread.Sleep(TimeSpan.FromSeconds(Math.Min(wait, 1)));
            }

            OnFrame(record.Data, record.Info);
            shards.Flush(); // records are paced one by one: each is its own burst
            count++;
        }

        return count;
    }
}
