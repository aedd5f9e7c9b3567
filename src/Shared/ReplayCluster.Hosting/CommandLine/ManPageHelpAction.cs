using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;

namespace ReplayCluster.CommandLine;

/// <summary>
/// <c>--help</c> as a man page: NAME, then System.CommandLine's own description/usage/options, then
/// ENVIRONMENT, FILES, EXIT STATUS and EXAMPLES. (Its layout API is internal in 2.0, so we wrap it.)
/// </summary>
internal sealed class ManPageHelpAction(NodeManual manual, HelpAction standard,
    IReadOnlyList<(string Heading, string[] Lines)> trailer) : SynchronousCommandLineAction
{
    public override int Invoke(ParseResult parseResult)
    {
        var output = parseResult.InvocationConfiguration.Output;
        output.WriteLine("NAME");
        output.WriteLine($"  {manual.Name} - {manual.Summary}");
        output.WriteLine();
        standard.Invoke(parseResult);
        foreach (var (heading, lines) in trailer)
        {
            output.WriteLine(heading);
            foreach (var line in lines)
            {
                output.WriteLine(line.Length == 0 ? line : "  " + line);
            }

            output.WriteLine();
        }

        return 0;
    }
}
