using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;

namespace ReplayCluster.Cluster;

/// <summary>
/// Stands in for Akka's polymorphic JSON serializer (bound in hocon/common.hocon under its alias <c>json</c>, which
/// Akka's reference configuration binds to <c>System.Object</c>). Newtonsoft.Json with type names would let a peer
/// name any .NET type to be created on this node; with this in its place a message type without an explicit binding
/// fails to send (the error names the type), and an inbound message can only be read by a serializer of a known,
/// closed set of types (our <c>ReplayMessageSerializer</c>, Akka's own protobuf serializers).
/// </summary>
internal sealed class UnboundMessageSerializer(ExtendedActorSystem system) : Serializer(system)
{
    /// <summary>
    /// The constructor Akka calls for the alias <c>json</c>, which has settings in its reference configuration
    /// (akka.actor.serialization-settings.json); they are Newtonsoft's and mean nothing here.
    /// </summary>
    public UnboundMessageSerializer(ExtendedActorSystem system, Akka.Configuration.Config settings)
        : this(system)
    {
        _ = settings;
    }

    /// <summary>Serializer id, unique in the actor system (ids below 100 are Akka's).</summary>
    public const int SerializerId = 4712;

    /// <inheritdoc/>
    public override int Identifier => SerializerId;

    /// <inheritdoc/>
    public override bool IncludeManifest => false;

    /// <inheritdoc/>
    public override byte[] ToBinary(object obj) =>
        throw new SerializationException(
            $"{obj?.GetType().FullName ?? "null"} has no explicit serializer binding (akka.actor.serialization-bindings): " +
            "ReplayCluster sends only explicitly bound message types between nodes");

    /// <inheritdoc/>
    public override object FromBinary(byte[] bytes, Type type) =>
        throw new SerializationException($"Refused an inbound message of serializer {SerializerId}: it has no known type");
}
