using System.Globalization;

namespace ReplayCluster.Configuration;

/// <summary>
/// Structural check run before Akka's HOCON parser, which silently accepts unbalanced braces and
/// brackets and unterminated strings (measured on Akka 1.5.73: "a { b = 1" parses). A truncated or
/// mistyped file must stop the node with the line and column of the problem instead.
/// </summary>
internal static class HoconSyntaxCheck
{
    /// <summary>Returns null when the text is structurally sound, else a "line L, column C: problem" message.</summary>
    public static string? FindProblem(string text)
    {
        var open = new Stack<(char Bracket, int Line, int Column)>();
        int line = 1, column = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            column++;
            if (c == '\n')
            {
                line++;
                column = 0;
                continue;
            }

            if (c == '#' || (c == '/' && i + 1 < text.Length && text[i + 1] == '/'))
            {
                while (i + 1 < text.Length && text[i + 1] != '\n')
                {
                    i++;
                }

                continue;
            }

            if (c == '"')
            {
                var (startLine, startColumn) = (line, column);
                var triple = i + 2 < text.Length && text[i + 1] == '"' && text[i + 2] == '"';
                var end = triple ? text.IndexOf("\"\"\"", i + 3, StringComparison.Ordinal) : EndOfQuoted(text, i + 1);
                if (end < 0)
                {
                    return At(startLine, startColumn, "string is never closed");
                }

                var stop = triple ? end + 2 : end;
                for (; i < stop; i++)
                {
                    if (text[i + 1] == '\n')
                    {
                        line++;
                        column = 0;
                    }
                    else
                    {
                        column++;
                    }
                }

                continue;
            }

            switch (c)
            {
                case '{' or '[':
                    open.Push((c, line, column));
                    break;
                case '}' or ']':
                    var expected = c == '}' ? '{' : '[';
                    if (open.Count == 0)
                    {
                        return At(line, column, $"'{c}' has no matching '{expected}'");
                    }

                    var top = open.Pop();
                    if (top.Bracket != expected)
                    {
                        return At(line, column, $"'{c}' closes the '{top.Bracket}' opened at line {top.Line}, column {top.Column}");
                    }

                    break;
            }
        }

        if (open.Count > 0)
        {
            var unclosed = open.Peek();
            return At(unclosed.Line, unclosed.Column, $"'{unclosed.Bracket}' is never closed");
        }

        return null;
    }

    private static int EndOfQuoted(string text, int start)
    {
        for (var i = start; i < text.Length; i++)
        {
            switch (text[i])
            {
                case '\\':
                    i++;
                    break;
                case '"':
                    return i;
                case '\n':
                    return -1;
            }
        }

        return -1;
    }

    private static string At(int line, int column, string problem) =>
        string.Create(CultureInfo.InvariantCulture, $"line {line}, column {column}: {problem}");
}
