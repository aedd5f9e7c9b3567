using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Globalization;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ReplayCluster.Cluster;
using ReplayCluster.Configuration;

namespace ReplayCluster.CommandLine;

/// <summary>
/// The command line every node shares: configuration layering options, <c>--print-config</c>, and a
/// <c>--help</c> laid out like a man page. Role-specific options are added by the node's Program.
/// </summary>
public static class NodeCommandLine
{
    /// <summary>Exit status for a configuration error.</summary>
    public const int ConfigurationErrorExitCode = 2;

    /// <summary>Exit status for a failure after start-up.</summary>
    public const int RuntimeErrorExitCode = 1;

    private static readonly Option<string[]> ConfigOption = new("--config")
    {
        Description = "HOCON file layered over the reference configuration; repeatable, later files win.",
        HelpName = "FILE",
        AllowMultipleArgumentsPerToken = false,
    };

    private static readonly Option<string?> HostnameOption = new("--hostname")
    {
        Description = "Address the cluster transport binds to (replaycluster.node.hostname). Default 127.0.0.1.",
        HelpName = "ADDRESS",
    };

    private static readonly Option<string?> PublicHostnameOption = new("--public-hostname")
    {
        Description = "Address other nodes use to reach this one; required with --hostname 0.0.0.0.",
        HelpName = "ADDRESS",
    };

    private static readonly Option<string?> PortOption = new("--port")
    {
        Description = "Cluster transport port; 0 picks a free one (replaycluster.node.port).",
        HelpName = "PORT",
    };

    private static readonly Option<string[]> SeedOption = new("--seed")
    {
        Description = "Seed node HOST:PORT (or akka.tcp://replaycluster@HOST:PORT); repeatable.",
        HelpName = "HOST:PORT",
    };

    private static readonly Option<string[]> SetOption = new("--set")
    {
        Description = "Set any HOCON path, applied last, e.g. --set akka.loglevel=DEBUG; repeatable.",
        HelpName = "PATH=VALUE",
    };

    private static readonly Option<string?> HoconDirOption = new("--hocon-dir")
    {
        Description = "Folder of the reference HOCON (common.hocon and <role>.hocon). Default: beside the binary.",
        HelpName = "DIR",
    };

    private static readonly Option<LogLevel> LogLevelOption = new("--log-level")
    {
        Description = "Minimum level of log lines written to standard output.",
        DefaultValueFactory = _ => LogLevel.Information,
    };

    private static readonly Option<bool> PrintConfigOption = new("--print-config")
    {
        Description = "Print the effective configuration (all layers applied) and exit.",
    };

    /// <summary>Builds the root command of a node.</summary>
    /// <param name="role">The node's role (<see cref="NodeRoles"/>).</param>
    /// <param name="manual">Its man-page text.</param>
    /// <param name="setup">The role's options, settings and actors.</param>
    public static RootCommand Create(string role, NodeManual manual, RoleSetup? setup = null)
    {
        ArgumentNullException.ThrowIfNull(manual);
        setup ??= new RoleSetup();
        var root = new RootCommand(string.Join(Environment.NewLine + Environment.NewLine, manual.Description))
        {
            ConfigOption, HostnameOption, PublicHostnameOption, PortOption, SeedOption, SetOption,
            HoconDirOption, LogLevelOption, PrintConfigOption,
        };
        foreach (var option in setup.Options)
        {
            root.Add(option);
        }

        // Shared and role options also apply to `doctor`, so it checks the configuration the node would run with.
        foreach (var option in root.Options.Where(o => o is not HelpOption and not VersionOption))
        {
            option.Recursive = true;
        }

        root.Add(CreateDoctorCommand(role, setup));

        foreach (var help in root.Options.OfType<HelpOption>())
        {
            if (help.Action is HelpAction standard)
            {
                help.Action = new ManPageHelpAction(manual, standard, ManPageTrailer(manual));
            }
        }

        root.SetAction((parse, cancellation) => RunAsync(role, parse, setup, cancellation));
        return root;
    }

    /// <summary>
    /// Parses and runs. Termination signals are left to the generic host so the node can leave the
    /// cluster before exiting; System.CommandLine's own handler would kill the process after 2 s.
    /// </summary>
    public static Task<int> InvokeAsync(RootCommand command, string[] args)
    {
        ArgumentNullException.ThrowIfNull(command);
        // First, before any socket is used: .NET reads this once (Cluster/InlineSocketCompletions says why).
        InlineSocketCompletions.Prefer();
        return command.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
    }

    /// <summary>Reads the configuration options of a parse result into overrides (environment included).</summary>
    public static NodeConfigOverrides ReadOverrides(ParseResult parse, Func<string, string?> getEnvironmentVariable)
    {
        ArgumentNullException.ThrowIfNull(parse);
        var sources = new Dictionary<string, string>();
        void Note(string property, object? value, string option)
        {
            if (value is not null)
            {
                sources[property] = option;
            }
        }

        var hostname = parse.GetValue(HostnameOption);
        var publicHostname = parse.GetValue(PublicHostnameOption);
        var port = parse.GetValue(PortOption);
        var seeds = parse.GetValue(SeedOption) ?? [];
        Note(nameof(NodeConfigOverrides.Hostname), hostname, "--hostname");
        Note(nameof(NodeConfigOverrides.PublicHostname), publicHostname, "--public-hostname");
        Note(nameof(NodeConfigOverrides.Port), port, "--port");
        Note(nameof(NodeConfigOverrides.Seeds), seeds.Length > 0 ? seeds : null, "--seed");

        var commandLine = new NodeConfigOverrides
        {
            ConfigFiles = parse.GetValue(ConfigOption) ?? [],
            Hostname = hostname,
            PublicHostname = publicHostname,
            Port = port,
            Seeds = seeds,
            Sets = parse.GetValue(SetOption) ?? [],
            Sources = sources,
        };
        return NodeConfigOverrides.FromEnvironment(getEnvironmentVariable, commandLine);
    }

    private static readonly Option<string?> DoctorHostOption = new("--host")
    {
        Description = "Which host to check: this node's role (default), or 'target' for the target host's routing.",
        HelpName = "ROLE|target",
    };

    private static readonly Option<string?> ClientRangeOption = new("--client-range")
    {
        Description = "With --host target: the (fake) client range whose replies must go to the reply sink; an IPv4 range, an IPv6 range, or one of each separated by a comma.",
        HelpName = "CIDR[,CIDR6]",
    };

    private static readonly Option<int?> SlicePrefixOption = new("--slice-prefix")
    {
        Description = "With --host target: the prefix of the coordinator's slices (default 24); every slice must be routed to the reply sink.",
        HelpName = "BITS",
    };

    private static Command CreateDoctorCommand(string role, RoleSetup setup)
    {
        var doctor = new Command("doctor",
            "Check this host's prerequisites (libpcap, privileges, interface, offloads, routes, rp_filter, ip_forward, conntrack, " +
            "cluster reachability) and say what to fix. Exit status 0: no problem; 1: problems; 2: configuration error.")
        {
            DoctorHostOption,
            ClientRangeOption,
            SlicePrefixOption,
        };
        doctor.SetAction(parse => RunDoctor(role, parse, setup));
        return doctor;
    }

    /// <summary>
    /// The client ranges of <c>doctor --host target --client-range</c>: an IPv4 range, an IPv6 range, or one of each
    /// separated by a comma (the coordinator's <c>-c</c> as written), at most one per family.
    /// </summary>
    internal static IReadOnlyList<System.Net.IPNetwork> TargetClientRanges(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var ranges = new List<System.Net.IPNetwork>();
        foreach (var part in parts)
        {
            if (!System.Net.IPNetwork.TryParse(part, out var network) || network.BaseAddress.IsIPv4MappedToIPv6)
            {
                throw NodeConfigurationException.ForSetting("--client-range", $"'{part}' is not a range such as 10.200.0.0/16 or fd00:c8::/48");
            }

            if (ranges.Any(r => r.BaseAddress.AddressFamily == network.BaseAddress.AddressFamily))
            {
                throw NodeConfigurationException.ForSetting("--client-range", $"'{text}' has two ranges of one family; give at most one IPv4 and one IPv6 range");
            }

            ranges.Add(network);
        }

        return ranges;
    }

    private static int RunDoctor(string role, ParseResult parse, RoleSetup setup)
    {
        var output = parse.InvocationConfiguration.Output;
        var host = parse.GetValue(DoctorHostOption) ?? role;
        try
        {
            if (host == "target")
            {
                var range = parse.GetValue(ClientRangeOption)
                    ?? throw NodeConfigurationException.ForSetting("--client-range", "--host target needs the client range routed to the reply sink, e.g. 10.200.0.0/16");
                var ranges = TargetClientRanges(range);
                var slicePrefix = parse.GetValue(SlicePrefixOption) is { } bits and >= 0 and <= 32 ? bits : Doctor.HostChecks.DefaultSlicePrefix;
                List<Doctor.DoctorCheck> checks = [];
                foreach (var network in ranges)
                {
                    var cidr = network.ToString();
                    checks.AddRange(network.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
                        ? [Doctor.HostChecks.Ipv6ReversePathFilter(cidr), Doctor.HostChecks.ClientRangeRouted(cidr, Doctor.HostChecks.Ipv6SlicePrefix)]
                        : [Doctor.HostChecks.ReversePathFilter(cidr), Doctor.HostChecks.ClientRangeRouted(cidr, slicePrefix)]);
                }

                return Doctor.DoctorReport.Run($"target host (replies to {range})", checks, output);
            }

            if (host != role)
            {
                throw NodeConfigurationException.ForSetting("--host", $"'{host}': this binary checks a {role} host or, with --host target, the target host");
            }

            var node = LoadNode(role, parse, setup);
            return Doctor.DoctorReport.Run($"{role} host", [.. setup.DoctorChecks(node), Doctor.HostChecks.ClusterReachable(node.Settings.Seeds)], output);
        }
        catch (NodeConfigurationException ex)
        {
            parse.InvocationConfiguration.Error.WriteLine($"{parse.RootCommandResult.Command.Name} doctor: configuration error: {ex.Message}");
            return ConfigurationErrorExitCode;
        }
    }

    /// <summary>All configuration layers, the role's options included (they sit under --set).</summary>
    private static NodeConfiguration LoadNode(string role, ParseResult parse, RoleSetup setup)
    {
        var overrides = ReadOverrides(parse, Environment.GetEnvironmentVariable);
        return NodeConfigLoader.Load(role, overrides with { Sets = [.. setup.ToHocon(parse), .. overrides.Sets] }, parse.GetValue(HoconDirOption));
    }

    private static async Task<int> RunAsync(string role, ParseResult parse, RoleSetup setup, CancellationToken cancellation)
    {
        var programName = parse.RootCommandResult.Command.Name;
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
            ApplicationName = programName,
        });
        NodeConfiguration node;
        try
        {
            node = LoadNode(role, parse, setup);

            // The actor system's hosted service must start before the role's own hosted services,
            // which wait for its actors: register the node first.
            builder.Services.AddReplayClusterNode(node, setup.ConfigureAkka);
            setup.ConfigureServices(node, builder.Services);
        }
        catch (NodeConfigurationException ex)
        {
            await Console.Error.WriteLineAsync($"{programName}: configuration error: {ex.Message}");
            return ConfigurationErrorExitCode;
        }

        if (parse.GetValue(PrintConfigOption))
        {
            Console.WriteLine(EffectiveConfigText(node));
            return 0;
        }

        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(parse.GetValue(LogLevelOption));
        builder.Logging.AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.UseUtcTimestamp = true;
            console.TimestampFormat = "HH:mm:ss.fff ";
        });
        builder.Services.Configure<HostOptions>(options => options.ShutdownTimeout = TimeSpan.FromSeconds(20));

        try
        {
            using var host = builder.Build();
            await host.RunAsync(cancellation);

            // A role that had to stop the node for a failure (e.g. its capture broke) sets this, and so does a stop
            // the node was not asked for (NodeStopReason; Akka.Hosting sets -1 for downing, which is 1 here too).
            return Environment.ExitCode < 0 ? RuntimeErrorExitCode : Environment.ExitCode;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            await Console.Error.WriteLineAsync($"{programName}: {ex.GetType().Name}: {ex.Message}");
            return RuntimeErrorExitCode;
        }
    }

    /// <summary>The effective configuration as HOCON text: our section plus the Akka keys we set.</summary>
    public static string EffectiveConfigText(NodeConfiguration node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var config = node.Config;
        return string.Join(Environment.NewLine,
            $"# effective configuration of a {node.Settings.Role} node",
            "replaycluster " + config.GetConfig("replaycluster").Root,
            "akka.remote.dot-netty.tcp " + config.GetConfig("akka.remote.dot-netty.tcp").Root,
            "akka.cluster " + config.GetConfig("akka.cluster").Root);
    }

    private static IReadOnlyList<(string Heading, string[] Lines)> ManPageTrailer(NodeManual manual)
    {
        var role = manual.Name.Replace("replaycluster-", string.Empty, StringComparison.Ordinal);
        var sections = new List<(string, string[])>
        {
            ("ENVIRONMENT", [.. NodeConfigOverrides.EnvironmentVariables.Select(v => $"{v.Variable,-30} {v.Meaning} ({v.Setting})")]),
            ("FILES",
            [
                "hocon/common.hocon      reference settings of every node (beside the binary, or --hocon-dir)",
                $"hocon/{role}.hocon".PadRight(24) + "reference settings of this role, layered over common.hocon",
                "Precedence, lowest first: common, role, --config files, environment, options, --set.",
            ]),
            ("EXIT STATUS",
            [
                "0  stopped normally (on SIGTERM or Ctrl-C the node first leaves the cluster)",
                string.Create(CultureInfo.InvariantCulture, $"{RuntimeErrorExitCode}  failed while running"),
                string.Create(CultureInfo.InvariantCulture, $"{ConfigurationErrorExitCode}  configuration error; the message names the setting"),
            ]),
        };
        if (manual.Examples.Count > 0)
        {
            sections.Add(("EXAMPLES", [.. manual.Examples.SelectMany(e => new[] { e.Command, "    " + e.Explanation, string.Empty })]));
        }

        return sections;
    }
}
