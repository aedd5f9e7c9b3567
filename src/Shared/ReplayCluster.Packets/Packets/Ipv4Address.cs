using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace ReplayCluster.Packets;

/// <summary>
/// Conversions between the host-order <see cref="uint"/> addresses used by the packet layer and
/// <see cref="IPAddress"/>. These allocate and belong to configuration, logging and tests, not the per-packet path.
/// </summary>
public static class Ipv4Address
{
    /// <summary>Converts a host-order address (10.0.0.1 = 0x0A000001) to an <see cref="IPAddress"/>.</summary>
    public static IPAddress ToIPAddress(uint address)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, address);
        return new IPAddress(bytes);
    }

    /// <summary>Converts an IPv4 (or IPv4-mapped IPv6) address to host order.</summary>
    /// <exception cref="ArgumentException">The address is IPv6 and not IPv4-mapped.</exception>
    public static uint FromIPAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new ArgumentException($"'{address}' is not an IPv4 address.", nameof(address));
        }

        Span<byte> bytes = stackalloc byte[4];
        address.TryWriteBytes(bytes, out _);
        return BinaryPrimitives.ReadUInt32BigEndian(bytes);
    }

    /// <summary>Parses dotted-quad text ("10.0.0.1") to host order.</summary>
    public static uint Parse(string text) => FromIPAddress(IPAddress.Parse(text));

    /// <summary>Formats a host-order address as dotted-quad text.</summary>
    public static string Format(uint address) => string.Create(CultureInfo.InvariantCulture,
        $"{address >> 24}.{(address >> 16) & 0xFF}.{(address >> 8) & 0xFF}.{address & 0xFF}");
}
