using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using ReplayCluster.Configuration;

namespace ReplayCluster.Coordinator.Http;

/// <summary>
/// The HTTP API's bearer token: 32 random bytes (base64url, 43 characters) in a file only the coordinator's user
/// may read (mode 0600). The first start creates it; later starts reuse it, so the CLI and a Prometheus
/// <c>credentials_file</c> keep working across restarts. Rotation: replace or delete the file and restart.
/// </summary>
internal sealed class ApiToken
{
    /// <summary>Shorter tokens (a hand-written file) are refused: 32 characters of base64 are 192 bits.</summary>
    public const int MinimumLength = 32;

    private const UnixFileMode OthersMayAccess = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    private readonly byte[] _token;

    private ApiToken(string token) => _token = Encoding.ASCII.GetBytes(token);

    /// <summary>True when the file did not exist and this start created it.</summary>
    public bool Created { get; private init; }

    /// <summary>
    /// Reads the token from <paramref name="path"/>, or creates the file (and a missing folder, mode 0700) with a new
    /// token. Throws <see cref="NodeConfigurationException"/> naming the setting when the file cannot be used:
    /// unreadable, readable by group or others (as ssh refuses such a key), or not a token.
    /// </summary>
    public static ApiToken LoadOrCreate(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("the API token file relies on Unix file modes");
        }

        try
        {
            if (!File.Exists(path))
            {
                if (TryCreate(path) is { } created)
                {
                    return created;
                }
            }

            var mode = File.GetUnixFileMode(path);
            if ((mode & OthersMayAccess) != 0)
            {
                throw NodeConfigurationException.ForSetting(HttpApiSettings.TokenFileSetting,
                    $"'{path}' is accessible to other users (mode {Octal(mode)}): chmod 600 it, or delete it and a new token is made on start");
            }

            var token = File.ReadAllText(path).Trim();
            if (token.Length < MinimumLength || !token.All(IsTokenCharacter))
            {
                throw NodeConfigurationException.ForSetting(HttpApiSettings.TokenFileSetting,
                    $"'{path}' does not hold a token ({MinimumLength} or more characters of A-Z a-z 0-9 - . _ ~ + / =): delete it and a new one is made on start");
            }

            return new ApiToken(token);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw NodeConfigurationException.ForSetting(HttpApiSettings.TokenFileSetting, $"'{path}': {ex.Message}", ex);
        }
    }

    /// <summary>A new token (tests; <see cref="LoadOrCreate"/> makes the real one).</summary>
    public static string NewTokenText() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    /// <summary>
    /// Whether an <c>Authorization</c> header carries this token (scheme <c>Bearer</c>, any case). The comparison
    /// takes the same time wherever the first difference is, so timing does not reveal a prefix.
    /// </summary>
    public bool Matches(string? authorization)
    {
        const string Scheme = "Bearer ";
        if (authorization is null || !authorization.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var presented = authorization.AsSpan(Scheme.Length).Trim();
        if (presented.Length != _token.Length)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[256];
        return presented.Length <= bytes.Length
            && Encoding.ASCII.TryGetBytes(presented, bytes, out var written)
            && CryptographicOperations.FixedTimeEquals(bytes[..written], _token);
    }

    private static ApiToken? TryCreate(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("the API token file relies on Unix file modes");
        }

        if (Path.GetDirectoryName(path) is { Length: > 0 } folder && !Directory.Exists(folder))
        {
            Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var token = NewTokenText();
        try
        {
            // CreateNew (O_EXCL): never truncates a file another start just wrote, never follows a planted symlink.
            // The mode is set at creation, so the token is never readable by others, not even for a moment.
            using var file = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
            file.Write(Encoding.ASCII.GetBytes(token + "\n"));
            file.Flush(flushToDisk: true);
        }
        catch (IOException) when (File.Exists(path))
        {
            return null; // Another process created it first: read theirs.
        }

        return new ApiToken(token) { Created = true };
    }

    private static bool IsTokenCharacter(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~' or '+' or '/' or '=';

    private static string Octal(UnixFileMode mode) => "0" + Convert.ToString((int)mode, 8);
}
