using ReplayCluster.Statistics;

namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// Reply latency of one session: from the moment a request's last byte is first sent to the moment the
/// first byte of the target's response arrives here (relayed by the intercept, so the relay's delay is
/// included). Retransmissions and resends on a new connection do not restart the clock: a request that
/// needed them waited that long for its reply. A request sent before the previous one's response began
/// (pipelined) cannot be told apart from that previous one at the target, so the first response byte
/// is the older request's sample.
/// </summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Auto)]
internal struct ReplyLatencyClock(ReplyLatencyHistogram? histogram)
{
    // When the awaited request's last byte so far was first sent; null when no reply is awaited.
    private long _awaitedSince;

    // A later request went out before the awaited one's reply began: the sample stays the older one's.
    private bool _frozen;

    private DateTimeOffset? AwaitedSince { readonly get => PackedMoment.Unpack(_awaitedSince); set => _awaitedSince = PackedMoment.Pack(value); }

    /// <summary>True while a reply is awaited.</summary>
    public bool Awaiting => AwaitedSince.HasValue;

    public void Reset()
    {
        AwaitedSince = null;
        _frozen = false;
    }

    /// <summary>Bytes of a request went to the target for the first time.</summary>
    public void OnRequestBytesFirstSent(bool startsRequest, DateTimeOffset now)
    {
        if (startsRequest && AwaitedSince.HasValue)
        {
            _frozen = true;
        }
        else if (startsRequest)
        {
            AwaitedSince = now;
            _frozen = false;
        }
        else if (AwaitedSince.HasValue && !_frozen)
        {
            AwaitedSince = now;
        }
    }

    /// <summary>Response bytes arrived: the awaited request's sample, if one is awaited.</summary>
    public void OnResponseBytes(DateTimeOffset now)
    {
        if (AwaitedSince is { } since)
        {
            histogram?.Record(now - since);
            AwaitedSince = null;
        }
    }

    /// <summary>The previous request got no reply at all: whatever answer comes next is the next one's.</summary>
    public void Forget() => AwaitedSince = null;
}
