namespace ReplayCluster.Protocol;

/// <summary>
/// The exact identity of a replayed session at the target: the (possibly fake) client address and
/// port, and the target address and port. Routes are keyed by all four, never by a hash of part of
/// them (tcpcopy's 32-bit route hash let sessions steal each other's replies).
/// Addresses are IPv4 in host byte order.
/// </summary>
public readonly record struct SessionEndpoints(uint ClientAddress, ushort ClientPort, uint TargetAddress, ushort TargetPort)
{
    /// <summary>Bytes of the wire form (route claims over remoting and the reply channel alike).</summary>
    public const int EncodedSize = 12;

    /// <summary>The endpoints a reply belongs to.</summary>
    public static SessionEndpoints Of(in ResponseRecord reply) =>
        new(reply.ClientAddress, reply.ClientPort, reply.TargetAddress, reply.TargetPort);

    /// <summary>Writes the <see cref="EncodedSize"/>-byte wire form: client address, client port, target address, target port, little-endian.</summary>
    public void Write(Span<byte> into)
    {
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(into, ClientAddress);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(into[4..], ClientPort);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(into[6..], TargetAddress);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(into[10..], TargetPort);
    }

    /// <summary>Reads what <see cref="Write"/> wrote; the caller checked the length.</summary>
    public static SessionEndpoints Read(ReadOnlySpan<byte> from) => new(
        System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(from),
        System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(from[4..]),
        System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(from[6..]),
        System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(from[10..]));

    public override string ToString() =>
        $"{Format(ClientAddress)}:{ClientPort} -> {Format(TargetAddress)}:{TargetPort}";

    private static string Format(uint address) =>
        $"{address >> 24}.{(address >> 16) & 0xFF}.{(address >> 8) & 0xFF}.{address & 0xFF}";
}
