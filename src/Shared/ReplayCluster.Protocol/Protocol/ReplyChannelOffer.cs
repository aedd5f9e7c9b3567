using Akka.Actor;

namespace ReplayCluster.Protocol;

/// <summary>
/// A capture node's invitation to an intercept node: connect to my reply channel at <see cref="Host"/>:<see cref="Port"/>,
/// prove <see cref="Key"/>, and send the replies of the sessions my <see cref="Shards"/> claim there, naming each
/// shard by its index in this list (see <see cref="ReplyChannelProtocol"/>). Sent over the cluster to each intercept
/// that joins; an intercept that cannot use the channel keeps sending through Akka.Remote.
/// </summary>
public sealed class ReplyChannelOffer : IReplayWireMessage
{
    /// <summary>Most shards a node may name: the frame header's shard index is 16 bits, and a node has one per core.</summary>
    public const int MaxShards = 1024;

    public ReplyChannelOffer(string host, int port, byte[] key, IActorRef[] shards)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(shards);
        ArgumentOutOfRangeException.ThrowIfNotEqual(key.Length, ReplyChannelProtocol.KeySize);
        ArgumentOutOfRangeException.ThrowIfZero(shards.Length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(shards.Length, MaxShards);
        Host = host;
        Port = port;
        Key = key;
        Shards = shards;
    }

    /// <summary>Where the capture node listens (its cluster host, so the path is the one remoting already uses).</summary>
    public string Host { get; }

    public int Port { get; }

    /// <summary>The channel's key; never logged.</summary>
    public IReadOnlyList<byte> Key { get; }

    /// <summary>The capture node's session shards, in index order.</summary>
    public IReadOnlyList<IActorRef> Shards { get; }
}
