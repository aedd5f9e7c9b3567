namespace ReplayCluster.PacketIO;

/// <summary>
/// What a <see cref="LiveCapture"/> loop waits for after its after-dispatch step: a timeout, and whether frames
/// arriving before it wake the loop.
/// </summary>
/// <param name="TimeoutMicros">Microseconds until the step wants to run again; -1 for no timeout.</param>
/// <param name="HoldFrames">
/// True: frames do not wake the loop before the timeout; they wait in the kernel ring and the loop takes them all
/// when it is up (a consumer under load trading a bounded delay for one wake-up per interval instead of one per
/// frame). Ignored without a timeout.
/// </param>
public readonly record struct CaptureWait(long TimeoutMicros, bool HoldFrames = false)
{
    /// <summary>Nothing due: sleep until a frame, a wake-up or a stop.</summary>
    public static CaptureWait None => new(-1);
}
