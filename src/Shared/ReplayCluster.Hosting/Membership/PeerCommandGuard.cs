using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Event;
using Akka.Dispatch.SysMsg;
using Akka.Remote.Serialization;
using Akka.Serialization;

namespace ReplayCluster.Membership;

/// <summary>
/// What a peer's Kill, PoisonPill or lifecycle command becomes when it arrives from the wire: an ordinary
/// message no actor handles (logged as unhandled), so it stops nothing.
/// </summary>
/// <param name="Command">The command's type, e.g. <c>Kill</c>.</param>
internal sealed record RefusedPeerCommand(string Command) : IDeadLetterSuppression;

/// <summary>
/// Akka's serializer of Kill, PoisonPill, Identify and the like (<c>akka-misc</c>, id 16), with two changes on
/// the way in: a Kill or PoisonPill from a peer arrives as <see cref="RefusedPeerCommand"/>, and only the kinds
/// running actors exchange are read at all (see <see cref="PeerManifests"/>).
/// </summary>
/// <remarks>
/// Untrusted mode drops a peer's PoisonPill but not its Kill (in Akka.NET 1.5 <c>Kill</c> is no
/// <c>IPossiblyHarmful</c>; the lab's rogue-node test saw a remote Kill stop every actor it named, /system ones
/// included). No node here sends either on purpose, and this holds with untrusted mode off as well. The wire
/// format is Akka's own: the serializer id stays 16, and outbound messages are written by Akka's serializer.
/// Bytes Akka's serializer cannot read are refused with a <see cref="SerializationException"/> (see
/// <see cref="InboundRefusal"/>), never with protobuf's or the runtime's own exceptions.
/// </remarks>
internal sealed class PeerCommandGuard(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    /// <summary>
    /// The manifests read from a peer: Identify, ActorIdentity, an actor ref, Kill, PoisonPill, Status.Success and
    /// Status.Failure, and the remote watcher's heartbeats. The serializer's other kinds travel only in remote
    /// deployment, which no node here uses (Config, deployment scopes, router pools, resizers, FromConfig), or are a
    /// command like Kill (IntentionalRestart, which restarts the actor it reaches). A Config is HOCON text that Akka
    /// parses: bench/fuzz.sh found 9 bytes ("CF", 202086203A5BFA240A) that keep Akka's HOCON parser busy for good, a
    /// thread lost per message. They are refused before any byte is read.
    /// </summary>
    private static readonly HashSet<string> PeerManifests = new(StringComparer.Ordinal) { "ID", "AID", "AR", "K", "PP", "STS", "STF", "RWHB", "RWHR" };

    private readonly MiscMessageSerializer _inner = new(system);

    public override int Identifier => _inner.Identifier;

    public override string Manifest(object o) => _inner.Manifest(o);

    public override byte[] ToBinary(object obj) => _inner.ToBinary(obj);

    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (!PeerManifests.Contains(manifest))
        {
            throw new SerializationException($"Refused an inbound akka-misc message of manifest '{manifest}': only messages between running actors are read from peers");
        }

        object message;
        try
        {
            message = _inner.FromBinary(bytes, manifest);
        }
        catch (Exception ex) when (InboundRefusal.MustWrap(ex))
        {
            throw InboundRefusal.Wrap("akka-misc", manifest, ex);
        }

        return message switch
        {
            Kill => new RefusedPeerCommand(nameof(Kill)),
            PoisonPill => new RefusedPeerCommand(nameof(PoisonPill)),

            // An actor ref with an empty path decodes to null, which the remote dispatcher would Tell and fail the
            // association on (InvalidMessageException) instead of dropping the one message (found by bench/fuzz.sh).
            null => throw new SerializationException($"Refused an inbound akka-misc message ({manifest}): it decodes to nothing"),
            _ => message,
        };
    }
}

/// <summary>
/// Akka's serializer of system messages (<c>akka-system-msg</c>, id 22), with one change on the way in: only
/// the death-watch messages (Watch, Unwatch, DeathWatchNotification) pass; a peer's Terminate, Suspend, Resume,
/// Recreate, Create, Supervise or Failed arrives as <see cref="RefusedPeerCommand"/>. Those travel between
/// nodes only for remote deployment, which no node here uses; from a peer they would stop or freeze our actors
/// (untrusted mode drops Terminate only).
/// </summary>
/// <remarks>
/// The kind is decided by the type the message travels with (the manifest; Akka's serializer includes it) before
/// any byte is read, so a refused kind is never decoded: Failed, Recreate and Resume carry an exception whose type
/// name the peer chooses, and decoding one made this node resolve (and try to load the assembly of) any name sent;
/// bench/fuzz.sh found assembly-load exceptions and 150 KB of allocation per such message.
/// </remarks>
internal sealed class SystemMessageGuard(ExtendedActorSystem system) : Serializer(system)
{
    private readonly SystemMessageSerializer _inner = new(system);

    public override int Identifier => _inner.Identifier;

    public override bool IncludeManifest => _inner.IncludeManifest;

    public override byte[] ToBinary(object obj) => _inner.ToBinary(obj);

    public override object FromBinary(byte[] bytes, Type type)
    {
        if (type is null)
        {
            throw new SerializationException($"Refused an inbound system message of serializer {Identifier}: it names no type");
        }

        if (type != typeof(Watch) && type != typeof(Unwatch) && type != typeof(DeathWatchNotification))
        {
            return new RefusedPeerCommand(type.Name);
        }

        try
        {
            return _inner.FromBinary(bytes, type);
        }
        catch (Exception ex) when (InboundRefusal.MustWrap(ex))
        {
            throw InboundRefusal.Wrap("akka-system-msg", type.Name, ex);
        }
    }
}

/// <summary>
/// How the guards refuse bytes Akka's serializers cannot read. Akka.Remote's EndpointReader logs an inbound
/// message whose deserialization throws <see cref="SerializationException"/> or <see cref="ArgumentException"/> as a
/// transient error and drops it; any other exception fails the reader and with it the association to the peer.
/// Akka's misc serializer lets protobuf's InvalidProtocolBufferException and type-loading exceptions (from exception
/// type names a peer chooses) through, so the guards turn those into a <see cref="SerializationException"/>.
/// </summary>
internal static class InboundRefusal
{
    /// <summary>Whether <paramref name="exception"/> is not already a refusal Akka.Remote drops the message for.</summary>
    public static bool MustWrap(Exception exception) =>
        exception is not (SerializationException or ArgumentException or OutOfMemoryException);

    public static SerializationException Wrap(string serializer, string manifest, Exception exception) =>
        new($"Refused an inbound {serializer} message ({manifest}): {exception.GetType().Name}: {exception.Message}", exception);
}
