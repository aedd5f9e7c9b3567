namespace ReplayCluster.Packets;

/// <summary>TCP header flags, with the bit values they have in byte 13 of the TCP header.</summary>
[Flags]
#pragma warning disable CA1028 // The wire format is one byte; a byte-backed enum lets us cast header bytes directly.
public enum TcpFlags : byte
#pragma warning restore CA1028
{
    None = 0,
    Fin = 0x01,
    Syn = 0x02,
    Rst = 0x04,
    Psh = 0x08,
    Ack = 0x10,
    Urg = 0x20,
    Ece = 0x40,
    Cwr = 0x80,
}
