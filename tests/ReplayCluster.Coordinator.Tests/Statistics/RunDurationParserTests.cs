using ReplayCluster.Coordinator.Http;

namespace ReplayCluster.Coordinator.Tests.Statistics;

public sealed class RunDurationParserTests
{
    [Theory]
    [InlineData("30s", 30)]
    [InlineData("1.5m", 90)]
    [InlineData("1h", 3600)]
    [InlineData("2d", 172800)]
    [InlineData("500ms", 0.5)]
    [InlineData(" 10 S ", 10)]
    public void Durations_are_read_as_people_type_them(string text, double seconds)
    {
        Assert.True(RunDurationParser.TryParse(text, null, out var duration, out var error), error);
        Assert.Equal(TimeSpan.FromSeconds(seconds), duration);
    }

    [Fact]
    public void No_value_takes_the_default_and_none_overrides_it()
    {
        Assert.True(RunDurationParser.TryParse(null, TimeSpan.FromMinutes(5), out var duration, out _));
        Assert.Equal(TimeSpan.FromMinutes(5), duration);
        Assert.True(RunDurationParser.TryParse("none", TimeSpan.FromMinutes(5), out duration, out _));
        Assert.Null(duration);
    }

    [Theory]
    [InlineData("")]
    [InlineData("soon")]
    [InlineData("30x")]
    [InlineData("30")]
    [InlineData("-5s")]
    [InlineData("0s")]
    [InlineData("31d")]
    [InlineData("1000h")]
    public void A_bad_duration_is_refused_naming_the_parameter(string text)
    {
        Assert.False(RunDurationParser.TryParse(text, null, out _, out var error));
        Assert.StartsWith("duration: ", error, StringComparison.Ordinal);
        Assert.Contains($"'{text}'", error, StringComparison.Ordinal);
    }
}
