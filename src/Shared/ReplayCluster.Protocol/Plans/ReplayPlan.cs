using System.Text.Json.Serialization;

namespace ReplayCluster.Plans;

/// <summary>
/// What the cluster replays and how, held by the coordinator and pushed to every capture node when
/// it joins and on every change. Every field is optional: a field the plan leaves unset keeps each
/// capture node's own setting, so a node started with its own flags behaves the same stand-alone
/// and in a cluster whose plan does not speak about that field.
/// </summary>
/// <remarks>Validation lives in <see cref="ReplayPlanValidator"/>; this type only carries values.</remarks>
public sealed record ReplayPlan
{
    /// <summary>The plan with nothing set: every capture node uses its own flags.</summary>
    public static readonly ReplayPlan Empty = new();

    /// <summary>Online services and their targets, <c>[onlineIP:]onlinePort-targetIP:targetPort</c> (tcpcopy's -x).</summary>
    public IReadOnlyList<string>? Targets { get; init; }

    /// <summary>Fake client range (CIDR) divided into one slice per capture node.</summary>
    public string? FakeClientRange { get; init; }

    /// <summary>Prefix length of one capture node's slice. Defaults to 24 when a range is set.</summary>
    public int? SlicePrefix { get; init; }

    /// <summary>Copies of every captured session, each from its own client identity (the multiplier).</summary>
    public int? Copies { get; init; }

    /// <summary>Percentage of sessions replayed, chosen by a hash of the session.</summary>
    public double? SamplePercent { get; init; }

    /// <summary>Replayed sessions started per second, cluster-wide, shared evenly by the capture nodes.</summary>
    public double? RateCap { get; init; }

    /// <summary>Silence with data pending after which a session is lost.</summary>
    [JsonConverter(typeof(DurationJsonConverter))]
    public TimeSpan? IdleTimeout { get; init; }

    /// <summary>Silence with nothing pending after which a keep-alive session is closed.</summary>
    [JsonConverter(typeof(DurationJsonConverter))]
    public TimeSpan? KeepAliveTimeout { get; init; }

    /// <summary>The next request goes out after this long even if the target never answered.</summary>
    [JsonConverter(typeof(DurationJsonConverter))]
    public TimeSpan? ResponseWaitLimit { get; init; }

    /// <summary>A run started without its own duration stops by itself after this long.</summary>
    [JsonConverter(typeof(DurationJsonConverter))]
    public TimeSpan? RunDuration { get; init; }

    // Response comparison (issue 11, ../Comparison/ComparisonPlan.cs): unset or 0 is off, and off costs nothing.

    /// <summary>Percentage of replayed sessions whose responses are compared with production's (0 to 100); unset is off.</summary>
    public double? ComparePercent { get; init; }

    /// <summary>More response headers never compared (beyond the defaults such as Date and request ids).</summary>
    public IReadOnlyList<string>? CompareIgnoredHeaders { get; init; }

    /// <summary>JSON paths never compared, e.g. <c>$.meta.generatedAt</c> or <c>$.items[*].updatedAt</c>.</summary>
    public IReadOnlyList<string>? CompareIgnoredFields { get; init; }

    /// <summary>JSON field names whose values are redacted in examples (beyond the defaults such as password and token).</summary>
    public IReadOnlyList<string>? CompareRedactedFields { get; init; }

    /// <summary>
    /// A secondary reference, <c>IP:PORT</c>: a second server running the online build, fed the compared sessions too,
    /// so a field that differs between it and production is noise (Diffy's way). Unset: noise is learned from
    /// repeated online requests only.
    /// </summary>
    public string? CompareSecondary { get; init; }
}
