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
public sealed record RefusedPeerCommand(string Command) : IDeadLetterSuppression;

/// <summary>
/// Akka's serializer of Kill, PoisonPill, Identify and the like (<c>akka-misc</c>, id 16), with one change on
/// the way in: a Kill or PoisonPill from a peer arrives as <see cref="RefusedPeerCommand"/>.
/// </summary>
/// <remarks>
/// Untrusted mode drops a peer's PoisonPill but not its Kill (in Akka.NET 1.5 <c>Kill</c> is no
/// <c>IPossiblyHarmful</c>; the lab's rogue-node test saw a remote Kill stop every actor it named, /system ones
/// included). No node here sends either on purpose, and this holds with untrusted mode off as well. The wire
/// format is Akka's own: the serializer id stays 16, and outbound messages are written by Akka's serializer.
/// </remarks>
public sealed class PeerCommandGuard(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    private readonly MiscMessageSerializer _inner = new(system);

    public override int Identifier => _inner.Identifier;

    public override string Manifest(object o) => _inner.Manifest(o);

    public override byte[] ToBinary(object obj) => _inner.ToBinary(obj);

    public override object FromBinary(byte[] bytes, string manifest) => _inner.FromBinary(bytes, manifest) switch
    {
        Kill => new RefusedPeerCommand(nameof(Kill)),
        PoisonPill => new RefusedPeerCommand(nameof(PoisonPill)),
        var message => message,
    };
}

/// <summary>
/// Akka's serializer of system messages (<c>akka-system-msg</c>, id 22), with one change on the way in: only
/// the death-watch messages (Watch, Unwatch, DeathWatchNotification) pass; a peer's Terminate, Suspend, Resume,
/// Recreate, Create, Supervise or Failed arrives as <see cref="RefusedPeerCommand"/>. Those travel between
/// nodes only for remote deployment, which no node here uses; from a peer they would stop or freeze our actors
/// (untrusted mode drops Terminate only).
/// </summary>
public sealed class SystemMessageGuard(ExtendedActorSystem system) : Serializer(system)
{
    private readonly SystemMessageSerializer _inner = new(system);

    public override int Identifier => _inner.Identifier;

    public override bool IncludeManifest => _inner.IncludeManifest;

    public override byte[] ToBinary(object obj) => _inner.ToBinary(obj);

    public override object FromBinary(byte[] bytes, Type type) => _inner.FromBinary(bytes, type) switch
    {
        Watch or Unwatch or DeathWatchNotification => _inner.FromBinary(bytes, type),
        var refused => new RefusedPeerCommand(refused.GetType().Name),
    };
}
