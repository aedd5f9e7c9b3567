using System.Buffers;
using System.Text.Json;
using Akka.Actor;
using Akka.Cluster;

namespace ReplayCluster.Health;

/// <summary>
/// One condition a node of some role must meet before it is ready to replay, with what it still waits for in
/// words when it is not met (null when met). Registered in the node's services, evaluated on each <c>/readyz</c>.
/// </summary>
/// <param name="Name">Short name shown in the report (e.g. <c>capture</c>, <c>plan</c>).</param>
/// <param name="NotReadyReason">Reads the state the role keeps anyway; must be cheap and thread-safe.</param>
public sealed record ReadinessCheck(string Name, Func<IServiceProvider, string?> NotReadyReason);

/// <summary>
/// A fact about the node shown beside its readiness (e.g. the capture node's identity slice), so that an operator or
/// a test reads it from data rather than from the log. Null while unknown (then left out).
/// </summary>
public sealed record HealthDetail(string Name, Func<IServiceProvider, string?> Value);

/// <summary>One check's outcome: <see cref="Reason"/> is null when it is met.</summary>
internal readonly record struct ReadinessOutcome(string Name, string? Reason)
{
    public bool Ready => Reason is null;
}

/// <summary>What <c>/readyz</c> answers: ready only when every check is met.</summary>
internal sealed record ReadinessReport(string Role, IReadOnlyList<ReadinessOutcome> Checks)
{
    /// <summary>This node's cluster address (<c>akka.ssl.tcp://replaycluster@HOST:PORT</c>) once its actor system runs.</summary>
    public string? Address { get; init; }

    /// <summary>The role's <see cref="HealthDetail"/>s that are known.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Details { get; init; } = [];

    public bool Ready => Checks.All(c => c.Ready);

    /// <summary>
    /// <c>{"role":"capture","ready":false,"address":"akka...","details":{"identitySlice":"10.200.1.0/24"},"checks":[{"name":"cluster","ready":true},{"name":"capture","ready":false,"reason":"..."}]}</c>
    /// </summary>
    public byte[] ToJson()
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("role", Role);
            json.WriteBoolean("ready", Ready);
            if (Address is { } address)
            {
                json.WriteString("address", address);
            }

            json.WriteStartObject("details");
            foreach (var (name, value) in Details)
            {
                json.WriteString(name, value);
            }

            json.WriteEndObject();
            json.WriteStartArray("checks");
            foreach (var check in Checks)
            {
                json.WriteStartObject();
                json.WriteString("name", check.Name);
                json.WriteBoolean("ready", check.Ready);
                if (check.Reason is { } reason)
                {
                    json.WriteString("reason", reason);
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}

/// <summary>
/// Liveness and readiness of a node, from the state its parts keep anyway (cluster membership, the role's own
/// readiness), never from its log. Every role has the <c>cluster</c> check (this node is an Up member); roles add
/// theirs as <see cref="ReadinessCheck"/> services. Nothing is polled: a report is computed when asked for.
/// </summary>
internal sealed class NodeHealth(string role, IEnumerable<ReadinessCheck> checks, IServiceProvider services, IEnumerable<HealthDetail>? details = null)
{
    /// <summary>The name of the membership check every node has.</summary>
    public const string ClusterCheck = "cluster";

    private readonly ReadinessCheck[] _checks = [.. checks];
    private readonly HealthDetail[] _details = [.. details ?? []];
    private volatile ActorSystem? _system;

    /// <summary>Called once the actor system runs (before, the node is alive but not joined).</summary>
    public void Attach(ActorSystem system) => _system = system;

    /// <summary>Alive: the process answers and its actor system, once started, has not terminated.</summary>
    public bool Alive => _system is not { WhenTerminated.IsCompleted: true };

    /// <summary>Every check, the cluster's first, evaluated now.</summary>
    public ReadinessReport Evaluate()
    {
        var outcomes = new ReadinessOutcome[_checks.Length + 1];
        outcomes[0] = new ReadinessOutcome(ClusterCheck, MembershipReason(_system));
        for (var i = 0; i < _checks.Length; i++)
        {
            string? reason;
            try
            {
                reason = _checks[i].NotReadyReason(services);
            }
            catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException)
            {
                // A service not built yet, or gone while the host stops: not ready, and why.
                reason = ex.Message;
            }

            outcomes[i + 1] = new ReadinessOutcome(_checks[i].Name, reason);
        }

        var system = _system;
        return new ReadinessReport(role, outcomes)
        {
            Address = system is null ? null : Akka.Cluster.Cluster.Get(system).SelfAddress.ToString(),
            Details = [.. _details.Select(d => (d.Name, Value: Read(d)))
                .Where(d => d.Value is not null).Select(d => KeyValuePair.Create(d.Name, d.Value!))],
        };
    }

    private string? Read(HealthDetail detail)
    {
        try
        {
            return detail.Value(services);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException)
        {
            return null;
        }
    }

    /// <summary>Null when this node is an Up (or WeaklyUp) member of the cluster, else what it is.</summary>
    internal static string? MembershipReason(ActorSystem? system)
    {
        if (system is null)
        {
            return "actor system not started";
        }

        if (system.WhenTerminated.IsCompleted)
        {
            return "actor system terminated";
        }

        var self = Akka.Cluster.Cluster.Get(system).SelfMember;
        return self.Status is MemberStatus.Up or MemberStatus.WeaklyUp ? null : $"not joined (member status {self.Status})";
    }
}
