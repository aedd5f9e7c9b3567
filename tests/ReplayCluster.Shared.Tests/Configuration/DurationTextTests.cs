using ReplayCluster.Configuration;

namespace ReplayCluster.Tests.Configuration;

public sealed class DurationTextTests
{
    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("30s", 30_000)]
    [InlineData(" 1.5 s ", 1_500)]
    [InlineData("10m", 600_000)]
    [InlineData("2h", 7_200_000)]
    [InlineData("1d", 86_400_000)]
    public void Number_and_unit_parse(string text, long milliseconds)
    {
        Assert.True(DurationText.TryParse(text, out var value));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("30")]
    [InlineData("soon")]
    [InlineData("-5s")]
    [InlineData("5 weeks")]
    [InlineData("99999999999d")]
    public void Anything_else_does_not(string text) => Assert.False(DurationText.TryParse(text, out _));

    [Theory]
    [InlineData(0, "0s")]
    [InlineData(1_500, "1500ms")]
    [InlineData(30_000, "30s")]
    [InlineData(600_000, "10m")]
    [InlineData(86_400_000, "1d")]
    public void Formatting_picks_the_largest_whole_unit(long milliseconds, string text) =>
        Assert.Equal(text, DurationText.Format(TimeSpan.FromMilliseconds(milliseconds)));
}
