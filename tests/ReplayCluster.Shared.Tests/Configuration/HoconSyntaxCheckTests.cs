using ReplayCluster.Configuration;

namespace ReplayCluster.Tests.Configuration;

public sealed class HoconSyntaxCheckTests
{
    [Theory]
    [InlineData("a { b = 1 }")]
    [InlineData("a = [1, 2] # a { comment\nb = \"}\"")]
    [InlineData("a = \"\"\"multi\n{ line\"\"\" // ]")]
    [InlineData("a = \"escaped \\\" quote {\"")]
    public void Sound_hocon_passes(string text) => Assert.Null(HoconSyntaxCheck.FindProblem(text));

    [Theory]
    [InlineData("a {\n  b = 1\n", "line 1, column 3: '{' is never closed")]
    [InlineData("a = [1, 2", "line 1, column 5: '[' is never closed")]
    [InlineData("a = 1 }", "line 1, column 7: '}' has no matching '{'")]
    [InlineData("a { b = [1 }", "line 1, column 12: '}' closes the '[' opened at line 1, column 9")]
    [InlineData("x = 1\na = \"open", "line 2, column 5: string is never closed")]
    public void Broken_hocon_is_located(string text, string expected) => Assert.Equal(expected, HoconSyntaxCheck.FindProblem(text));
}
