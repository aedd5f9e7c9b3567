using ReplayCluster.Comparison;

namespace ReplayCluster.Shared.Tests.Comparison;

public sealed class EndpointTemplateTests
{
    [Theory]
    [InlineData("GET", "/users/42", "GET /users/{id}")]
    [InlineData("GET", "/users/42?expand=true#x", "GET /users/{id}")]
    [InlineData("PUT", "/orders/3f2504e0-4f89-11d3-9a0c-0305e82c3301/items/7", "PUT /orders/{id}/items/{id}")]
    [InlineData("GET", "/blobs/0123456789abcdef0123", "GET /blobs/{id}")]
    [InlineData("GET", "/blobs/cafe", "GET /blobs/cafe")]
    [InlineData("GET", "/v2/users", "GET /v2/users")]
    [InlineData("GET", "/", "GET /")]
    [InlineData("GET", "/a//b/", "GET /a//b/")]
    [InlineData("GET", "http://example.com/users/9?q=1", "GET /users/{id}")]
    [InlineData("OPTIONS", "*", "OPTIONS *")]
    [InlineData("CONNECT", "example.com:443", "CONNECT example.com:443")]
    public void Variable_segments_are_folded_and_the_query_ignored(string method, string target, string expected) =>
        Assert.Equal(expected, EndpointTemplate.Of(method, target));

    [Fact]
    public void Very_long_paths_are_cut()
    {
        var template = EndpointTemplate.Of("GET", "/" + string.Join('/', Enumerable.Repeat("segment", 100)));
        Assert.True(template.Length < EndpointTemplate.MaxPathChars + 32, template);
        Assert.EndsWith("/...", template, StringComparison.Ordinal);
    }
}
