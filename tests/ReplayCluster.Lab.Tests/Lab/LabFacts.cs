using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>
/// What <c>lab.sh up --json</c> prints (also <c>STATE_DIR/ID/lab.json</c>): the lab's hosts as typed objects, and every
/// <c>KEY=VALUE</c> fact again in <see cref="Facts"/> for the few without a property (PostgreSQL, nginx configs).
/// </summary>
public sealed record LabFacts(
    string Id,
    string StateDir,
    string Sink,
    string Offloads,
    string FakeRange,
    string WwwDir,
    LabFacts.NamespaceFacts Client,
    LabFacts.TargetFacts Target,
    LabFacts.AssistantFacts Assistant,
    LabFacts.NamespaceInterface ReplySink,
    IReadOnlyList<LabFacts.OnlineFacts> Onlines,
    LabFacts.Ipv6Facts? Ipv6,
    IReadOnlyDictionary<string, string> Facts)
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
        Converters = { new IpAddressConverter() },
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };

    /// <summary>Parses <c>lab.sh up --json</c>'s output; a missing member is a <see cref="LabException"/> naming it.</summary>
    public static LabFacts Parse(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<LabFacts>(json, Options) ?? throw new LabException("lab.sh up --json printed null.");
        }
        catch (JsonException ex)
        {
            throw new LabException($"lab.sh up --json printed facts this test build cannot read ({ex.Message}):\n{json}", ex);
        }
    }

    public sealed record NamespaceFacts(string Namespace);

    public sealed record NamespaceInterface(string Namespace, string Interface);

    public sealed record AssistantFacts(string Namespace, IPAddress Ip, string Interface);

    /// <param name="Ip">Its address as seen by online host 1.</param>
    /// <param name="SinkIp">Its address toward the assistant.</param>
    public sealed record TargetFacts(string Namespace, IPAddress Ip, string Interface, IPAddress SinkIp, string SinkInterface, int NginxPort,
        int NginxPid, string AccessLog, string ErrorLog);

    /// <param name="Index">1-based.</param>
    /// <param name="Ip">Its address as seen by its client (nginx listens here).</param>
    /// <param name="UplinkIp">Its address toward the target.</param>
    /// <param name="TargetIp">The target's address as seen by this host.</param>
    public sealed record OnlineFacts(int Index, string Namespace, IPAddress Ip, string Interface, IPAddress UplinkIp, string UplinkInterface,
        IPAddress ClientIp, string ClientInterface, string ClientSubnet, IPAddress TargetIp, string TargetInterface, int NginxPort, int NginxPid,
        string AccessLog, string ErrorLog);

    /// <summary>A dual-stack lab's IPv6 side (<c>lab.sh up --ipv6</c>), shaped like the IPv4 facts.</summary>
    /// <param name="FakeRange">The fake clients' IPv6 range (a /48), routed by the target to the sink.</param>
    /// <param name="TargetSinkIp">The target's address toward the assistant.</param>
    public sealed record Ipv6Facts(string FakeRange, IPAddress TargetSinkIp, IPAddress AssistantIp, IReadOnlyList<Ipv6OnlineFacts> Onlines);

    /// <param name="Index">1-based, as in <see cref="OnlineFacts.Index"/>.</param>
    /// <param name="Ip">The online host's address toward its client (nginx listens here).</param>
    /// <param name="UplinkIp">The online host's address toward the target.</param>
    /// <param name="TargetIp">The target's address as seen by this host (nginx listens here).</param>
    public sealed record Ipv6OnlineFacts(int Index, string ClientSubnet, IPAddress ClientIp, IPAddress Ip, IPAddress UplinkIp, IPAddress TargetIp);

    private sealed class IpAddressConverter : JsonConverter<IPAddress>
    {
        public override IPAddress Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            IPAddress.TryParse(reader.GetString(), out var address) ? address : throw new JsonException($"'{reader.GetString()}' is not an IP address");

        public override void Write(Utf8JsonWriter writer, IPAddress value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
    }
}
