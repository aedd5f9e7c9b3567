using System.Buffers.Binary;
using ReplayCluster.Packets;

namespace ReplayCluster.Tests.Packets;

/// <summary>
/// Frames captured on this project's lab machine (Debian 12, kernel 6.18) with tcpdump while curl fetched a page from
/// <c>python3 -m http.server</c> on 127.0.0.1, plus one TSO super-segment captured on a veth in a network namespace.
/// Loopback TCP checksums are partial (checksum offload): real captures look like that, so tests never expect them valid.
/// </summary>
internal static class RealFrames
{
    /// <summary>Loopback Ethernet: 127.0.0.1.43644 &gt; 127.0.0.1.18123 SYN seq 1268530466 win 65495, mss 65495, sackOK, TS val 922476703 ecr 0, nop, wscale 10.</summary>
    public static readonly byte[] EthernetSyn = Convert.FromHexString(
        "00000000000000000000000008004500003c1dff400040061ebb7f0000017f000001aa7c46cb4b9c3d2200000000a002ffd7fe3000000204ffd70402080a36fbe09f000000000103030a");

    /// <summary>Loopback Ethernet: 18123 &gt; 43644 SYN-ACK seq 396879969 ack 1268530467 win 65483, TS val 583197716 ecr 922476703.</summary>
    public static readonly byte[] EthernetSynAck = Convert.FromHexString(
        "00000000000000000000000008004500003c0000400040063cba7f0000017f00000146cbaa7c17a7e8614b9c3d23a012ffcbfe3000000204ffd70402080a22c2e41436fbe09f0103030a");

    /// <summary>Loopback Ethernet: 43644 &gt; 18123 PSH-ACK seq 1268530467 ack 396879970 win 64, nop, nop, TS, 79-byte HTTP GET.</summary>
    public static readonly byte[] EthernetData = Convert.FromHexString(
        "0000000000000000000000000800450000831e01400040061e727f0000017f000001aa7c46cb4b9c3d2317a7e86280180040fe7700000101080a36fbe09f22c2e414474554202f20485454502f312e310d0a486f73743a203132372e302e302e313a31383132330d0a557365722d4167656e743a206375726c2f372e38382e310d0a4163636570743a202a2f2a0d0a0d0a");

    /// <summary><c>tcpdump -i any -y LINUX_SLL</c>: 127.0.0.1.56402 &gt; 127.0.0.1.18125 SYN seq 2507601995, TS val 1887798781.</summary>
    public static readonly byte[] SllSyn = Convert.FromHexString(
        "000003040006000000000000000008004500003c7e4240004006be777f0000017f000001dc5246cd9576f84b00000000a002ffd7fe3000000204ffd70402080a708585fd000000000103030a");

    /// <summary>Linux cooked v1: 56402 &gt; 18125 PSH-ACK seq 2507601996 ack 4171116704, 79-byte HTTP GET.</summary>
    public static readonly byte[] SllData = Convert.FromHexString(
        "00000304000600000000000000000800450000837e4440004006be2e7f0000017f000001dc5246cd9576f84cf89e30a080180040fe7700000101080a708585fd730ea663474554202f20485454502f312e310d0a486f73743a203132372e302e302e313a31383132350d0a557365722d4167656e743a206375726c2f372e38382e310d0a4163636570743a202a2f2a0d0a0d0a");

    /// <summary><c>tcpdump -i any</c> default (libpcap 1.10, Linux cooked v2): the same SYN as <see cref="EthernetSyn"/>.</summary>
    public static readonly byte[] Sll2Syn = Convert.FromHexString(
        "08000000000000010304000600000000000000004500003c1dff400040061ebb7f0000017f000001aa7c46cb4b9c3d2200000000a002ffd7fe3000000204ffd70402080a36fbe09f000000000103030a");

    /// <summary>
    /// <see cref="EthernetSyn"/> with an 802.1Q tag (VLAN 10) inserted after the MAC addresses, which is where
    /// libpcap puts a tag the NIC stripped. (The lab kernel has no 8021q module, so no tagged traffic could be made.)
    /// </summary>
    public static readonly byte[] VlanSyn = InsertTags(EthernetSyn, 0x8100, 10);

    /// <summary><see cref="EthernetData"/> with QinQ tags: 802.1ad (S-VLAN 100) then 802.1Q (C-VLAN 10).</summary>
    public static readonly byte[] QinQData = InsertTags(InsertTags(EthernetData, 0x8100, 10), 0x88A8, 100);

    /// <summary><see cref="EthernetSynAck"/> without its Ethernet header: a raw IP (LINKTYPE_RAW) frame.</summary>
    public static readonly byte[] RawSynAck = EthernetSynAck[14..];

    /// <summary>All real frames with their link type, for mutation tests.</summary>
    public static readonly (string Name, byte[] Frame, LinkType LinkType)[] All =
    [
        ("EthernetSyn", EthernetSyn, LinkType.Ethernet),
        ("EthernetSynAck", EthernetSynAck, LinkType.Ethernet),
        ("EthernetData", EthernetData, LinkType.Ethernet),
        ("SllSyn", SllSyn, LinkType.LinuxSll),
        ("SllData", SllData, LinkType.LinuxSll),
        ("Sll2Syn", Sll2Syn, LinkType.LinuxSll2),
        ("VlanSyn", VlanSyn, LinkType.Ethernet),
        ("QinQData", QinQData, LinkType.Ethernet),
        ("RawSynAck", RawSynAck, LinkType.Raw),
    ];

    /// <summary>
    /// One TSO super-segment captured on a veth with default offloads: 10.77.0.2.18124 &gt; 10.77.0.1.44500 PSH-ACK
    /// seq 2126778078 ack 851506363 win 64, TS val 165538640 ecr 4206581493, 65160 payload bytes, Ethernet.
    /// </summary>
    public static byte[] VethSuperSegment() => ReadSinglePcapFrame(Path.Combine(AppContext.BaseDirectory, "TestData", "Packets", "veth-gso-65160.pcap"));

    private static byte[] InsertTags(byte[] frame, ushort tpid, ushort vlanId)
    {
        var tagged = new byte[frame.Length + 4];
        frame.AsSpan(0, 12).CopyTo(tagged);
        BinaryPrimitives.WriteUInt16BigEndian(tagged.AsSpan(12), tpid);
        BinaryPrimitives.WriteUInt16BigEndian(tagged.AsSpan(14), vlanId);
        frame.AsSpan(12).CopyTo(tagged.AsSpan(16));
        return tagged;
    }

    // Classic little-endian pcap: 24-byte file header, then a 16-byte record header (ts, ts, incl_len, orig_len).
    private static byte[] ReadSinglePcapFrame(string path)
    {
        var file = File.ReadAllBytes(path);
        var included = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(24 + 8));
        return file.AsSpan(24 + 16, included).ToArray();
    }
}
