using System.Buffers.Binary;
using System.Security.Cryptography;

namespace ReplayCluster.Protocol;

/// <summary>
/// The reply channel: a plain TCP stream from an intercept node to a capture node that carries response records
/// beside Akka.Remote, because the remoting path costs a reply 5-6 thread hand-offs (router, endpoint writer,
/// DotNetty loop on each side, endpoint reader, shard) and the session waits for every one of them before it sends
/// the next request. The capture node listens; it hands each intercept its endpoint and a fresh random key in a
/// <see cref="ReplyChannelOffer"/> over the cluster (mutual TLS there keeps the key secret); the intercept
/// connects and proves it holds the key; every frame then carries a MAC under a per-connection key and an implicit
/// frame number, so nobody without the key can inject, replay or reorder frames. The records are the same
/// header-only records that Akka.Remote carried (addresses, sequence numbers, lengths): the channel adds integrity,
/// not secrecy, like the records' remoting path without cluster TLS. The other direction carries the capture
/// node's route claims and releases (which sessions' replies are whose), so a session's claim does not wait
/// behind remoting either.
/// </summary>
/// <remarks>
/// <para>One connection per (intercept, capture shard): the shard's own thread reads it, so a reply frame reaches
/// its session with no thread hand-off on the capture node, and the shard writes its claims back on it.</para>
/// <para>Handshake: the capture node sends <c>"RCR3"</c> + a 16-byte nonce; the intercept answers <c>"RCR3"</c> + its
/// own 16-byte nonce + the shard index the connection serves (u16, little-endian) + 2 bytes 0 +
/// HMAC-SHA256(key, "hello" | both nonces | shard index); the capture node checks it (constant time) and
/// answers one byte <see cref="Accepted"/>. Both derive the reply frames' key HMAC-SHA256(key, "frames" | both
/// nonces) and the claim frames' key HMAC-SHA256(key, "claims" | both nonces): one key per direction, so a frame
/// cannot be reflected back to its sender.</para>
/// <para>Reply frame (intercept to capture node): a little-endian header (record count u32, shard index u16 = the
/// connection's shard, flags u16 = 0), the records (<see cref="ResponseRecord.EncodedSize"/> bytes each, the remoting layout), then the
/// first 16 bytes of HMAC-SHA256(frame key, frame number u64 | header | records). Frame numbers count from 0 per
/// connection and direction.</para>
/// <para>Claims frame (capture node to intercept): header (claimed count u32, released count u32, shard index u16,
/// flags u16 = 0), the endpoints (<see cref="SessionEndpoints.Write"/>: client address 16 bytes, client port u16, target address 16 bytes, target port u16 each),
/// then the MAC as above under the claims key.</para>
/// </remarks>
public static class ReplyChannelProtocol
{
    /// <summary>Bytes of the key a capture node offers.</summary>
    public const int KeySize = 32;

    /// <summary>Bytes of each side's nonce.</summary>
    public const int NonceSize = 16;

    /// <summary>Bytes of the capture node's greeting: magic and nonce.</summary>
    public const int GreetingSize = 4 + NonceSize;

    /// <summary>Bytes of the intercept's hello: magic, nonce, shard index (u16 and 2 bytes 0) and proof.</summary>
    public const int HelloSize = 4 + NonceSize + 4 + 32;

    // Where the shard index and the proof sit in the hello.
    private const int HelloShardOffset = 4 + NonceSize;
    private const int HelloProofOffset = HelloShardOffset + 4;

    /// <summary>Bytes of a frame header.</summary>
    public const int HeaderSize = 8;

    /// <summary>Bytes of a frame's MAC (truncated HMAC-SHA256, as in RFC 4868's 128-bit tags).</summary>
    public const int MacSize = 16;

    /// <summary>The capture node's answer to a valid hello.</summary>
    public const byte Accepted = 1;

    /// <summary>The largest frame: a full batch.</summary>
    public const int MaxFrameSize = HeaderSize + (ResponseBatch.MaxRecords * ResponseRecord.EncodedSize) + MacSize;

    /// <summary>Bytes of a claims frame header.</summary>
    public const int ClaimsHeaderSize = 12;

    /// <summary>Bytes of one endpoints entry in a claims frame.</summary>
    public const int EndpointsSize = SessionEndpoints.EncodedSize;

    // "RCR3": one connection per shard, the hello names it, addresses of 16 bytes (either family). A node of an
    // earlier protocol ("RCR1": one connection; "RCR2": IPv4 addresses of 4 bytes) is not greeted as a capture
    // node, and its intercept keeps using remoting (whose format version then refuses its records by name).
    private static ReadOnlySpan<byte> Magic => "RCR3"u8;

    private static ReadOnlySpan<byte> HelloLabel => "hello"u8;

    private static ReadOnlySpan<byte> FramesLabel => "frames"u8;

    private static ReadOnlySpan<byte> ClaimsLabel => "claims"u8;

    /// <summary>A fresh random key for one capture node's channel.</summary>
    public static byte[] NewKey() => RandomNumberGenerator.GetBytes(KeySize);

    /// <summary>Frame size for <paramref name="records"/> records.</summary>
    public static int FrameSize(int records) => HeaderSize + (records * ResponseRecord.EncodedSize) + MacSize;

    /// <summary>Claims frame size for <paramref name="entries"/> claimed and released endpoints together.</summary>
    public static int ClaimsFrameSize(int entries) => ClaimsHeaderSize + (entries * EndpointsSize) + MacSize;

    /// <summary>Capture node: writes its greeting with a fresh nonce into <paramref name="greeting"/>.</summary>
    public static void WriteGreeting(Span<byte> greeting)
    {
        Magic.CopyTo(greeting);
        RandomNumberGenerator.Fill(greeting.Slice(4, NonceSize));
    }

    /// <summary>
    /// Intercept: checks the greeting and writes the hello proving the key for the connection of shard
    /// <paramref name="shard"/> (its index in the offer); returns the channel's keys, or null when the greeting is
    /// not a capture node's.
    /// </summary>
    public static ChannelKeys? AnswerGreeting(ReadOnlySpan<byte> key, ReadOnlySpan<byte> greeting, int shard, Span<byte> hello)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(shard);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(shard, ReplyChannelOffer.MaxShards);
        if (greeting.Length != GreetingSize || !greeting[..4].SequenceEqual(Magic))
        {
            return null;
        }

        var serverNonce = greeting.Slice(4, NonceSize);
        Magic.CopyTo(hello);
        var clientNonce = hello.Slice(4, NonceSize);
        RandomNumberGenerator.Fill(clientNonce);
        BinaryPrimitives.WriteUInt16LittleEndian(hello[HelloShardOffset..], (ushort)shard);
        BinaryPrimitives.WriteUInt16LittleEndian(hello[(HelloShardOffset + 2)..], 0);
        Prove(key, HelloLabel, serverNonce, clientNonce, hello.Slice(HelloShardOffset, 4), hello.Slice(HelloProofOffset, 32));
        return Keys(key, serverNonce, clientNonce, shard);
    }

    /// <summary>
    /// Capture node: checks an intercept's hello against its greeting; returns the channel's keys and the shard
    /// index the hello names (proven with the key, not yet checked against the node's shards), or null.
    /// </summary>
    public static ChannelKeys? CheckHello(ReadOnlySpan<byte> key, ReadOnlySpan<byte> greeting, ReadOnlySpan<byte> hello)
    {
        if (hello.Length != HelloSize || !hello[..4].SequenceEqual(Magic))
        {
            return null;
        }

        var serverNonce = greeting.Slice(4, NonceSize);
        var clientNonce = hello.Slice(4, NonceSize);
        var shardField = hello.Slice(HelloShardOffset, 4);
        Span<byte> expected = stackalloc byte[32];
        Prove(key, HelloLabel, serverNonce, clientNonce, shardField, expected);
        return CryptographicOperations.FixedTimeEquals(expected, hello.Slice(HelloProofOffset, 32))
            && BinaryPrimitives.ReadUInt16LittleEndian(shardField[2..]) == 0
            ? Keys(key, serverNonce, clientNonce, BinaryPrimitives.ReadUInt16LittleEndian(shardField))
            : null;
    }

    /// <summary>
    /// Reads exactly <paramref name="into"/>'s length from a blocking socket; false when the peer closed first.
    /// Both ends read frames with it (a receive may return part of one).
    /// </summary>
    public static bool ReadExactly(System.Net.Sockets.Socket socket, Span<byte> into)
    {
        ArgumentNullException.ThrowIfNull(socket);
        while (into.Length > 0)
        {
            var read = socket.Receive(into);
            if (read == 0)
            {
                return false;
            }

            into = into[read..];
        }

        return true;
    }

    /// <summary>Reads a claims frame header; false with the problem named when a peer sent what no capture node sends.</summary>
    public static bool TryReadClaimsHeader(ReadOnlySpan<byte> header, int shards, out int claimed, out int released, out int shard, out string problem)
    {
        var claimedCount = BinaryPrimitives.ReadUInt32LittleEndian(header);
        var releasedCount = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        shard = BinaryPrimitives.ReadUInt16LittleEndian(header[8..]);
        var flags = BinaryPrimitives.ReadUInt16LittleEndian(header[10..]);
        var total = (ulong)claimedCount + releasedCount;
        claimed = (int)Math.Min(claimedCount, int.MaxValue);
        released = (int)Math.Min(releasedCount, int.MaxValue);
        problem = total is 0 or > RouteClaims.MaxEntries ? $"a claims frame of {claimedCount}+{releasedCount} entries (1 to {RouteClaims.MaxEntries})"
            : shard >= shards ? $"shard {shard} of {shards}"
            : flags != 0 ? $"unknown flags 0x{flags:x4}"
            : string.Empty;
        return problem.Length == 0;
    }

    /// <summary>Reads a frame header; false with the problem named when a peer sent what no writer sends.</summary>
    public static bool TryReadHeader(ReadOnlySpan<byte> header, int shards, out int records, out int shard, out string problem)
    {
        var count = BinaryPrimitives.ReadUInt32LittleEndian(header);
        shard = BinaryPrimitives.ReadUInt16LittleEndian(header[4..]);
        var flags = BinaryPrimitives.ReadUInt16LittleEndian(header[6..]);
        records = (int)Math.Min(count, int.MaxValue);
        problem = count is 0 or > ResponseBatch.MaxRecords ? $"a frame of {count} records (1 to {ResponseBatch.MaxRecords})"
            : shard >= shards ? $"shard {shard} of {shards}"
            : flags != 0 ? $"unknown flags 0x{flags:x4}"
            : string.Empty;
        return problem.Length == 0;
    }

    private static void Prove(ReadOnlySpan<byte> key, ReadOnlySpan<byte> label, ReadOnlySpan<byte> serverNonce, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> extra, Span<byte> mac)
    {
        Span<byte> message = stackalloc byte[8 + (2 * NonceSize) + 4];
        message.Clear();
        label.CopyTo(message);
        serverNonce.CopyTo(message[8..]);
        clientNonce.CopyTo(message[(8 + NonceSize)..]);
        extra.CopyTo(message[(8 + (2 * NonceSize))..]);
        HMACSHA256.HashData(key, message[..(8 + (2 * NonceSize) + extra.Length)], mac);
    }

    // The frame keys depend on both nonces, fresh per connection: each shard's connection has keys of its own, so a
    // frame recorded on one connection does not open on another.
    private static ChannelKeys Keys(ReadOnlySpan<byte> key, ReadOnlySpan<byte> serverNonce, ReadOnlySpan<byte> clientNonce, int shard)
    {
        var replies = new byte[32];
        Prove(key, FramesLabel, serverNonce, clientNonce, [], replies);
        var claims = new byte[32];
        Prove(key, ClaimsLabel, serverNonce, clientNonce, [], claims);
        return new ChannelKeys(replies, claims, shard);
    }

    /// <summary>
    /// The keys of one connection: reply frames (intercept to capture node) and claims frames (back), and the
    /// index of the shard the connection serves (every frame on it names that shard).
    /// </summary>
    public sealed record ChannelKeys(byte[] Replies, byte[] Claims, int Shard);

    /// <summary>
    /// One direction's MAC state: the frame key and the next frame number. The intercept seals with it, the
    /// capture node opens with it; one per connection, used by one thread.
    /// </summary>
    public sealed class FrameMac(byte[] frameKey) : IDisposable
    {
        private readonly IncrementalHash _hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, frameKey);
        private ulong _frameNumber;

        /// <summary>Frames sealed or opened so far.</summary>
        public ulong Frames => _frameNumber;

        /// <summary>
        /// Writes a frame of <paramref name="records"/> for <paramref name="shard"/> into <paramref name="frame"/>
        /// (at least <see cref="FrameSize"/> bytes) and returns its length.
        /// </summary>
        public int Seal(Span<byte> frame, int shard, ReadOnlySpan<ResponseRecord> records)
        {
            ArgumentOutOfRangeException.ThrowIfZero(records.Length);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(records.Length, ResponseBatch.MaxRecords);
            var length = FrameSize(records.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)records.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(frame[4..], checked((ushort)shard));
            BinaryPrimitives.WriteUInt16LittleEndian(frame[6..], 0);
            var body = frame[HeaderSize..];
            foreach (ref readonly var record in records)
            {
                ReplayMessageSerializer.Write(body, record);
                body = body[ResponseRecord.EncodedSize..];
            }

            Mac(frame[..(length - MacSize)], frame.Slice(length - MacSize, MacSize));
            return length;
        }

        /// <summary>
        /// Checks a received frame (header, records, MAC) and appends its records to <paramref name="into"/> (the
        /// reader gathers several frames per shard); false, and nothing appended, when the MAC does not match, which
        /// ends the connection (the stream can no longer be trusted).
        /// </summary>
        public bool TryOpen(ReadOnlySpan<byte> frame, int records, List<ResponseRecord> into)
        {
            ArgumentNullException.ThrowIfNull(into);
            var length = FrameSize(records);
            Span<byte> expected = stackalloc byte[MacSize];
            Mac(frame[..(length - MacSize)], expected);
            if (!CryptographicOperations.FixedTimeEquals(expected, frame.Slice(length - MacSize, MacSize)))
            {
                return false;
            }

            var body = frame[HeaderSize..];
            for (var i = 0; i < records; i++)
            {
                into.Add(ReplayMessageSerializer.Read(body));
                body = body[ResponseRecord.EncodedSize..];
            }

            return true;
        }

        /// <summary>
        /// Writes a claims frame of <paramref name="claimed"/> and <paramref name="released"/> (together at most
        /// <see cref="RouteClaims.MaxEntries"/>) for <paramref name="shard"/> and returns its length.
        /// </summary>
        public int SealClaims(Span<byte> frame, int shard, ReadOnlySpan<SessionEndpoints> claimed, ReadOnlySpan<SessionEndpoints> released)
        {
            ArgumentOutOfRangeException.ThrowIfZero(claimed.Length + released.Length);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(claimed.Length + released.Length, RouteClaims.MaxEntries);
            var length = ClaimsFrameSize(claimed.Length + released.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)claimed.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(frame[4..], (uint)released.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(frame[8..], checked((ushort)shard));
            BinaryPrimitives.WriteUInt16LittleEndian(frame[10..], 0);
            var body = frame[ClaimsHeaderSize..];
            foreach (ref readonly var endpoints in claimed)
            {
                endpoints.Write(body);
                body = body[EndpointsSize..];
            }

            foreach (ref readonly var endpoints in released)
            {
                endpoints.Write(body);
                body = body[EndpointsSize..];
            }

            Mac(frame[..(length - MacSize)], frame.Slice(length - MacSize, MacSize));
            return length;
        }

        /// <summary>Checks a received claims frame and decodes it; false when the MAC does not match.</summary>
        public bool OpenClaims(ReadOnlySpan<byte> frame, int claimedCount, int releasedCount, out SessionEndpoints[] claimed, out SessionEndpoints[] released)
        {
            var length = ClaimsFrameSize(claimedCount + releasedCount);
            Span<byte> expected = stackalloc byte[MacSize];
            Mac(frame[..(length - MacSize)], expected);
            if (!CryptographicOperations.FixedTimeEquals(expected, frame.Slice(length - MacSize, MacSize)))
            {
                claimed = released = [];
                return false;
            }

            var body = frame[ClaimsHeaderSize..];
            claimed = ReadEndpoints(ref body, claimedCount);
            released = ReadEndpoints(ref body, releasedCount);
            return true;
        }

        public void Dispose() => _hmac.Dispose();

        private static SessionEndpoints[] ReadEndpoints(ref ReadOnlySpan<byte> body, int count)
        {
            var entries = new SessionEndpoints[count];
            for (var i = 0; i < count; i++)
            {
                entries[i] = SessionEndpoints.Read(body);
                body = body[EndpointsSize..];
            }

            return entries;
        }

        private void Mac(ReadOnlySpan<byte> headerAndRecords, Span<byte> mac)
        {
            Span<byte> number = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(number, _frameNumber++);
            _hmac.AppendData(number);
            _hmac.AppendData(headerAndRecords);
            Span<byte> full = stackalloc byte[32];
            _hmac.GetHashAndReset(full);
            full[..MacSize].CopyTo(mac);
        }
    }
}
