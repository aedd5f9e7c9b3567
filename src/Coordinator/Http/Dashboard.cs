using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace ReplayCluster.Coordinator.Http;

/// <summary>
/// The dashboard's page (dashboard.html, embedded) and its Content-Security-Policy: only the page's own inline script
/// and style run (allowed by their SHA-256, computed here so the policy follows every edit of the page), it fetches
/// only from this origin, and nothing frames it. Text from the cluster is inserted with textContent; the policy is the
/// second line of defence should a future edit forget that.
/// </summary>
internal sealed partial class Dashboard
{
    private Dashboard(string html)
    {
        Html = html;
        ContentSecurityPolicy = string.Join("; ",
            "default-src 'none'",
            $"script-src {Hashes(ScriptBlock(), html)}",
            $"style-src {Hashes(StyleBlock(), html)}",
            "connect-src 'self'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'");
    }

    public string Html { get; }

    public string ContentSecurityPolicy { get; }

    public static Dashboard Load()
    {
        using var stream = typeof(Dashboard).Assembly.GetManifestResourceStream("dashboard.html")
            ?? throw new InvalidOperationException("dashboard.html is not embedded in the coordinator");
        using var reader = new StreamReader(stream);
        return new Dashboard(reader.ReadToEnd());
    }

    private static string Hashes(Regex block, string html)
    {
        var hashes = block.Matches(html).Select(m => $"'sha256-{Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(m.Groups["body"].Value)))}'").ToList();
        return hashes.Count > 0 ? string.Join(' ', hashes) : "'none'";
    }

    [GeneratedRegex("<script>(?<body>.*?)</script>", RegexOptions.Singleline | RegexOptions.CultureInvariant)]
    private static partial Regex ScriptBlock();

    [GeneratedRegex("<style>(?<body>.*?)</style>", RegexOptions.Singleline | RegexOptions.CultureInvariant)]
    private static partial Regex StyleBlock();
}
