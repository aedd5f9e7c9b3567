namespace ReplayCluster.PacketIO;

/// <summary>
/// Descriptors a <see cref="LiveCapture"/> loop waits on beside its capture, for a consumer that reads them on the
/// capture thread itself instead of on a thread of their own that would then have to wake the capture thread (the
/// intercept's reply channels, on which the capture nodes' route claims come back). Called on the capture thread only.
/// </summary>
public interface ICaptureSideInput
{
    /// <summary>
    /// Before each wait: writes the descriptors to wait on for input into <paramref name="into"/> and returns how many
    /// (at most its length, <see cref="LiveCapture.MaxInputs"/>). The indexes of <see cref="OnReady"/> refer to this list.
    /// </summary>
    int Gather(Span<int> into);

    /// <summary>
    /// Descriptor <paramref name="index"/> of the last <see cref="Gather"/> is readable, hung up or in error; called
    /// before the turn's frames are dispatched. It must not block and must not throw (an exception stops the capture).
    /// </summary>
    void OnReady(int index);
}
