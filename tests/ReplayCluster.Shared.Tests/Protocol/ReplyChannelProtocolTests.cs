using System.Runtime.Serialization;
using Akka.Actor;
using ReplayCluster.Protocol;

namespace ReplayCluster.Tests.Protocol;

public sealed class ReplyChannelProtocolTests
{
    private static readonly byte[] Key = ReplyChannelProtocol.NewKey();

    [Fact]
    public void A_hello_with_the_key_is_accepted_and_both_sides_derive_the_same_frame_key()
    {
        var (greeting, hello, interceptKey) = Handshake(Key);

        var captureKey = ReplyChannelProtocol.CheckHello(Key, greeting, hello);

        Assert.NotNull(captureKey);
        Assert.Equal(interceptKey!.Replies, captureKey.Replies);
        Assert.Equal(interceptKey.Claims, captureKey.Claims);
        Assert.NotEqual(captureKey.Replies, captureKey.Claims);
    }

    [Fact]
    public void A_hello_made_with_another_key_or_altered_in_any_byte_is_refused()
    {
        var (greeting, hello, _) = Handshake(ReplyChannelProtocol.NewKey());
        Assert.Null(ReplyChannelProtocol.CheckHello(Key, greeting, hello));

        (greeting, hello, _) = Handshake(Key);
        for (var i = 0; i < hello.Length; i++)
        {
            var altered = (byte[])hello.Clone();
            altered[i] ^= 0x01;
            Assert.Null(ReplyChannelProtocol.CheckHello(Key, greeting, altered));
        }

        Assert.Null(ReplyChannelProtocol.CheckHello(Key, greeting, hello.AsSpan(0, hello.Length - 1)));
    }

    [Fact]
    public void The_hello_names_its_shard_under_the_proof_and_each_connection_gets_keys_of_its_own()
    {
        var (greeting, hello, interceptKeys) = Handshake(Key, shard: 5);
        var captureKeys = ReplyChannelProtocol.CheckHello(Key, greeting, hello);
        Assert.Equal(5, interceptKeys!.Shard);
        Assert.Equal(5, captureKeys!.Shard);

        // The shard index is proven: a hello changed to name another shard (here shard 4) is refused.
        var otherShard = (byte[])hello.Clone();
        otherShard[4 + ReplyChannelProtocol.NonceSize] = 4;
        Assert.Null(ReplyChannelProtocol.CheckHello(Key, greeting, otherShard));

        // Another shard's connection (a fresh handshake) has other frame keys.
        var (_, _, sibling) = Handshake(Key, shard: 4);
        Assert.NotEqual(interceptKeys.Replies, sibling!.Replies);
        Assert.Throws<ArgumentOutOfRangeException>(() => ReplyChannelProtocol.AnswerGreeting(Key, greeting, ReplyChannelOffer.MaxShards, new byte[ReplyChannelProtocol.HelloSize]));
    }

    [Fact]
    public void A_greeting_that_is_not_a_capture_nodes_gets_no_hello()
    {
        var hello = new byte[ReplyChannelProtocol.HelloSize];
        Assert.Null(ReplyChannelProtocol.AnswerGreeting(Key, "HTTP/1.1 200 OK\r\n\r\n "u8, 0, hello));
        Assert.Null(ReplyChannelProtocol.AnswerGreeting(Key, new byte[3], 0, hello));
    }

    [Fact]
    public void Frames_open_in_order_to_the_records_sealed()
    {
        var (_, _, frameKey) = Handshake(Key);
        using var sealer = new ReplyChannelProtocol.FrameMac(frameKey!.Replies);
        using var opener = new ReplyChannelProtocol.FrameMac(frameKey!.Replies);
        var buffer = new byte[ReplyChannelProtocol.FrameSize(10)];
        for (uint frame = 0; frame < 5; frame++)
        {
            var records = Enumerable.Range(0, (int)frame + 1).Select(i => Record(frame * 100 + (uint)i)).ToArray();
            var length = sealer.Seal(buffer, shard: 3, records);

            Assert.Equal(ReplyChannelProtocol.FrameSize(records.Length), length);
            Assert.True(ReplyChannelProtocol.TryReadHeader(buffer, shards: 4, out var count, out var shard, out _));
            Assert.Equal((records.Length, 3), (count, shard));
            var opened = new List<ResponseRecord>();
            Assert.True(opener.TryOpen(buffer.AsSpan(0, length), count, opened));
            Assert.Equal(records, opened);
        }
    }

    [Fact]
    public void A_frame_altered_in_any_byte_replayed_or_reordered_does_not_open()
    {
        var (_, _, frameKey) = Handshake(Key);
        using var sealer = new ReplyChannelProtocol.FrameMac(frameKey!.Replies);
        var first = new byte[ReplyChannelProtocol.FrameSize(2)];
        var second = new byte[ReplyChannelProtocol.FrameSize(2)];
        sealer.Seal(first, 0, [Record(1), Record(2)]);
        sealer.Seal(second, 0, [Record(3), Record(4)]);

        for (var i = 0; i < first.Length; i++)
        {
            using var opener = new ReplyChannelProtocol.FrameMac(frameKey!.Replies);
            var altered = (byte[])first.Clone();
            altered[i] ^= 0x80;
            var opened = new List<ResponseRecord>();
            Assert.False(opener.TryOpen(altered, 2, opened));
            Assert.Empty(opened);
        }

        // The second frame first (reordered), or the first frame twice (replayed): the frame number is in the MAC.
        using (var opener = new ReplyChannelProtocol.FrameMac(frameKey!.Replies))
        {
            Assert.False(opener.TryOpen(second, 2, []));
        }

        using (var opener = new ReplyChannelProtocol.FrameMac(frameKey!.Replies))
        {
            Assert.True(opener.TryOpen(first, 2, []));
            Assert.False(opener.TryOpen(first, 2, []));
        }
    }

    [Fact]
    public void Claims_frames_open_to_the_endpoints_sealed_and_not_under_the_reply_key()
    {
        var (_, _, keys) = Handshake(Key);
        using var sealer = new ReplyChannelProtocol.FrameMac(keys!.Claims);
        using var opener = new ReplyChannelProtocol.FrameMac(keys.Claims);
        using var wrongDirection = new ReplyChannelProtocol.FrameMac(keys.Replies);
        SessionEndpoints[] claimed = [new(0x0AC80001, 40000, 0x0A000202, 80), new(0x0AC80002, 40001, 0x0A000202, 80)];
        SessionEndpoints[] released = [new(0x0AC80003, 40002, 0x0A000202, 80)];
        var frame = new byte[ReplyChannelProtocol.ClaimsFrameSize(3)];

        var length = sealer.SealClaims(frame, shard: 1, claimed, released);

        Assert.Equal(frame.Length, length);
        Assert.True(ReplyChannelProtocol.TryReadClaimsHeader(frame, shards: 2, out var claimedCount, out var releasedCount, out var shard, out _));
        Assert.Equal((2, 1, 1), (claimedCount, releasedCount, shard));
        Assert.False(wrongDirection.OpenClaims(frame, 2, 1, out _, out _));
        Assert.True(opener.OpenClaims(frame, 2, 1, out var claimedBack, out var releasedBack));
        Assert.Equal(claimed, claimedBack);
        Assert.Equal(released, releasedBack);
        Assert.False(ReplyChannelProtocol.TryReadClaimsHeader(frame, shards: 1, out _, out _, out _, out var problem));
        Assert.Equal("shard 1 of 1", problem);
    }

    [Theory]
    [InlineData(0u, 0, 0, "a frame of 0 records")]
    [InlineData(16_385u, 0, 0, "a frame of 16385 records")]
    [InlineData(1u, 4, 0, "shard 4 of 4")]
    [InlineData(1u, 0, 1, "unknown flags 0x0001")]
    public void Headers_no_intercept_writes_are_refused_by_name(uint count, int shard, int flags, string problem)
    {
        var header = new byte[ReplyChannelProtocol.HeaderSize];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(header, count);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(4), (ushort)shard);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(6), (ushort)flags);

        Assert.False(ReplyChannelProtocol.TryReadHeader(header, shards: 4, out _, out _, out var found));
        Assert.StartsWith(problem, found, StringComparison.Ordinal);
    }

    [Fact]
    public void An_offer_round_trips_and_damaged_offers_are_refused()
    {
        var shards = new[] { "akka.tcp://replaycluster@10.0.0.5:4053/user/sessions-0#1", "akka.tcp://replaycluster@10.0.0.5:4053/user/sessions-1#2" };
        var offer = new ReplyChannelOffer("10.0.0.5", 40123, Key, [ActorRefs.Nobody, ActorRefs.Nobody]);
        var bytes = ReplayMessageSerializer.EncodeOffer(offer, shards);
        var resolved = new List<string>();

        var back = ReplayMessageSerializer.DecodeOffer(bytes, path => { resolved.Add(path); return ActorRefs.Nobody; });

        Assert.Equal(("10.0.0.5", 40123), (back.Host, back.Port));
        Assert.Equal(Key, back.Key.ToArray());
        Assert.Equal(shards, resolved);
        for (var length = 0; length < bytes.Length; length++)
        {
            Assert.Throws<SerializationException>(() => ReplayMessageSerializer.DecodeOffer(bytes.AsSpan(0, length), _ => ActorRefs.Nobody));
        }

        Assert.Throws<SerializationException>(() => ReplayMessageSerializer.DecodeOffer([.. bytes, 0], _ => ActorRefs.Nobody));
        var noPort = (byte[])bytes.Clone();
        noPort[1 + 2 + "10.0.0.5".Length] = 0;
        noPort[1 + 2 + "10.0.0.5".Length + 1] = 0;
        Assert.Throws<SerializationException>(() => ReplayMessageSerializer.DecodeOffer(noPort, _ => ActorRefs.Nobody));
    }

    private static (byte[] Greeting, byte[] Hello, ReplyChannelProtocol.ChannelKeys? FrameKey) Handshake(byte[] interceptKey, int shard = 0)
    {
        var greeting = new byte[ReplyChannelProtocol.GreetingSize];
        ReplyChannelProtocol.WriteGreeting(greeting);
        var hello = new byte[ReplyChannelProtocol.HelloSize];
        var frameKey = ReplyChannelProtocol.AnswerGreeting(interceptKey, greeting, shard, hello);
        return (greeting, hello, frameKey);
    }

    private static ResponseRecord Record(uint sequence) => new()
    {
        ClientAddress = 0x0AC80001,
        ClientPort = 40000,
        TargetAddress = 0x0A000202,
        TargetPort = 80,
        Sequence = sequence,
        Acknowledgment = 7,
        Window = 512,
        Flags = 0x18,
        PayloadLength = 100,
        CapturedAtNanos = 1_700_000_000_000_000_000L + sequence,
    };
}
