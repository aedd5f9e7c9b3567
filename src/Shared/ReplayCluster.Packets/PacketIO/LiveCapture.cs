using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SharpPcap;
using SharpPcap.LibPcap;

namespace ReplayCluster.PacketIO;

/// <summary>
/// Captures frames from a network interface and hands them to a <see cref="FrameHandler"/> on a dedicated thread,
/// as spans over the kernel capture ring (no copy, no allocation per frame).
/// </summary>
/// <remarks>
/// <para>
/// SharpPcap opens and configures the device (<c>pcap_create</c>/<c>pcap_activate</c>, filter compilation); the capture
/// loop is ours: <c>poll(2)</c> on the pcap descriptor, then <c>pcap_dispatch</c> in non-blocking mode with an
/// unmanaged callback. SharpPcap's own loops were unsuitable: <c>GetNextPacket</c> allocates and polls before every
/// frame, <c>StartCapture</c> runs on a pool task, and <c>GetNextPacketPointers</c> blocks forever when traffic stops
/// (TPACKET_V3 only wakes on a retired block), so <see cref="Stop"/> could hang.
/// </para>
/// <para>
/// The pcap socket belongs to the network namespace of the thread that calls <see cref="Open"/>; to capture inside a
/// namespace, open it with <see cref="NetworkNamespace.RunIn{T}(string, Func{T})"/> and start it from anywhere.
/// </para>
/// </remarks>
public sealed unsafe class LiveCapture : IDisposable
{

    // Exactly one of the two readers: libpcap's device, or our own TPACKET_V3 ring (LiveCaptureOptions.Reader).
    private readonly LibPcapLiveDevice? _device;
    private readonly PacketRing? _ring;
    private readonly nint _pcap;
    private readonly int _fileDescriptor;
    private readonly long _fractionToNanos;

    // An eventfd in the poll set beside the pcap descriptor: Stop() writes it, so the loop can poll without a timeout
    // and sleeps until a frame or a stop request arrives. With a 50 ms poll timeout instead, an idle capture woke 20
    // times a second (bench/idle.sh). TPACKET_V3 wakes poll only when a block retires, and an empty block never does.
    private readonly int _stopEvent;

    // A second eventfd in the poll set: Wake() writes it, so another thread can have the capture thread run its
    // after-dispatch step (the intercept's router posts claims sent through remoting and channel changes to the thread
    // that routes the replies; claims on a reply channel come through the side input instead) without a timer.
    private readonly int _wakeEvent;
    private Func<CaptureWait>? _afterDispatch;
    private ICaptureSideInput? _input;
    private readonly Lock _statisticsLock = new();
    private GCHandle _self;
    private Thread? _thread;
    private FrameHandler? _handler;
    private volatile bool _stopRequested;
    private Exception? _fault;
    private long _framesDelivered;
    private int _captureThreadId;
    private bool _disposed;

    private LiveCapture(LiveCaptureOptions options, LibPcapLiveDevice? device, PacketRing? ring)
    {
        Options = options;
        _device = device;
        _ring = ring;
        if (ring is not null)
        {
            Reader = LiveCaptureReader.Ring;
            LinkType = ring.LinkType;
            _fileDescriptor = ring.FileDescriptor;
        }
        else
        {
            _pcap = device!.Handle.DangerousGetHandle();
            LinkType = PcapNative.DataLink(_pcap);
            _fractionToNanos = PcapNative.GetTimestampPrecision(_pcap) == 1 ? 1 : 1000; // PCAP_TSTAMP_PRECISION_NANO = 1

            var error = stackalloc byte[256]; // PCAP_ERRBUF_SIZE
            if (PcapNative.SetNonBlock(_pcap, 1, error) != 0)
            {
                throw new LiveCaptureException($"cannot make the capture on '{options.Interface}' non-blocking: {Marshal.PtrToStringUTF8((nint)error)}");
            }

            _fileDescriptor = PcapNative.GetSelectableFd(_pcap);
            if (_fileDescriptor < 0)
            {
                throw new LiveCaptureException($"capture on '{options.Interface}' has no selectable descriptor");
            }
        }

        _stopEvent = LiveCaptureNative.eventfd(0, LiveCaptureNative.EfdNonBlock | LiveCaptureNative.EfdCloexec);
        _wakeEvent = _stopEvent < 0 ? -1 : LiveCaptureNative.eventfd(0, LiveCaptureNative.EfdNonBlock | LiveCaptureNative.EfdCloexec);
        if (_wakeEvent < 0)
        {
            var problem = Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError());
            if (_stopEvent >= 0)
            {
                _ = LibC.close(_stopEvent);
            }

            throw new LiveCaptureException($"cannot create the events of the capture on '{options.Interface}': {problem}");
        }
    }

    /// <summary>The options the capture was opened with.</summary>
    public LiveCaptureOptions Options { get; }

    /// <summary>The most descriptors a <see cref="ICaptureSideInput"/> may have waited on in one turn.</summary>
    public const int MaxInputs = 64;

    /// <summary>
    /// The reader in use: <see cref="LiveCaptureReader.Ring"/> only when it was asked for and applies (an Ethernet or
    /// loopback interface, not immediate mode); libpcap otherwise.
    /// </summary>
    public LiveCaptureReader Reader { get; }

    /// <summary>Link type (DLT_ number) of the frames: 1 for Ethernet devices, 113 for <c>any</c>, ...</summary>
    public int LinkType { get; }

    /// <summary>Frames handed to the handler so far.</summary>
    public long FramesDelivered => _ring is { } ring ? ring.Walker.Delivered : Volatile.Read(ref _framesDelivered);

    /// <summary>The ring reader's block walker (null with libpcap), for tests that read its counters.</summary>
    internal TpacketV3Walker? RingWalker => _ring?.Walker;

    /// <summary>True between <see cref="Start"/> and <see cref="Stop"/> while the loop runs.</summary>
    public bool IsRunning => _thread is { IsAlive: true };

    /// <summary>Kernel thread id of the capture loop while it runs (0 before), for tests that watch its wake-ups.</summary>
    internal int CaptureThreadId => Volatile.Read(ref _captureThreadId);

    /// <summary>The exception that ended the loop (thrown by the handler or by libpcap), if any.</summary>
    public Exception? Fault => Volatile.Read(ref _fault);

    /// <summary>
    /// Raised on the capture thread, as its last act, when a failure ended the loop: libpcap gave up (the interface was
    /// deleted or went away with its namespace: "The interface disappeared") or the handler threw. Without it the
    /// thread would end unseen and the node would go on looking healthy with nothing captured.
    /// </summary>
    public event Action<LiveCapture, Exception>? Faulted;

    /// <summary>
    /// libpcap's counters read through our own <c>pcap_stats</c> binding (SharpPcap's reads 0 drops on 64-bit Linux).
    /// Safe to read from any thread while the capture runs.
    /// </summary>
    public CaptureStatistics Statistics
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_ring is { } ring)
            {
                return ring.ReadStatistics();
            }

            PcapStat stat;
            lock (_statisticsLock)
            {
                if (PcapNative.Stats(_pcap, &stat) != 0)
                {
                    throw new LiveCaptureException($"pcap_stats on '{Options.Interface}' failed: {PcapNative.GetError(_pcap)}");
                }
            }

            return new CaptureStatistics(stat.Received, stat.Dropped, stat.InterfaceDropped);
        }
    }

    /// <summary>
    /// Opens and activates the interface, installs the filter, and returns a capture ready to <see cref="Start"/>.
    /// The kernel starts queueing frames from here on.
    /// </summary>
    /// <exception cref="ArgumentException">An option is out of range (the message names it).</exception>
    /// <exception cref="LiveCaptureException">The interface does not exist, cannot be opened, or the filter does not compile.</exception>
    public static LiveCapture Open(LiveCaptureOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        if (options.Reader == LiveCaptureReader.Ring && !options.Immediate && PacketRing.Supports(options.Interface))
        {
            var ring = PacketRing.Open(options);
            try
            {
                return new LiveCapture(options, null, ring);
            }
            catch
            {
                ring.Dispose();
                throw;
            }
        }

        // New() rather than the cached Instance: the list must describe the calling thread's network namespace now.
        var devices = LibPcapLiveDeviceList.New();
        var device = devices.FirstOrDefault(d => d.Name == options.Interface)
            ?? throw new LiveCaptureException(
                $"network interface '{options.Interface}' does not exist (available: {string.Join(", ", devices.Select(d => d.Name))})");

        var configurationErrors = new List<string>();
        var configuration = new DeviceConfiguration
        {
            Mode = options.Promiscuous ? DeviceModes.Promiscuous : DeviceModes.None,
            Snaplen = options.SnapLength,
            BufferSize = options.BufferSizeBytes,
            ReadTimeout = options.ReadTimeoutMs,
            Immediate = options.Immediate,
            TimestampResolution = TimestampResolution.Nanosecond,
        };
        configuration.ConfigurationFailed += (_, e) =>
        {
            // Nanosecond timestamps are a wish, not a requirement: fall back to microseconds silently.
            if (e.Property != nameof(DeviceConfiguration.TimestampResolution))
            {
                configurationErrors.Add($"{e.Property}: {e.Message}");
            }
        };

        try
        {
            device.Open(configuration);
        }
        catch (PcapException e)
        {
            device.Close();
            throw new LiveCaptureException($"cannot open network interface '{options.Interface}': {e.Message}", e);
        }

        try
        {
            if (configurationErrors.Count > 0)
            {
                throw new LiveCaptureException($"cannot configure capture on '{options.Interface}': {string.Join("; ", configurationErrors)}");
            }

            if (options.Filter is not null)
            {
                try
                {
                    device.Filter = options.Filter;
                }
                catch (PcapException e)
                {
                    throw new LiveCaptureException($"invalid capture filter \"{options.Filter}\" on '{options.Interface}': {e.Message}", e);
                }
            }

            return new LiveCapture(options, device, null);
        }
        catch
        {
            device.Close();
            throw;
        }
    }

    /// <summary>
    /// Starts the capture thread; <paramref name="handler"/> runs on it for every frame. Frames queued since
    /// <see cref="Open"/> are delivered first.
    /// </summary>
    /// <remarks>
    /// If the handler throws, the loop stops, the exception is kept in <see cref="Fault"/> and rethrown by <see cref="Stop"/>.
    /// A handler must be quick: while it runs, the kernel ring fills and then drops (see <see cref="Statistics"/>).
    /// <paramref name="afterDispatch"/>, when given, runs on the capture thread after each burst of frames, after each
    /// <see cref="Wake"/>, and when its own timeout passed; it returns what to wait for next (<see cref="CaptureWait"/>:
    /// a timeout in microseconds, -1 for none, and whether frames wake the loop before it), so a consumer that must
    /// expire something later asks for exactly that wake-up, an idle one for none, and a loaded one may hold frames.
    /// </remarks>
    /// <param name="handler">Called for each captured frame, on the capture thread.</param>
    /// <param name="afterDispatch">Called after each burst, wake-up and timeout (see remarks).</param>
    /// <param name="input">
    /// Descriptors the loop also waits on, read by their consumer on the capture thread itself (at most
    /// <see cref="MaxInputs"/>); <see cref="ICaptureSideInput.OnReady"/> runs before that turn's frames are dispatched.
    /// </param>
    public void Start(FrameHandler handler, Func<CaptureWait>? afterDispatch = null, ICaptureSideInput? input = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_thread is not null)
        {
            throw new InvalidOperationException($"capture on '{Options.Interface}' is already started (call Stop first)");
        }

        _handler = handler;
        _afterDispatch = afterDispatch;
        _input = input;
        _stopRequested = false;
        if (_ring is not null)
        {
            _ring.Walker.StopRequested = false;
        }

        _self = GCHandle.Alloc(this);
        _thread = new Thread(CaptureLoop)
        {
            IsBackground = true,
            Name = $"capture {Options.Interface}",
            Priority = ThreadPriority.AboveNormal, // falling behind means kernel drops; the handler is expected to be short
        };
        _thread.Start();
    }

    /// <summary>
    /// Stops the capture thread and waits for it (it wakes at once, or when the current handler call returns).
    /// Frames still in the ring are not delivered. May be followed by another <see cref="Start"/>.
    /// Called from inside the handler it only requests the stop; call it again from another thread to wait and clean up.
    /// </summary>
    /// <exception cref="LiveCaptureException">The loop had stopped because of a handler or libpcap failure (inner exception).</exception>
    public void Stop()
    {
        var thread = _thread;
        if (thread is null)
        {
            return;
        }

        _stopRequested = true;
        if (_ring is not null)
        {
            _ring.Walker.StopRequested = true;
        }
        else
        {
            PcapNative.BreakLoop(_pcap);
        }

        SignalStop();
        if (Thread.CurrentThread == thread)
        {
            // Called from inside the handler: the loop ends when the handler returns. Joining here would deadlock,
            // and the loop still needs its state, so a later Stop() from another thread does the cleanup.
            return;
        }

        thread.Join();
        _thread = null;
        _handler = null;

        var fault = Interlocked.Exchange(ref _fault, null);
        if (fault is not null)
        {
            throw new LiveCaptureException($"capture on '{Options.Interface}' stopped after a failure: {fault.Message}", fault);
        }
    }

    /// <summary>
    /// Replaces the capture filter. A running loop pauses for it; frames that arrive meanwhile wait in
    /// the kernel ring, and libpcap applies the new filter to the ones already queued. Not for the
    /// capture thread itself.
    /// </summary>
    /// <exception cref="LiveCaptureException">The filter does not compile (the old one stays).</exception>
    public void ChangeFilter(string filter)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(filter);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var handler = _handler;
        var running = _thread is not null;
        if (running)
        {
            Stop();
        }

        try
        {
            if (_ring is not null)
            {
                _ring.SetFilter(filter);
            }
            else
            {
                _device!.Filter = filter;
            }
        }
        catch (PcapException e)
        {
            throw new LiveCaptureException($"invalid capture filter \"{filter}\" on '{Options.Interface}': {e.Message}", e);
        }
        finally
        {
            if (running)
            {
                Start(handler!, _afterDispatch);
            }
        }
    }

    /// <summary>Stops the capture (without throwing) and closes the device.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        try
        {
            Stop();
        }
        catch (LiveCaptureException)
        {
            // Dispose must not throw; the failure was observable through Fault and Stop.
        }

        _disposed = true;
        _device?.Close();
        _ring?.Dispose();
        _ = LibC.close(_stopEvent);
        _ = LibC.close(_wakeEvent);
    }

    internal static void Validate(LiveCaptureOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.Interface))
        {
            throw new ArgumentException("LiveCaptureOptions.Interface is required", nameof(options));
        }

        if (options.SnapLength is <= 0 or > 262144)
        {
            throw new ArgumentException($"LiveCaptureOptions.SnapLength must be 1..262144, was {options.SnapLength}", nameof(options));
        }

        if (options.BufferSizeBytes <= 0)
        {
            throw new ArgumentException($"LiveCaptureOptions.BufferSizeBytes must be positive, was {options.BufferSizeBytes}", nameof(options));
        }

        if (options.Reader == LiveCaptureReader.Ring && (options.RingBlockSizeBytes < 4096 || (options.RingBlockSizeBytes & (options.RingBlockSizeBytes - 1)) != 0))
        {
            throw new ArgumentException($"LiveCaptureOptions.RingBlockSizeBytes must be a power of two of at least 4096, was {options.RingBlockSizeBytes}", nameof(options));
        }

        if (options.ReadTimeoutMs < 0)
        {
            throw new ArgumentException($"LiveCaptureOptions.ReadTimeoutMs must not be negative, was {options.ReadTimeoutMs}", nameof(options));
        }
    }

    // pcap_dispatch's result after pcap_breakloop (PCAP_ERROR_BREAK).
    private const int PcapBreak = -2;

    private void CaptureLoop()
    {
        var gotReference = false;
        var handle = _device?.Handle;
        var ring = _ring;
        try
        {
            // Keep the pcap_t alive even if someone closes the device from another thread mid-dispatch.
            handle?.DangerousAddRef(ref gotReference);
            var user = (byte*)GCHandle.ToIntPtr(_self);
            // The capture, the stop and wake-up eventfds, then the consumer's own descriptors (gathered every turn).
            var pollFds = stackalloc LibC.PollFd[3 + MaxInputs];
            pollFds[0] = new LibC.PollFd { Fd = _fileDescriptor, Events = LibC.PollIn };
            pollFds[1] = new LibC.PollFd { Fd = _stopEvent, Events = LibC.PollIn };
            pollFds[2] = new LibC.PollFd { Fd = _wakeEvent, Events = LibC.PollIn };
            var input = _input;
            Span<int> inputFds = stackalloc int[MaxInputs];
            Volatile.Write(ref _captureThreadId, LibC.gettid());
            DrainStopEvent(); // a stop request from an earlier run (Stop, Start again) must not end this one
            // After an error on the socket (its interface went down) libpcap may report nothing yet: it learns that the
            // interface is gone only when it looks again, and no event will wake us for that. So in that state we
            // poll with a timeout and let it look once a second.
            var socketError = false;
            var afterDispatch = _afterDispatch;
            var wait = CaptureWait.None;
            LibC.Timespec timeout;
            while (!_stopRequested)
            {
                var micros = socketError ? (wait.TimeoutMicros < 0 ? 1_000_000 : Math.Min(wait.TimeoutMicros, 1_000_000)) : wait.TimeoutMicros;
                timeout.Seconds = (nint)(micros / 1_000_000);
                timeout.Nanoseconds = (nint)(micros % 1_000_000 * 1000);

                // Holding frames: only a stop or a wake-up ends the wait early (the pcap descriptor is left out of the
                // set, and its frames are taken when the wait is over).
                var holding = wait.HoldFrames && micros >= 0 && !socketError;
                pollFds[0].Revents = 0;
                var inputs = input is null ? 0 : Math.Clamp(input.Gather(inputFds), 0, MaxInputs);
                for (var i = 0; i < inputs; i++)
                {
                    pollFds[3 + i] = new LibC.PollFd { Fd = inputFds[i], Events = LibC.PollIn };
                }

                var ready = holding
                    ? LibC.ppoll(pollFds + 1, (nuint)(2 + inputs), &timeout, null)
                    : LibC.ppoll(pollFds, (nuint)(3 + inputs), micros < 0 ? null : &timeout, null);
                if (ready < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == LibC.EIntr)
                    {
                        continue;
                    }

                    throw new LiveCaptureException($"poll on capture '{Options.Interface}' failed: {Marshal.GetPInvokeErrorMessage(errno)}");
                }

                if (_stopRequested)
                {
                    continue;
                }

                if (pollFds[2].Revents != 0)
                {
                    DrainEvent(_wakeEvent);
                }

                for (var i = 0; i < inputs && ready > 0; i++)
                {
                    if (pollFds[3 + i].Revents != 0)
                    {
                        input!.OnReady(i);
                    }
                }

                if (holding || pollFds[0].Revents != 0 || (socketError && ready == 0))
                {
                    socketError |= (pollFds[0].Revents & (LibC.PollErr | LibC.PollHup)) != 0;
                    if (ring is not null)
                    {
                        if (socketError)
                        {
                            // Our socket reports a vanished or downed interface as ENETDOWN in SO_ERROR at once; with no
                            // error there, nothing is wrong and no once-a-second look is needed.
                            ring.ThrowIfSocketError();
                            socketError = false;
                        }

                        ring.Dispatch(_handler!);
                        if (afterDispatch is not null && !_stopRequested)
                        {
                            wait = afterDispatch();
                        }

                        continue;
                    }

                    // Every negative result but a break is an error: libpcap reports an interface that went away as
                    // PCAP_ERROR_IFACE_NOT_UP (-9), not -1, and only once (the socket's error is consumed); taken for
                    // success, the loop went back to a poll that never wakes again.
                    var result = PcapNative.Dispatch(_pcap, -1, &OnFrame, user);
                    if (result < 0 && result != PcapBreak)
                    {
                        throw new LiveCaptureException($"pcap_dispatch on '{Options.Interface}' failed: {PcapNative.GetError(_pcap)}");
                    }
                }

                if (afterDispatch is not null && !_stopRequested)
                {
                    wait = afterDispatch();
                }
            }
        }
        catch (Exception e)
        {
            Volatile.Write(ref _fault, e);
        }
        finally
        {
            if (gotReference)
            {
                handle!.DangerousRelease();
            }

            // Freed by the loop itself, after its last pcap_dispatch: no callback can see a freed handle.
            _self.Free();

            // Stop() joins this thread before it takes the fault, so the fault is still here to report.
            if (Volatile.Read(ref _fault) is { } fault)
            {
                Faulted?.Invoke(this, fault);
            }
        }
    }

    private void SignalStop()
    {
        ulong one = 1;
        _ = LiveCaptureNative.write(_stopEvent, &one, sizeof(ulong)); // only fails when the counter is already set
    }

    private void DrainStopEvent() => DrainEvent(_stopEvent);

    private static void DrainEvent(int eventFd)
    {
        ulong value;
        _ = LiveCaptureNative.read(eventFd, &value, sizeof(ulong)); // EAGAIN when nothing was signalled
    }

    /// <summary>
    /// Has the capture thread run the after-dispatch step given to <see cref="Start"/> soon, even with no frame
    /// arriving. Any thread; wake-ups before the step runs merge into one.
    /// </summary>
    public void Wake()
    {
        if (_disposed)
        {
            return;
        }

        ulong one = 1;
        _ = LiveCaptureNative.write(_wakeEvent, &one, sizeof(ulong)); // only fails when the counter is already at its maximum
    }

    [UnmanagedCallersOnly] // platform default convention, matching the delegate* unmanaged pcap_handler type
    private static void OnFrame(byte* user, PcapPacketHeader* header, byte* data)
    {
        var self = (LiveCapture)GCHandle.FromIntPtr((nint)user).Target!;
        try
        {
            var captured = (int)header->CapturedLength;
            var info = new FrameInfo(
                ((long)header->Seconds * 1_000_000_000L) + ((long)header->Fraction * self._fractionToNanos),
                captured,
                (int)header->OriginalLength,
                self.LinkType);
            self._handler!(new ReadOnlySpan<byte>(data, captured), in info);
            self._framesDelivered++;
        }
        catch (Exception e)
        {
            // An exception must not unwind into libpcap's C frames: record it and break out of pcap_dispatch.
            Volatile.Write(ref self._fault, e);
            self._stopRequested = true;
            PcapNative.BreakLoop(self._pcap);
        }
    }
}

/// <summary>The eventfd calls <see cref="LiveCapture"/> uses to wake its poll loop.</summary>
internal static unsafe partial class LiveCaptureNative
{
    public const int EfdNonBlock = 0x800; // O_NONBLOCK
    public const int EfdCloexec = 0x80000; // O_CLOEXEC

    [LibraryImport("libc", SetLastError = true)]
    public static partial int eventfd(uint initval, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint read(int fd, void* buf, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint write(int fd, void* buf, nuint count);
}
