using System.Text.Json;
using System.Text.Json.Serialization;
using ReplayCluster.Configuration;

namespace ReplayCluster.Plans;

/// <summary>Durations in plan JSON are text such as <c>"30s"</c>, as on the command line.</summary>
internal sealed class DurationJsonConverter : JsonConverter<TimeSpan?>
{
    public override bool HandleNull => true;

    public override TimeSpan? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        var text = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
        return DurationText.TryParse(text, out var value)
            ? value
            : throw new JsonException("not a duration such as \"500ms\", \"30s\" or \"10m\"");
    }

    public override void Write(Utf8JsonWriter writer, TimeSpan? value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (value is { } duration)
        {
            writer.WriteStringValue(DurationText.Format(duration));
        }
        else
        {
            writer.WriteNullValue();
        }
    }
}
