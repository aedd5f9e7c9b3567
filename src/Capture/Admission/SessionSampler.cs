using ReplayCluster.Capture.Sessions;

namespace ReplayCluster.Capture.Admission;

/// <summary>
/// Decides which sessions are replayed when only a percentage is wanted (tcpcopy's -r). The decision
/// is a well-mixed hash of the session (4-tuple and client ISN), so every node decides the same for
/// the same session and the chosen share is unbiased; tcpcopy summed two bytes of the address and
/// port, and -r 50 replayed 41 %.
/// </summary>
internal sealed class SessionSampler(double percent)
{
    private const ulong Buckets = 1_000_000;
    private readonly ulong _threshold = (ulong)Math.Round(Math.Clamp(percent, 0, 100) * (Buckets / 100));

    /// <summary>Whether every session is replayed.</summary>
    public bool TakesAll => _threshold >= Buckets;

    public bool Takes(in OnlineConnection connection, uint clientIsn)
    {
        if (TakesAll)
        {
            return true;
        }

        var key = (connection.ClientAddress.HashKey << 32) ^ connection.ServerAddress.HashKey;
        var ports = ((ulong)connection.ClientPort << 48) | ((ulong)connection.ServerPort << 32) | clientIsn;
        return Mix(Mix(key) ^ ports) % Buckets < _threshold;
    }

    // SplitMix64 finalizer: every input bit affects every output bit.
    private static ulong Mix(ulong x)
    {
        x ^= x >> 30;
        x *= 0xbf58476d1ce4e5b9UL;
        x ^= x >> 27;
        x *= 0x94d049bb133111ebUL;
        return x ^ (x >> 31);
    }
}
