using ReplayCluster.Packets;

namespace ReplayCluster.Protocol;

/// <summary>
/// The exact identity of a replayed session at the target: the (possibly fake) client address and
/// port, and the target address and port. Routes are keyed by all four, never by a hash of part of
/// them (tcpcopy's 32-bit route hash let sessions steal each other's replies).
/// Both addresses are of one family, IPv4 or IPv6 (<see cref="NetAddress"/>).
/// </summary>
/// <remarks>
/// Auto layout: the runtime packs the two 16-byte addresses and the ports into 40 bytes instead of 48 (declaration
/// order pads each port to 8): every live session holds several (bench/README.md, "IPv6 addresses").
/// </remarks>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Auto)]
public readonly record struct SessionEndpoints(NetAddress ClientAddress, ushort ClientPort, NetAddress TargetAddress, ushort TargetPort)
{
    /// <summary>Bytes of the wire form (route claims over remoting and the reply channel alike).</summary>
    public const int EncodedSize = 2 * NetAddress.Length + 4;

    /// <summary>The endpoints a reply belongs to.</summary>
    public static SessionEndpoints Of(in ResponseRecord reply) =>
        new(reply.ClientAddress, reply.ClientPort, reply.TargetAddress, reply.TargetPort);

    /// <summary>
    /// Writes the <see cref="EncodedSize"/>-byte wire form: client address (16 bytes, network order, IPv4
    /// IPv4-mapped), client port, target address, target port (ports little-endian).
    /// </summary>
    public void Write(Span<byte> into)
    {
        ClientAddress.Write(into);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(into[16..], ClientPort);
        TargetAddress.Write(into[18..]);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(into[34..], TargetPort);
    }

    /// <summary>Reads what <see cref="Write"/> wrote; the caller checked the length.</summary>
    public static SessionEndpoints Read(ReadOnlySpan<byte> from) => new(
        NetAddress.Read(from),
        System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(from[16..]),
        NetAddress.Read(from[18..]),
        System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(from[34..]));

    public override string ToString() =>
        $"{ClientAddress.ToEndpointString()}:{ClientPort} -> {TargetAddress.ToEndpointString()}:{TargetPort}";
}
