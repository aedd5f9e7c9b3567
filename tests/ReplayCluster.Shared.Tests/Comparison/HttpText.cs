using System.IO.Compression;
using System.Text;
using ReplayCluster.Comparison;

namespace ReplayCluster.Shared.Tests.Comparison;

/// <summary>Builds raw HTTP/1.1 messages, and collects a side's exchanges.</summary>
internal static class HttpText
{
    public static byte[] Request(string method, string target, string? body = null, params string[] headers)
    {
        var text = new StringBuilder($"{method} {target} HTTP/1.1\r\nHost: lab\r\n");
        foreach (var header in headers)
        {
            text.Append(header).Append("\r\n");
        }

        if (body is not null)
        {
            text.Append("Content-Length: ").Append(Encoding.UTF8.GetByteCount(body)).Append("\r\n");
        }

        text.Append("\r\n").Append(body);
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    public static byte[] Response(int status, string? body, params string[] headers) =>
        Response(status, body is null ? null : Encoding.UTF8.GetBytes(body), headers);

    public static byte[] Response(int status, byte[]? body, params string[] headers)
    {
        var text = new StringBuilder($"HTTP/1.1 {status} X\r\n");
        foreach (var header in headers)
        {
            text.Append(header).Append("\r\n");
        }

        if (body is not null)
        {
            text.Append("Content-Length: ").Append(body.Length).Append("\r\n");
        }

        text.Append("\r\n");
        return [.. Encoding.UTF8.GetBytes(text.ToString()), .. body ?? []];
    }

    /// <summary>A chunked response whose body is cut into chunks of <paramref name="chunkSize"/>, with a trailer.</summary>
    public static byte[] Chunked(int status, byte[] body, int chunkSize, params string[] headers)
    {
        var output = new MemoryStream();
        void Write(string s) => output.Write(Encoding.ASCII.GetBytes(s));
        Write($"HTTP/1.1 {status} OK\r\nTransfer-Encoding: chunked\r\n");
        foreach (var header in headers)
        {
            Write(header + "\r\n");
        }

        Write("\r\n");
        for (var i = 0; i < body.Length; i += chunkSize)
        {
            var n = Math.Min(chunkSize, body.Length - i);
            Write($"{n:x};ext=1\r\n");
            output.Write(body, i, n);
            Write("\r\n");
        }

        Write("0\r\nX-Checksum: abc\r\n\r\n");
        return output.ToArray();
    }

    public static byte[] Gzip(string text)
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(Encoding.UTF8.GetBytes(text));
        }

        return output.ToArray();
    }

    public static string Text(this HttpResponse response) => Encoding.UTF8.GetString(response.Body.Span);

    /// <summary>Feeds <paramref name="data"/> in pieces of <paramref name="piece"/> bytes (1 = byte by byte).</summary>
    public static void FeedInPieces(Action<ReadOnlySpan<byte>> feed, byte[] data, int piece)
    {
        for (var i = 0; i < data.Length; i += piece)
        {
            feed(data.AsSpan(i, Math.Min(piece, data.Length - i)));
        }
    }
}

/// <summary>A side with its exchanges collected, for parser tests.</summary>
internal sealed class CollectingSide
{
    public CollectingSide(HttpParserLimits? limits = null)
    {
        Side = new SideStream(limits ?? new HttpParserLimits(), Counters, Exchanges.Add);
    }

    public ComparisonCounters Counters { get; } = new();

    public List<Exchange> Exchanges { get; } = [];

    public SideStream Side { get; }

    public CollectingSide Client(byte[] data, int piece = int.MaxValue)
    {
        HttpText.FeedInPieces(Side.FeedClient, data, Math.Min(piece, Math.Max(1, data.Length)));
        return this;
    }

    public CollectingSide Server(byte[] data, int piece = int.MaxValue)
    {
        HttpText.FeedInPieces(Side.FeedServer, data, Math.Min(piece, Math.Max(1, data.Length)));
        return this;
    }

    public CollectingSide Finish()
    {
        Side.Finish();
        return this;
    }
}
