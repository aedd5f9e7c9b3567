namespace ReplayCluster.PacketIO;

/// <summary>
/// One interface captured by several TPACKET_V3 rings joined in a PACKET_FANOUT group: the kernel gives each
/// connection to one member (a symmetric hash of its addresses and ports), so each member can be read by the thread
/// that handles that member's connections, with no capture thread and no hand-over between threads in between.
/// </summary>
/// <remarks>
/// The members share <see cref="LiveCaptureOptions.BufferSizeBytes"/> (each gets its share of the blocks). A member is
/// read by one thread at a time: <see cref="FanoutCaptureMember.Dispatch"/> and <see cref="FanoutCaptureMember.ChangeFilter"/>
/// on that thread; <see cref="Statistics"/> from any. The sockets belong to the network namespace of the thread that
/// opens them.
/// </remarks>
public sealed class FanoutCapture : IDisposable
{
    private readonly FanoutCaptureMember[] _members;

    private FanoutCapture(LiveCaptureOptions options, FanoutCaptureMember[] members)
    {
        Options = options;
        _members = members;
    }

    /// <summary>The options the members were opened with (<see cref="LiveCaptureOptions.BufferSizeBytes"/> is their sum).</summary>
    public LiveCaptureOptions Options { get; }

    /// <summary>The members, one per reading thread.</summary>
    public IReadOnlyList<FanoutCaptureMember> Members => _members;

    /// <summary>
    /// Whether <paramref name="options"/> can be captured this way: the ring reader asked for, not immediate mode, and an
    /// interface the ring reader supports (Ethernet or loopback; not <c>any</c>) in the calling thread's namespace.
    /// </summary>
    public static bool Supports(LiveCaptureOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Reader == LiveCaptureReader.Ring && !options.Immediate && PacketRing.Supports(options.Interface);
    }

    /// <summary>
    /// Opens <paramref name="members"/> rings on the interface, joins them in one new fanout group and then installs the
    /// filter on each (until every member joined, the kernel would spread connections differently, so none takes a frame
    /// before that). The kernel queues frames from here on.
    /// </summary>
    /// <exception cref="ArgumentException">An option is out of range, or <paramref name="members"/> is below 1.</exception>
    /// <exception cref="LiveCaptureException">The interface cannot be captured, or the filter does not compile.</exception>
    public static FanoutCapture Open(LiveCaptureOptions options, int members)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(members, 1);
        LiveCapture.Validate(options);
        // Each member its share of the ring (PacketRing gives a ring at least two blocks).
        var share = options with { BufferSizeBytes = options.BufferSizeBytes / members };
        var rings = new List<PacketRing>(members);
        try
        {
            ushort group = 0;
            for (var i = 0; i < members; i++)
            {
                var ring = PacketRing.Open(share, startClosed: true);
                rings.Add(ring);
                if (i == 0)
                {
                    group = ring.CreateFanoutGroup();
                }
                else
                {
                    ring.JoinFanoutGroup(group);
                }
            }

            // "tcp or not tcp" would be every frame too; without a filter a member takes everything, as LiveCapture does.
            foreach (var ring in rings)
            {
                ring.InstallFirstFilter(options.Filter ?? string.Empty);
            }

            return new FanoutCapture(options, [.. rings.Select((ring, index) => new FanoutCaptureMember(ring, index))]);
        }
        catch
        {
            foreach (var ring in rings)
            {
                ring.Dispose();
            }

            throw;
        }
    }

    /// <summary>The members' counters, summed. Any thread.</summary>
    public CaptureStatistics Statistics
    {
        get
        {
            long received = 0, dropped = 0;
            foreach (var member in _members)
            {
                var statistics = member.Statistics;
                received += statistics.Received;
                dropped += statistics.KernelDropped;
            }

            return new CaptureStatistics(received, dropped, 0);
        }
    }

    /// <summary>Closes every member. Only once no thread reads them any more.</summary>
    public void Dispose()
    {
        foreach (var member in _members)
        {
            member.Dispose();
        }
    }
}

/// <summary>One ring of a <see cref="FanoutCapture"/>: the connections the kernel gives it, read by one thread.</summary>
public sealed class FanoutCaptureMember : IDisposable
{
    private readonly PacketRing _ring;
    private int _disposed;

    internal FanoutCaptureMember(PacketRing ring, int index)
    {
        _ring = ring;
        Index = index;
    }

    /// <summary>Position in <see cref="FanoutCapture.Members"/>.</summary>
    public int Index { get; }

    /// <summary>The packet socket to poll: readable when the kernel handed a block over; POLLERR when the interface went away.</summary>
    public int FileDescriptor => _ring.FileDescriptor;

    /// <summary>Link type (DLT_) of the frames: Ethernet.</summary>
    public int LinkType => _ring.LinkType;

    /// <summary>Frames handed to a handler so far (the reading thread's count).</summary>
    public long FramesDelivered => _ring.Walker.Delivered;

    /// <summary>This member's counters (received includes its kernel drops). Any thread.</summary>
    public CaptureStatistics Statistics => _ring.ReadStatistics();

    /// <summary>Whether a block is waiting (no system call; on the reading thread).</summary>
    public bool HasBlock => _ring.HasBlock;

    /// <summary>Hands every frame of the blocks the kernel handed over to <paramref name="handler"/>; the blocks given back.</summary>
    public int Dispatch(FrameHandler handler) => _ring.Dispatch(handler);

    /// <summary>Throws <see cref="LiveCaptureException"/> when the socket reports an error (its interface went down or away).</summary>
    public void ThrowIfSocketError() => _ring.ThrowIfSocketError();

    /// <summary>
    /// Replaces the filter; frames queued under the old one are filtered again in user space. On the reading thread.
    /// </summary>
    /// <exception cref="LiveCaptureException">The filter does not compile (the old one stays).</exception>
    public void ChangeFilter(string filter)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(filter);
        _ring.SetFilter(filter);
    }

    /// <summary>Closes the socket and unmaps the ring; once the reading thread is done with it. Idempotent.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _ring.Dispose();
        }
    }
}
