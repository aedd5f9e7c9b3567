using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Remote.Serialization;
using Akka.Serialization;

namespace ReplayCluster.Cluster;

/// <summary>
/// Akka.Remote's <see cref="MiscMessageSerializer"/> (Identify, ActorIdentity, remote watch heartbeats, Status
/// replies, ...) under its own id, except that it refuses to read an inbound <see cref="Kill"/> or
/// <see cref="PoisonPill"/>. Untrusted mode drops a remote PoisonPill but not a Kill (Akka.NET does not mark Kill
/// as possibly harmful): a peer could otherwise make any actor it knows restart and lose its state. No node sends
/// either over the wire, so refusing them costs nothing.
/// </summary>
public sealed class GuardedMiscMessageSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    /// <summary>The id of Akka.Remote's MiscMessageSerializer, which peers put on these messages.</summary>
    public const int SerializerId = 16;

    private readonly MiscMessageSerializer _inner = new(system);

    /// <inheritdoc/>
    public override int Identifier => SerializerId;

    /// <inheritdoc/>
    public override string Manifest(object o) => _inner.Manifest(o);

    /// <inheritdoc/>
    public override byte[] ToBinary(object obj) => obj is Kill or PoisonPill
        ? throw new SerializationException($"{obj.GetType().Name} is never sent to another node")
        : _inner.ToBinary(obj);

    /// <inheritdoc/>
    public override object FromBinary(byte[] bytes, string manifest)
    {
        var message = _inner.FromBinary(bytes, manifest);
        return message is Kill or PoisonPill
            ? throw new SerializationException($"Refused an inbound {message.GetType().Name} from another node")
            : message;
    }
}
