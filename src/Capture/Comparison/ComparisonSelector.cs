namespace ReplayCluster.Capture.Comparison;

/// <summary>
/// Which online connections are compared: a pure function of the client's address and port, so the online reply
/// capture (on its own thread) and the session shards (which know the replayed session's endpoints at the target)
/// choose the same sessions without asking each other.
/// </summary>
internal static class ComparisonSelector
{
    /// <summary>Whether the connection of <paramref name="clientAddress"/>:<paramref name="clientPort"/> is compared at <paramref name="percent"/>.</summary>
    public static bool Chooses(uint clientAddress, ushort clientPort, double percent)
    {
        if (percent <= 0)
        {
            return false;
        }

        if (percent >= 100)
        {
            return true;
        }

        // A multiplicative hash of the 48 bits (clients cycle ports in order: consecutive ports must not all land on
        // one side), then its top bits as a fraction in basis points. A different constant from the sampler's, so
        // compared sessions are not only the sampled-in sessions of one end of the hash.
        var key = ((ulong)clientAddress << 16) | clientPort;
        var hash = (key * 0xD6E8FEB86659FD93UL) >> 32;
        return hash % 10_000 < (ulong)(percent * 100);
    }
}
