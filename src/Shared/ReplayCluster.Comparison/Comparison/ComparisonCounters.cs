namespace ReplayCluster.Comparison;

/// <summary>Why one direction of a stream stopped being parsed. Each is counted; none escapes as an exception.</summary>
public enum StreamRefusal
{
    /// <summary>A request line that is not <c>METHOD SP target SP HTTP/1.x</c> after the stream was seen to be HTTP.</summary>
    MalformedRequestLine,

    /// <summary>A status line that is not <c>HTTP/1.x SP 3DIGIT [SP reason]</c>.</summary>
    MalformedStatusLine,

    /// <summary>A header line without a token name and a colon, or a folded (obsolete) line.</summary>
    MalformedHeader,

    /// <summary>More header (or trailer) fields than <see cref="HttpParserLimits.MaxHeaderCount"/>.</summary>
    TooManyHeaders,

    /// <summary>A header (or trailer) section longer than <see cref="HttpParserLimits.MaxHeaderBytes"/>.</summary>
    HeadersTooLarge,

    /// <summary>A Content-Length that is not a number, or two that disagree.</summary>
    InvalidContentLength,

    /// <summary>A chunk-size line that is not hexadecimal, too long, or a chunk not followed by CRLF.</summary>
    MalformedChunk,

    /// <summary>A direction held more than <see cref="HttpParserLimits.MaxStreamBufferBytes"/> unconsumed bytes.</summary>
    StreamBufferFull,

    /// <summary>A response arrived for which the client stream holds no request.</summary>
    ResponseWithoutRequest,

    /// <summary>The stream ended inside a message (a body or header section cut short).</summary>
    TruncatedMessage,

    /// <summary>A gzip or deflate body decoded to more than <see cref="HttpParserLimits.MaxDecodedBodyBytes"/> (a zip bomb, or just large): compared by its encoded hash.</summary>
    DecodedBodyTooLarge,

    /// <summary>A gzip or deflate body that does not decode: compared by its encoded hash.</summary>
    UndecodableBody,

    /// <summary>The connection switched protocols (101, or a CONNECT tunnel): what follows is not compared.</summary>
    ProtocolSwitched,
}

/// <summary>Why an exchange or a pair was not compared. Each is counted.</summary>
public enum ComparisonDrop
{
    /// <summary>The node already held <see cref="ComparisonBudget.MaxPendingExchanges"/> exchanges waiting for their other side.</summary>
    PendingExchangesFull,

    /// <summary>The node already held <see cref="ComparisonBudget.MaxPendingBodyBytes"/> of waiting bodies.</summary>
    PendingBytesFull,

    /// <summary>The session ended with exchanges on one side that the other side never answered.</summary>
    Unpaired,

    /// <summary>The reference side's stream was refused, so there is nothing to compare against.</summary>
    ReferenceRefused,

    /// <summary>The reference never answered the request (its session ended first), so there is nothing to compare against.</summary>
    ReferenceUnanswered,

    /// <summary>The session was abandoned before it completed (its actor stopped, a timeout).</summary>
    SessionAbandoned,
}

/// <summary>
/// Counts refusals and drops by reason. Increments are interlocked so shards may share one instance; reading is a
/// snapshot for the summary.
/// </summary>
public sealed class ComparisonCounters
{
    private static readonly StreamRefusal[] Refusals = Enum.GetValues<StreamRefusal>();
    private static readonly ComparisonDrop[] Drops = Enum.GetValues<ComparisonDrop>();
    private readonly long[] _refusals = new long[Refusals.Length];
    private readonly long[] _drops = new long[Drops.Length];

    public void Count(StreamRefusal refusal) => Interlocked.Increment(ref _refusals[(int)refusal]);

    public void Count(ComparisonDrop drop, long count = 1) => Interlocked.Add(ref _drops[(int)drop], count);

    public long Get(StreamRefusal refusal) => Interlocked.Read(ref _refusals[(int)refusal]);

    public long Get(ComparisonDrop drop) => Interlocked.Read(ref _drops[(int)drop]);

    /// <summary>Every counter by its snake_case name (<c>refused_malformed_header</c>, <c>dropped_unpaired</c>), zeros left out.</summary>
    public Dictionary<string, long> Snapshot()
    {
        var snapshot = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var refusal in Refusals)
        {
            var value = Get(refusal);
            if (value != 0)
            {
                snapshot["refused_" + SnakeCase(refusal.ToString())] = value;
            }
        }

        foreach (var drop in Drops)
        {
            var value = Get(drop);
            if (value != 0)
            {
                snapshot["dropped_" + SnakeCase(drop.ToString())] = value;
            }
        }

        return snapshot;
    }

    /// <summary>The counter name of a refusal, as in <see cref="Snapshot"/>.</summary>
    public static string NameOf(StreamRefusal refusal) => "refused_" + SnakeCase(refusal.ToString());

    /// <summary>The counter name of a drop, as in <see cref="Snapshot"/>.</summary>
    public static string NameOf(ComparisonDrop drop) => "dropped_" + SnakeCase(drop.ToString());

    internal static string SnakeCase(string pascal)
    {
        var builder = new System.Text.StringBuilder(pascal.Length + 8);
        for (var i = 0; i < pascal.Length; i++)
        {
            var c = pascal[i];
            if (char.IsUpper(c))
            {
                if (i > 0)
                {
                    builder.Append('_');
                }

                builder.Append(char.ToLowerInvariant(c));
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }
}
