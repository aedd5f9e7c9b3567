using System.Globalization;
using ReplayCluster.Packets;

namespace ReplayCluster.Capture.Comparison;

/// <summary>
/// Which online connections are compared: a pure function of the client's address and port, so the online reply
/// capture (on its own thread) and the session shards (which know the replayed session's endpoints at the target)
/// choose the same sessions without asking each other, and so the kernel can choose too: <see cref="FilterTerm"/> is
/// the same function as a capture filter expression, so the online capture copies only the chosen connections'
/// packets out of the kernel.
/// </summary>
/// <remarks>
/// In the kernel, the online capture copies a tenth of the service's packets at 10 % compared instead of all of them
/// (at full length, both directions). What comparison then costs is mostly the comparison itself (bench/README.md,
/// "Response comparison: what it costs").
/// </remarks>
internal static class ComparisonSelector
{
    // Multipliers of the 32-bit hash (Knuth's golden-ratio constant and murmur3's first mixing constant): BPF's ALU is
    // 32 bits and wraps like C#'s unchecked uint arithmetic, so both compute the same value.
    private const uint PortMultiplier = 2654435761;
    private const uint Mixer = 2246822507;

    /// <summary>Whether the connection of <paramref name="clientAddress"/>:<paramref name="clientPort"/> is compared at <paramref name="percent"/>.</summary>
    public static bool Chooses(NetAddress clientAddress, ushort clientPort, double percent) =>
        percent > 0 && (percent >= 100 || BasisPoints(Key(clientAddress), clientPort) < Threshold(percent));

    /// <summary>
    /// The 32 bits of a client address that the hash takes, and that a capture filter can compute as well: an IPv4
    /// address itself, the XOR of an IPv6 address's four 32-bit words (<see cref="Ipv6KeyTerm"/>).
    /// </summary>
    internal static uint Key(NetAddress address)
    {
        if (address.IsIpv4)
        {
            return address.Ipv4;
        }

        var (upper, lower) = (address.Ipv6.Upper, address.Ipv6.Lower);
        return (uint)(upper >> 32) ^ (uint)upper ^ (uint)(lower >> 32) ^ (uint)lower;
    }

    /// <summary><see cref="Key"/> as a capture filter expression of the IPv6 address at <paramref name="offset"/> in the IPv6 header (8 source, 24 destination).</summary>
    public static string Ipv6KeyTerm(int offset) => string.Create(CultureInfo.InvariantCulture,
        $"(ip6[{offset}:4] ^ ip6[{offset + 4}:4] ^ ip6[{offset + 8}:4] ^ ip6[{offset + 12}:4])");

    /// <summary>
    /// A capture filter term that holds exactly when <see cref="Chooses"/> does, for the client address and port read
    /// from the packet by <paramref name="address"/> and <paramref name="port"/> (e.g. <c>ip[12:4]</c> and
    /// <c>tcp[0:2]</c> for a client's packet); null when every connection is chosen (nothing to filter).
    /// </summary>
    public static string? FilterTerm(string address, string port, double percent) =>
        percent >= 100 ? null
        : string.Create(CultureInfo.InvariantCulture,
            $"((((({address} ^ ({port} * {PortMultiplier})) * {Mixer}) >> 16) * 10000) >> 16) < {Threshold(percent)}");

    // Consecutive ports (clients cycle them in order) must not land on one side: the port is spread over 32 bits
    // before it meets the address, the sum mixed again, and its top 16 bits scaled to basis points (0 to 9999).
    internal static uint BasisPoints(uint clientAddress, ushort clientPort)
    {
        var hash = unchecked((clientAddress ^ (clientPort * PortMultiplier)) * Mixer);
        return ((hash >> 16) * 10_000) >> 16;
    }

    private static uint Threshold(double percent) => (uint)Math.Clamp(percent * 100, 0, 10_000);
}
