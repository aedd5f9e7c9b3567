namespace ReplayCluster.Replay;

/// <summary>
/// The exact identity of a replayed session at the target: the (possibly fake) client address and
/// port, and the target address and port. Routes are keyed by all four, never by a hash of part of
/// them (tcpcopy's 32-bit route hash let sessions steal each other's replies).
/// Addresses are IPv4 in host byte order.
/// </summary>
public readonly record struct SessionEndpoints(uint ClientAddress, ushort ClientPort, uint TargetAddress, ushort TargetPort)
{
    /// <summary>The endpoints a reply belongs to.</summary>
    public static SessionEndpoints Of(in ResponseRecord reply) =>
        new(reply.ClientAddress, reply.ClientPort, reply.TargetAddress, reply.TargetPort);

    public override string ToString() =>
        $"{Format(ClientAddress)}:{ClientPort} -> {Format(TargetAddress)}:{TargetPort}";

    private static string Format(uint address) =>
        $"{address >> 24}.{(address >> 16) & 0xFF}.{(address >> 8) & 0xFF}.{address & 0xFF}";
}
