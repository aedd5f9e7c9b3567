using System.Globalization;
using Akka.Configuration;
using ReplayCluster.Configuration;
using ReplayCluster.Plans;

namespace ReplayCluster.Coordinator;

/// <summary>The coordinator's validated settings (<c>replaycluster.coordinator</c>).</summary>
internal sealed record CoordinatorSettings
{
    private const string Section = "replaycluster.coordinator";
    private const string PlanSection = Section + ".plan";

    /// <summary>The replay plan the coordinator starts with (<c>replaycluster.coordinator.plan</c>); changed at run time through the API.</summary>
    public ReplayPlan InitialPlan { get; init; } = ReplayPlan.Empty;

    /// <summary>
    /// What plans may ask for beyond the fixed rules: a public fake client range only with
    /// <c>replaycluster.coordinator.allow-public-fake-range = on</c> (default off).
    /// </summary>
    public PlanRules PlanRules { get; init; } = PlanRules.Default;

    /// <summary>host:port of the status API and /metrics; null when off. Defaults to 127.0.0.1:8080.</summary>
    public string? HttpEndpoint { get; init; } = "127.0.0.1:8080";

    public static CoordinatorSettings Read(Config config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var section = new SettingsSection(config, Section);
        var plans = new SettingsSection(config, PlanSection);
        var http = section.Has("http-endpoint") ? section.OptionalText("http-endpoint") : "127.0.0.1:8080";
        var colon = http?.LastIndexOf(':') ?? -1;
        if (!string.IsNullOrEmpty(http) && (colon <= 0
            || !int.TryParse(http[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535))
        {
            throw NodeConfigurationException.ForSetting($"{Section}.http-endpoint", $"'{http}' is not HOST:PORT (empty turns the endpoint off)");
        }

        var plan = new ReplayPlan
        {
            Targets = List(plans, "targets"),
            FakeClientRange = plans.OptionalText("fake-client-range"),
            SlicePrefix = Parse<int>(plans, "slice-prefix", t => int.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null),
            Copies = Parse<int>(plans, "copies", t => int.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null),
            SamplePercent = Parse<double>(plans, "sample-percent", t => double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null),
            RateCap = Parse<double>(plans, "rate-cap", t => double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null),
            IdleTimeout = Parse(plans, "session.idle-timeout", Duration),
            KeepAliveTimeout = Parse(plans, "session.keepalive-timeout", Duration),
            ResponseWaitLimit = Parse(plans, "session.response-wait-limit", Duration),
            RunDuration = Parse(plans, "run-duration", Duration),
            // Response comparison (issue 11): off unless compare-percent is set above 0.
            ComparePercent = Parse<double>(plans, "compare-percent", t => double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null),
            CompareIgnoredHeaders = List(plans, "compare-ignored-headers"),
            CompareIgnoredFields = List(plans, "compare-ignored-fields"),
            CompareRedactedFields = List(plans, "compare-redacted-fields"),
            CompareSecondary = plans.OptionalText("compare-secondary"),
        };

        var rules = new PlanRules { AllowPublicFakeRange = section.Flag("allow-public-fake-range", false) };
        if (ReplayPlanValidator.Validate(plan, running: null, rules) is { } error)
        {
            throw NodeConfigurationException.ForSetting($"{PlanSection}.{HoconKey(error.Field)}", error.Problem);
        }

        return new CoordinatorSettings { InitialPlan = plan, PlanRules = rules, HttpEndpoint = string.IsNullOrEmpty(http) ? null : http };
    }

    /// <summary>The HOCON key of a plan field as errors name it (<c>samplePercent</c> is <c>sample-percent</c>).</summary>
    public static string HoconKey(string field) => field switch
    {
        "idleTimeout" => "session.idle-timeout",
        "keepAliveTimeout" => "session.keepalive-timeout",
        "responseWaitLimit" => "session.response-wait-limit",
        _ => string.Concat(field.Select(c => char.IsUpper(c) ? "-" + char.ToLowerInvariant(c) : c.ToString())),
    };

    // Empty means "not in the plan", like the values below.
    private static IReadOnlyList<string>? List(SettingsSection plans, string key) => plans.List(key) is { Count: > 0 } list ? list : null;

    // Empty means "not in the plan": capture nodes keep their own setting.
    private static T? Parse<T>(SettingsSection plans, string key, Func<string, T?> parse)
        where T : struct
    {
        if (plans.OptionalText(key) is not { } text)
        {
            return null;
        }

        return parse(text) ?? throw NodeConfigurationException.ForSetting(plans.PathOf(key), $"'{text}' is not a {(typeof(T) == typeof(TimeSpan) ? "duration such as 30s" : "number")}");
    }

    private static TimeSpan? Duration(string text) => DurationText.TryParse(text, out var value) ? value : null;
}
