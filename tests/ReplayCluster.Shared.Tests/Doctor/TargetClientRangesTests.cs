using ReplayCluster.CommandLine;
using ReplayCluster.Configuration;

namespace ReplayCluster.Tests.Doctor;

/// <summary><c>doctor --host target --client-range</c>: the coordinator's <c>-c</c> as written, one range per family.</summary>
public sealed class TargetClientRangesTests
{
    [Theory]
    [InlineData("10.200.0.0/16", "10.200.0.0/16")]
    [InlineData("fd00:c8::/48", "fd00:c8::/48")]
    [InlineData("10.200.0.0/16, fd00:c8::/48", "10.200.0.0/16|fd00:c8::/48")]
    public void One_range_per_family_is_read(string text, string expected) =>
        Assert.Equal(expected, string.Join('|', NodeCommandLine.TargetClientRanges(text)));

    [Theory]
    [InlineData("10.200.0.0/16,10.201.0.0/16", "two ranges of one family")]
    [InlineData("fd00:c8::/48,fd00:c9::/48", "two ranges of one family")]
    [InlineData("10.200.0.0/33", "is not a range")]
    [InlineData("::ffff:10.200.0.0/112", "is not a range")]
    [InlineData("10.200.0.0/16,", "is not a range")]
    public void Anything_else_is_a_configuration_error_that_says_why(string text, string why)
    {
        var error = Assert.Throws<NodeConfigurationException>(() => NodeCommandLine.TargetClientRanges(text));
        Assert.Contains(why, error.Message, StringComparison.Ordinal);
    }
}
