using System.CommandLine;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using ReplayCluster.Configuration;

namespace ReplayCluster.CommandLine;

/// <summary>What a node role adds to the shared node command line.</summary>
public sealed record RoleSetup
{
    /// <summary>The role's own options (e.g. the capture node's -i, -x, -c).</summary>
    public IReadOnlyList<Option> Options { get; init; } = [];

    /// <summary>
    /// Turns the role's options into HOCON assignments (<c>PATH = VALUE</c>), applied over the
    /// environment and under <c>--set</c>, so every option is also a documented HOCON setting.
    /// </summary>
    public Func<ParseResult, IEnumerable<string>> ToHocon { get; init; } = _ => [];

    /// <summary>
    /// Reads and validates the role's settings from the effective configuration and registers what the
    /// role needs. Runs before the host is built: a <see cref="NodeConfigurationException"/> here is a
    /// configuration error (exit status 2) that names the setting.
    /// </summary>
    public Action<NodeConfiguration, IServiceCollection> ConfigureServices { get; init; } = (_, _) => { };

    /// <summary>The prerequisites <c>doctor</c> checks on this role's host (validated settings in hand).</summary>
    public Func<NodeConfiguration, IEnumerable<Doctor.DoctorCheck>> DoctorChecks { get; init; } = _ => [];

    /// <summary>Adds the role's actors to the actor system.</summary>
    public Action<AkkaConfigurationBuilder, IServiceProvider> ConfigureAkka { get; init; } = (_, _) => { };
}

/// <summary>Builds HOCON assignments from option values; values are quoted so they cannot inject settings.</summary>
public static class HoconAssignment
{
    /// <summary><c>path = "value"</c>.</summary>
    public static string Of(string path, string value) => $"{path} = {NodeConfigLoader.Quote(value)}";

    /// <summary>One <c>section.key = "value"</c> per option the user gave; options left out leave HOCON alone.</summary>
    public static IEnumerable<string> FromOptions(ParseResult parse, string section, params (Option<string?> Option, string Key)[] options)
    {
        ArgumentNullException.ThrowIfNull(parse);
        foreach (var (option, key) in options)
        {
            if (parse.GetValue(option) is { } value)
            {
                yield return Of($"{section}.{key}", value);
            }
        }
    }

    /// <summary><c>path = ["a", "b"]</c>.</summary>
    public static string OfList(string path, IEnumerable<string> values) =>
        $"{path} = [{string.Join(", ", values.Select(NodeConfigLoader.Quote))}]";
}
