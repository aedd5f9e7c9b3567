using ReplayCluster.Configuration;
using ReplayCluster.Coordinator.Http;

namespace ReplayCluster.Coordinator.Tests.Http;

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ApiTokenTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("replaycluster-token-test-").FullName;

    [Fact]
    public void The_first_start_creates_a_0600_token_file_in_a_0700_folder_and_later_starts_reuse_it()
    {
        var path = Path.Combine(_folder, "state", "api-token");

        var first = ApiToken.LoadOrCreate(path);
        var text = File.ReadAllText(path).Trim();
        var second = ApiToken.LoadOrCreate(path);

        Assert.True(first.Created);
        Assert.False(second.Created);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(path)!));
        Assert.Matches("^[A-Za-z0-9_-]{43}$", text);
        Assert.True(first.Matches($"Bearer {text}"));
        Assert.True(second.Matches($"Bearer {text}"));
        Assert.Equal(text, File.ReadAllText(path).Trim());
    }

    [Fact]
    public void Two_coordinators_get_different_tokens()
    {
        var a = ApiToken.LoadOrCreate(Path.Combine(_folder, "a"));
        var b = File.ReadAllText(Path.Combine(_folder, "a")).Trim();
        var c = ApiToken.LoadOrCreate(Path.Combine(_folder, "c"));

        Assert.True(a.Matches("Bearer " + b));
        Assert.False(c.Matches("Bearer " + b));
    }

    [Theory]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead)]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead)]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.OtherWrite)]
    public void A_token_file_other_users_may_access_is_refused_naming_the_setting(UnixFileMode mode)
    {
        var path = Path.Combine(_folder, "api-token");
        File.WriteAllText(path, ApiToken.NewTokenText());
        File.SetUnixFileMode(path, mode);

        var error = Assert.Throws<NodeConfigurationException>(() => ApiToken.LoadOrCreate(path));

        Assert.StartsWith("replaycluster.coordinator.http.token-file: ", error.Message, StringComparison.Ordinal);
        Assert.Contains("chmod 600", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("short")]
    [InlineData("0123456789012345678901234567890")] // 31 characters
    [InlineData("0123456789012345678901234567890123 with a space")]
    [InlineData("01234567890123456789012345678901\"<script>")]
    public void A_file_that_holds_no_token_is_refused(string content)
    {
        var path = Path.Combine(_folder, "api-token");
        File.WriteAllText(path, content);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var error = Assert.Throws<NodeConfigurationException>(() => ApiToken.LoadOrCreate(path));

        Assert.Contains("does not hold a token", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_token_written_by_hand_is_used_as_it_is()
    {
        var path = Path.Combine(_folder, "api-token");
        const string Token = "a-token-from-a-secret-store-0123456789";
        File.WriteAllText(path, Token + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead);

        var token = ApiToken.LoadOrCreate(path);

        Assert.False(token.Created);
        Assert.True(token.Matches("Bearer " + Token));
        Assert.True(token.Matches("bearer  " + Token + " "));
        Assert.False(token.Matches(Token));
        Assert.False(token.Matches("Bearer " + Token[..^1]));
        Assert.False(token.Matches("Bearer " + Token + "0"));
        Assert.False(token.Matches(null));
        Assert.False(token.Matches("Bearer " + new string('x', 1000)));
    }

    [Fact]
    public void A_token_file_that_cannot_be_created_names_the_setting()
    {
        var blocker = Path.Combine(_folder, "not-a-folder");
        File.WriteAllText(blocker, "x");

        var error = Assert.Throws<NodeConfigurationException>(() => ApiToken.LoadOrCreate(Path.Combine(blocker, "api-token")));

        Assert.StartsWith("replaycluster.coordinator.http.token-file: ", error.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
