using System.CommandLine;
using System.Globalization;
using ReplayCluster.CommandLine;
using ReplayCluster.Configuration;

namespace ReplayCluster.Coordinator.Certificates;

/// <summary>
/// <c>replaycluster-coordinator certs init|issue</c>: the cluster CA and the node certificates that mutual TLS on the
/// cluster transport demands (hocon/common.hocon, <c>replaycluster.cluster.tls</c>).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
internal static class CertificateCommands
{
    /// <summary>Where the files go unless --dir says otherwise.</summary>
    public const string DefaultDirectory = "/etc/replaycluster/tls";

    private static readonly Option<string> Directory = new("--dir")
    {
        Description = $"Directory of the CA (ca.crt, ca.key) and the issued certificates. Default {DefaultDirectory}.",
        DefaultValueFactory = _ => DefaultDirectory,
        HelpName = "DIR",
        Recursive = true,
    };

    private static readonly Option<bool> Force = new("--force")
    {
        Description = "Replace existing files (a new CA disowns every certificate the old one issued).",
        Recursive = true,
    };

    private static readonly Option<int?> Days = new("--days")
    {
        Description = "Validity in days. Default: 3650 for the CA, 397 for a node certificate (never beyond the CA's).",
        HelpName = "N",
        Recursive = true,
    };

    private static readonly Option<string> Role = new("--role")
    {
        Description = "The node role the certificate certifies (its subject OU): coordinator, capture or intercept.",
        HelpName = "ROLE",
        Required = true,
    };

    private static readonly Option<string> Name = new("--name")
    {
        Description = "The node's name: subject CN and DNS name, and the file names <NAME>.crt and <NAME>.key.",
        HelpName = "NAME",
        Required = true,
    };

    public static Command Create()
    {
        Role.AcceptOnlyFromAmong([.. NodeRoles.All]);
        var init = new Command("init", "Create the cluster CA: DIR/ca.crt (give it to every node) and DIR/ca.key (keep it here), both 0600.");
        init.SetAction(parse => Run(parse, authority =>
        {
            var files = authority.Init(parse.GetValue(Directory)!, parse.GetValue(Days) ?? 3650, parse.GetValue(Force));
            return $"Created the cluster CA {files.Subject}, valid until {files.NotAfter:yyyy-MM-dd}:{Environment.NewLine}" +
                   $"  {files.CertificatePath}   copy to every node (replaycluster.cluster.tls.ca-certificate){Environment.NewLine}" +
                   $"  {files.KeyPath}   the CA's private key: keep it on this host, never on a node";
        }));

        var issue = new Command("issue", "Issue a node certificate signed by the cluster CA in DIR: DIR/NAME.crt and DIR/NAME.key, both 0600.")
        {
            Role,
            Name,
        };
        issue.SetAction(parse => Run(parse, authority =>
        {
            var files = authority.Issue(parse.GetValue(Directory)!, parse.GetValue(Role)!, parse.GetValue(Name)!, parse.GetValue(Days) ?? 397, parse.GetValue(Force));
            var ca = Path.Combine(parse.GetValue(Directory)!, ClusterCertificateAuthority.CaCertificateFile);
            return string.Create(CultureInfo.InvariantCulture,
                $"Issued {files.Subject}, valid until {files.NotAfter:yyyy-MM-dd}. On that node:{Environment.NewLine}" +
                $"  replaycluster.cluster.tls {{{Environment.NewLine}" +
                $"    ca-certificate = \"{ca}\"{Environment.NewLine}" +
                $"    certificate = \"{files.CertificatePath}\"{Environment.NewLine}" +
                $"    private-key = \"{files.KeyPath}\"{Environment.NewLine}" +
                $"  }}");
        }));

        return new Command("certs", "Create the cluster CA and node certificates for mutual TLS between the nodes.")
        {
            Directory, Force, Days, init, issue,
        };
    }

    private static int Run(ParseResult parse, Func<ClusterCertificateAuthority, string> action)
    {
        try
        {
            parse.InvocationConfiguration.Output.WriteLine(action(new ClusterCertificateAuthority(TimeProvider.System)));
            return 0;
        }
        catch (Exception ex) when (ex is CertificateCommandException or IOException or UnauthorizedAccessException or ArgumentOutOfRangeException)
        {
            parse.InvocationConfiguration.Error.WriteLine($"{parse.RootCommandResult.Command.Name} certs: {ex.Message}");
            return NodeCommandLine.ConfigurationErrorExitCode;
        }
    }
}
